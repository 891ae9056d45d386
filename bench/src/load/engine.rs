//! One generator thread: an open-loop schedule (call i starts at
//! `start + i / rate` whether or not earlier calls finished, and latency is
//! measured from that intended time, so a stalled generator cannot hide
//! queueing), the scenario state machines, RFC 3261 retransmissions, and
//! batched I/O over many connected sockets (one source port each, so the
//! proxy's SO_REUSEPORT shards all get traffic); receives with `recvmmsg`,
//! sends with `sendmmsg`, datagrams of one length together as UDP GSO sends
//! (`crate::gso`).
//!
//! Two ways to wait. Event mode (`tick` = None) sleeps in epoll until input,
//! the next start or the next timer: exact, but one wake-up per datagram or
//! two at the rates that matter. Tick mode sleeps a fixed period, drains
//! every ready socket, starts every call that fell due, fires due timers and
//! flushes all sends in one `sendmmsg` per socket: a few wake-ups per
//! millisecond however high the rate; while no call is in flight it skips
//! the empty ticks and sleeps straight to the next start. Latency stays exact in both: responses are timed by the
//! kernel's receive timestamp (SO_TIMESTAMPNS), requests from when they were
//! queued, which is right before the flush; the call's whole-scenario time
//! still runs from its intended start (the tick's delay counts, as it should
//! in an open loop, and shows as schedule lag).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use super::calls::{Phase, Slab};
use super::poller::Poller;
use super::requests::{write_request, Endpoints, RequestSpec};
use super::stats::{RunStats, Step};
use super::timers::{Fired, Timers};
use super::Scenario;
use crate::batch::{RecvBatch, SendBatch};
use crate::sip::callid::CallRef;
use crate::sip::digest::parse_challenge;
use crate::sip::respond::{reason, write_response, ResponseSpec};
use crate::sip::scan::{scan, Scanned};
use crate::sip::write::Out;
use crate::stream::Conn;
use crate::Transport;

/// Datagrams per `recvmmsg` / per socket send batch.
const BATCH: usize = 32;
/// Flow of the stateless answers to requests from the far side (kept in
/// order among themselves; calls use their slot as flow).
const ANSWERS_FLOW: u64 = u64::MAX;
/// Highest retransmission level for non-INVITE requests (T2 = 8·T1 = 4 s).
const NON_INVITE_MAX_LEVEL: usize = 3;

/// What one thread is asked to do.
#[derive(Debug, Clone)]
pub struct ThreadPlan {
    pub thread: u32,
    pub run: u32,
    pub scenario: Scenario,
    pub target: SocketAddr,
    pub local_ip: std::net::IpAddr,
    pub sockets: usize,
    /// Calls per second for this thread.
    pub rate: f64,
    /// Calls this thread starts.
    pub calls: u64,
    /// When call 0 is due.
    pub start: Instant,
    /// Latency of calls starting before this is not recorded.
    pub warmup_until: Instant,
    pub t1: Duration,
    pub user: String,
    pub password: String,
    pub cpu: Option<usize>,
    /// Tick mode: wake every period and drain (None: wake on every event).
    pub tick: Option<Duration>,
    /// UDP (one connected socket per source port) or TCP (one connection each).
    pub transport: Transport,
}

/// What a thread hands back.
pub struct ThreadResult {
    pub stats: RunStats,
    /// Receive-queue drops of this thread's sockets (/proc/net/udp).
    pub socket_drops: u64,
}

/// A source socket: a connected UDP socket or a TCP connection.
enum Io {
    Udp(UdpSocket),
    Tcp(Conn),
}

struct Sock {
    io: Io,
    port: u16,
    out: SendBatch,
}

/// Which request of a call to (re)send.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Req {
    Current,
    Ack2xx,
    AckNon2xx,
}

struct Engine {
    plan: ThreadPlan,
    target_text: Vec<u8>,
    local_text: Vec<u8>,
    sockets: Vec<Sock>,
    slab: Slab,
    timers: Timers,
    stats: RunStats,
    /// When this loop iteration began: what is queued now is sent right
    /// after, so transactions started now are timed from here.
    wall: Instant,
}

impl Sock {
    fn fd(&self) -> RawFd {
        match &self.io {
            Io::Udp(s) => s.as_raw_fd(),
            Io::Tcp(c) => c.stream.as_raw_fd(),
        }
    }

    /// Sends what is queued; counts what the kernel refused (datagrams, or 1
    /// when the TCP connection is gone) and the GSO sends.
    fn flush(&mut self, stats: &mut RunStats) {
        stats.send_errors += match &mut self.io {
            Io::Udp(s) => {
                let f = self.out.flush(s.as_raw_fd());
                stats.gso_sends += f.gso_sends as u64;
                stats.gso_datagrams += f.gso_datagrams as u64;
                f.failed as u64
            }
            Io::Tcp(c) => {
                self.out.drain_to(|bytes, _| c.queue(bytes));
                c.flush();
                u64::from(c.closed)
            }
        };
    }
}

/// Opens one source socket to `target`.
fn open(plan: &ThreadPlan) -> Result<(Io, u16), String> {
    match plan.transport {
        Transport::Udp => {
            let socket = UdpSocket::bind(SocketAddr::new(plan.local_ip, 0)).map_err(|e| format!("load: bind {}: {e}", plan.local_ip))?;
            socket
                .connect(plan.target)
                .map_err(|e| format!("load: connect {}: {e}", plan.target))?;
            crate::sockopt::set_buffers(&socket, crate::sockopt::BUFFER_BYTES);
            crate::sockopt::enable_rx_timestamps(&socket).map_err(|e| format!("load: SO_TIMESTAMPNS: {e}"))?;
            let port = socket.local_addr().map_err(|e| e.to_string())?.port();
            Ok((Io::Udp(socket), port))
        }
        Transport::Tcp => {
            let stream = std::net::TcpStream::connect(plan.target).map_err(|e| format!("load: tcp connect {}: {e}", plan.target))?;
            crate::sockopt::set_buffers(&stream, crate::sockopt::BUFFER_BYTES);
            let port = stream.local_addr().map_err(|e| e.to_string())?.port();
            let conn = Conn::new(stream).map_err(|e| format!("load: tcp {}: {e}", plan.target))?;
            Ok((Io::Tcp(conn), port))
        }
    }
}

fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; a failing
    // sched_setaffinity leaves the thread unpinned, which only costs accuracy.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

impl Engine {
    fn new(plan: ThreadPlan) -> Result<Self, String> {
        let mut sockets = Vec::with_capacity(plan.sockets);
        for _ in 0..plan.sockets {
            let (io, port) = open(&plan)?;
            sockets.push(Sock {
                io,
                port,
                out: SendBatch::new(BATCH),
            });
        }
        let in_flight = ((plan.rate * 2.0) as usize).clamp(64, 1 << 20);
        Ok(Engine {
            target_text: plan.target.to_string().into_bytes(),
            local_text: plan.local_ip.to_string().into_bytes(),
            sockets,
            slab: Slab::with_capacity(in_flight),
            timers: Timers::new(plan.t1, in_flight),
            stats: RunStats::default(),
            wall: plan.start,
            plan,
        })
    }

    fn call_ref(&self, slot: u32, generation: u32) -> CallRef {
        CallRef {
            slot,
            generation,
            thread: self.plan.thread,
            run: self.plan.run,
        }
    }

    /// Writes and queues a request of the call in `slot`.
    fn send(&mut self, slot: u32, which: Req) {
        let Some(call) = self.slab.get_mut(slot) else { return };
        let call = *call;
        let method: &[u8] = match (which, call.phase) {
            (Req::Ack2xx | Req::AckNon2xx, _) => b"ACK",
            (Req::Current, Phase::Request) => self.plan.scenario.request_method(),
            (Req::Current, Phase::Register | Phase::RegisterAuth) => b"REGISTER",
            (Req::Current, Phase::Invite) => b"INVITE",
            (Req::Current, Phase::Cancelling) => b"CANCEL",
            (Req::Current, Phase::Bye) => b"BYE",
            (Req::Current, Phase::Free | Phase::AwaitTerminated) => return,
        };
        let cref = self.call_ref(slot, call.generation);
        let challenge = call.challenge.view();
        let (user, password) = (self.plan.user.as_bytes(), self.plan.password.as_bytes());
        let cseq = if which == Req::AckNon2xx || call.phase == Phase::Cancelling {
            1
        } else {
            call.cseq
        };
        let has_tag = matches!(which, Req::Ack2xx | Req::AckNon2xx) || call.phase == Phase::Bye;
        // RFC 3261 §12.2.1.1: the ACK of the 2xx and the BYE follow the dialog's route.
        let in_dialog = which == Req::Ack2xx || (which == Req::Current && call.phase == Phase::Bye);
        let dialog = in_dialog
            .then(|| self.slab.route(slot))
            .flatten()
            .map(|r| (r.request_uri(), r.route()));
        let spec = RequestSpec {
            method,
            cseq,
            new_branch: which == Req::Ack2xx,
            to_tag: has_tag.then(|| call.to_tag.get()),
            body: match method {
                b"INVITE" => Some((&b"application/sdp"[..], crate::sip::SDP)),
                b"MESSAGE" => Some((&b"text/plain"[..], &b"sipshard-bench message body"[..])),
                _ => None,
            },
            auth: (call.phase == Phase::RegisterAuth && which == Req::Current).then_some((&challenge, user, password)),
            dialog,
        };
        let sock = &mut self.sockets[usize::from(call.socket)];
        if sock.out.is_full() {
            sock.flush(&mut self.stats);
        }
        let ep = Endpoints {
            local_ip: &self.local_text,
            local_port: sock.port,
            target: &self.target_text,
            transport: match self.plan.transport {
                Transport::Udp => b"UDP",
                Transport::Tcp => b"TCP",
            },
        };
        let mut w = Out::new(sock.out.slot());
        if write_request(&mut w, &ep, &cref, &spec).is_err() {
            self.stats.send_errors += 1;
            return;
        }
        let len = w.len();
        // One flow per call: its ACK stays ahead of its BYE.
        sock.out.commit(len, None, u64::from(slot));
        self.stats.messages_sent += 1;
    }

    /// Starts a new client transaction for the call's current request.
    fn begin_transaction(&mut self, slot: u32, now: Instant, retransmit: bool) {
        let Some(call) = self.slab.get_mut(slot) else { return };
        call.transaction = call.transaction.wrapping_add(1);
        call.tx_start = now;
        call.retransmitting = retransmit;
        let (generation, tx) = (call.generation, call.transaction);
        // RFC 3261 §17.1.1.2 / §17.1.2.2: timers A and E only on unreliable transports.
        if retransmit && self.plan.transport == Transport::Udp {
            self.timers.arm_retransmit(now, 0, slot, generation, tx);
        }
        self.timers.arm_timeout(now, slot, generation, tx);
        if retransmit {
            self.send(slot, Req::Current);
        }
    }

    fn start_call(&mut self, socket: u16, intended: Instant, now: Instant) {
        let slot = self.slab.allocate(now);
        let phase = self.plan.scenario.first_phase();
        let measured = intended >= self.plan.warmup_until;
        let call = self.slab.get_mut(slot).expect("just allocated");
        call.socket = socket;
        call.phase = phase;
        call.started = intended;
        call.invite_start = intended;
        call.got_ringing = false;
        call.cancel_ok = false;
        call.measured = measured;
        call.cseq = 1;
        call.to_tag.set(b"");
        self.stats.started += 1;
        let lag = now.saturating_duration_since(intended);
        self.stats.schedule_lag.saturating_record(lag.as_micros().max(1) as u64);
        self.begin_transaction(slot, now, true);
        // The first transaction is timed from the intended start.
        if let Some(c) = self.slab.get_mut(slot) {
            c.tx_start = intended;
        }
    }

    fn finish(&mut self, slot: u32, outcome: Option<u16>) {
        match outcome {
            None => self.stats.completed += 1,
            Some(code) => self.stats.failed_by_status[usize::from(code).min(699)] += 1,
        }
        self.slab.release(slot);
    }

    fn record(&mut self, measured: bool, step: Step, since: Instant, now: Instant) {
        if measured {
            self.stats.record(step, now.saturating_duration_since(since).as_micros() as u64);
        }
    }

    /// Answers a request from the far side statelessly (200; ACK absorbed).
    fn answer_request(&mut self, msg: &Scanned<'_>, socket: usize) {
        if msg.method() == Some(b"ACK") {
            return;
        }
        self.stats.requests_answered += 1;
        let sock = &mut self.sockets[socket];
        if sock.out.is_full() {
            sock.flush(&mut self.stats);
        }
        let spec = ResponseSpec {
            code: 200,
            reason: reason(200),
            to_tag: b"gen",
            contact: &self.local_text,
            dialog: false,
            body: None,
        };
        let mut w = Out::new(sock.out.slot());
        if write_response(&mut w, msg, &spec).is_ok() {
            let len = w.len();
            sock.out.commit(len, None, ANSWERS_FLOW);
            self.stats.messages_sent += 1;
        }
    }

    fn on_datagram(&mut self, bytes: &[u8], socket: usize, now: Instant) {
        self.stats.messages_received += 1;
        let Ok(msg) = scan(bytes) else {
            self.stats.unparsable += 1;
            return;
        };
        let Some(code) = msg.status() else {
            self.answer_request(&msg, socket);
            return;
        };
        let Some(cref) = CallRef::parse(msg.call_id) else {
            self.stats.stray += 1;
            return;
        };
        if cref.thread != self.plan.thread || cref.run != self.plan.run {
            self.stats.stray += 1;
            return;
        }
        let Some(call) = self.slab.get_mut(cref.slot) else {
            self.stats.stray += 1;
            return;
        };
        if call.generation != cref.generation || call.phase == Phase::Free {
            self.stats.duplicate_responses += 1;
            return;
        }
        self.on_response(cref.slot, &msg, code, now);
    }

    fn on_response(&mut self, slot: u32, msg: &Scanned<'_>, code: u16, now: Instant) {
        let call = *self.slab.get_mut(slot).expect("checked by caller");
        let method = msg.cseq_method;
        let is_final = code >= 200;
        let ok = (200..300).contains(&code);
        match (call.phase, method) {
            (Phase::Request, m) if m == self.plan.scenario.request_method() => {
                if is_final {
                    self.record(call.measured, Step::Request, call.tx_start, now);
                    self.record(call.measured, Step::Whole, call.started, now);
                    self.finish(slot, (!ok).then_some(code));
                }
            }
            (Phase::Register, b"REGISTER") if msg.cseq == 1 => {
                if code == 401 || code == 407 {
                    self.record(call.measured, Step::Register, call.tx_start, now);
                    let stored = msg.challenge.and_then(|c| parse_challenge(c).ok()).map(|c| {
                        let entry = self.slab.get_mut(slot).expect("live");
                        entry.challenge.store(&c)
                    });
                    if stored != Some(true) {
                        self.finish(slot, Some(code));
                        return;
                    }
                    let entry = self.slab.get_mut(slot).expect("live");
                    entry.phase = Phase::RegisterAuth;
                    entry.cseq = 2;
                    self.begin_transaction(slot, self.wall, true);
                } else if is_final {
                    self.record(call.measured, Step::Register, call.tx_start, now);
                    self.record(call.measured, Step::Whole, call.started, now);
                    self.finish(slot, (!ok).then_some(code));
                }
            }
            (Phase::RegisterAuth, b"REGISTER") if msg.cseq == 2 => {
                if is_final {
                    self.record(call.measured, Step::RegisterAuth, call.tx_start, now);
                    self.record(call.measured, Step::Whole, call.started, now);
                    self.finish(slot, (!ok).then_some(code));
                }
            }
            (Phase::Register | Phase::RegisterAuth, b"REGISTER") => self.stats.duplicate_responses += 1,
            (Phase::Invite | Phase::Cancelling | Phase::AwaitTerminated, b"INVITE") => self.on_invite_response(slot, msg, code, now),
            (Phase::Cancelling, b"CANCEL") => {
                if is_final {
                    self.record(call.measured, Step::CancelOk, call.tx_start, now);
                    let entry = self.slab.get_mut(slot).expect("live");
                    entry.cancel_ok = true;
                    entry.phase = Phase::AwaitTerminated;
                    self.begin_transaction(slot, self.wall, false);
                }
            }
            (Phase::AwaitTerminated | Phase::Bye, b"CANCEL") => self.stats.duplicate_responses += 1,
            (Phase::Bye, b"BYE") => {
                if is_final {
                    self.record(call.measured, Step::ByeOk, call.tx_start, now);
                    self.record(call.measured, Step::Whole, call.started, now);
                    self.finish(slot, (!ok).then_some(code));
                }
            }
            (Phase::Bye, b"INVITE") => {
                if ok {
                    // The UAS retransmitted its 200: our ACK may be lost.
                    self.stats.duplicate_responses += 1;
                    self.send(slot, Req::Ack2xx);
                } else {
                    self.stats.unexpected += 1;
                }
            }
            _ => self.stats.unexpected += 1,
        }
    }

    fn on_invite_response(&mut self, slot: u32, msg: &Scanned<'_>, code: u16, now: Instant) {
        let call = *self.slab.get_mut(slot).expect("live");
        if code < 200 {
            let entry = self.slab.get_mut(slot).expect("live");
            if call.phase == Phase::Invite {
                entry.retransmitting = false;
            }
            if (180..200).contains(&code) && !call.got_ringing {
                entry.got_ringing = true;
                self.record(call.measured, Step::InviteRinging, call.invite_start, now);
                if self.plan.scenario == Scenario::CallCancel && call.phase == Phase::Invite {
                    let entry = self.slab.get_mut(slot).expect("live");
                    entry.phase = Phase::Cancelling;
                    self.begin_transaction(slot, self.wall, true);
                }
            } else if call.phase != Phase::Invite || code == 100 && call.got_ringing {
                self.stats.duplicate_responses += 1;
            }
            return;
        }
        let entry = self.slab.get_mut(slot).expect("live");
        entry.to_tag.set(msg.to_tag.unwrap_or_default());
        if (200..300).contains(&code) {
            self.record(call.measured, Step::InviteOk, call.invite_start, now);
            let route = self.slab.route_mut(slot).expect("live").set_from_2xx(msg);
            if route.is_err() {
                // No usable Contact / Record-Route: the dialog cannot go on.
                self.stats.bad_dialogs += 1;
                self.slab.release(slot);
                return;
            }
            if call.phase != Phase::Invite {
                self.stats.cancel_too_late += 1;
            }
            self.send(slot, Req::Ack2xx);
            let entry = self.slab.get_mut(slot).expect("live");
            entry.phase = Phase::Bye;
            entry.cseq = 2;
            self.begin_transaction(slot, self.wall, true);
            return;
        }
        self.send(slot, Req::AckNon2xx);
        if code == 487 && call.phase != Phase::Invite {
            self.record(call.measured, Step::InviteTerminated, call.invite_start, now);
            self.record(call.measured, Step::Whole, call.started, now);
            self.finish(slot, None);
        } else {
            self.finish(slot, Some(code));
        }
    }

    fn on_timer(&mut self, fired: Fired, now: Instant) {
        let (entry, level) = match fired {
            Fired::Retransmit { entry, level } => (entry, Some(level)),
            Fired::Timeout(entry) => (entry, None),
        };
        let Some(call) = self.slab.get_mut(entry.slot) else { return };
        if call.generation != entry.generation || call.transaction != entry.transaction || call.phase == Phase::Free {
            return;
        }
        match level {
            None => {
                self.stats.timed_out += 1;
                self.slab.release(entry.slot);
            }
            Some(level) => {
                if !call.retransmitting {
                    return;
                }
                let max = if call.phase == Phase::Invite {
                    usize::MAX
                } else {
                    NON_INVITE_MAX_LEVEL
                };
                let (generation, tx) = (call.generation, call.transaction);
                self.stats.retransmissions += 1;
                self.send(entry.slot, Req::Current);
                self.timers.arm_retransmit(now, (level + 1).min(max), entry.slot, generation, tx);
            }
        }
    }

    fn flush_all(&mut self) {
        for s in &mut self.sockets {
            if !s.out.is_empty() {
                s.flush(&mut self.stats);
            }
        }
    }

    fn run(mut self) -> Result<ThreadResult, String> {
        if let Some(cpu) = self.plan.cpu {
            pin(cpu);
        }
        let mut poller = Poller::new(self.sockets.len()).map_err(|e| format!("load: epoll: {e}"))?;
        for (i, s) in self.sockets.iter().enumerate() {
            poller.add(s.fd(), i as u64).map_err(|e| format!("load: epoll_ctl: {e}"))?;
        }
        let mut recv = RecvBatch::new(BATCH);
        let mut scratch: Vec<u8> = Vec::with_capacity(crate::batch::MAX_DATAGRAM);
        let interval = Duration::from_secs_f64(1.0 / self.plan.rate.max(1e-9));
        let mut next_index = 0u64;
        let drain_limit = self.plan.t1 * 64 + Duration::from_secs(1);
        let mut all_started_at: Option<Instant> = None;
        let mut next_tick = self.plan.start;
        let mut iteration = 0u64;
        loop {
            let now = Instant::now();
            self.wall = now;
            iteration += 1;
            while next_index < self.plan.calls {
                let intended = self.plan.start + interval.mul_f64(next_index as f64);
                if intended > now {
                    break;
                }
                // Tick mode: the calls of one tick share a socket (the next
                // tick's take the next one), so their INVITEs, and later
                // their ACKs and BYEs, leave as GSO sends of several
                // datagrams; event mode spreads call by call.
                let spread = if self.plan.tick.is_some() { iteration } else { next_index };
                self.start_call((spread % self.sockets.len() as u64) as u16, intended, now);
                next_index += 1;
            }
            while let Some(fired) = self.timers.pop_due(now) {
                self.on_timer(fired, now);
            }
            // Tick mode: this one flush per tick sends the starts and timers
            // of now and the answers queued while draining after the last
            // sleep (one sendmmsg per socket per tick, not two).
            self.flush_all();
            if next_index == self.plan.calls {
                let since = *all_started_at.get_or_insert(now);
                if self.slab.live() == 0 || now.duration_since(since) > drain_limit {
                    self.stats.timed_out += self.slab.live() as u64;
                    break;
                }
            }
            let ready = match self.plan.tick {
                Some(tick) if self.slab.live() == 0 => {
                    // Nothing in flight, so no answer is due: skip the empty
                    // ticks and sleep to the next start or timer, woken
                    // early only by a datagram (a request from the far
                    // side). At low rates most ticks are empty, and on
                    // this kind of VM each wake-up costs ~17 µs.
                    let next_start = (next_index < self.plan.calls).then(|| self.plan.start + interval.mul_f64(next_index as f64));
                    let due = [next_start, self.timers.next_due()].into_iter().flatten().min();
                    let before_sleep = Instant::now();
                    let wait = due.map_or(tick, |d| d.saturating_duration_since(before_sleep));
                    let ready = poller.wait(wait);
                    next_tick = Instant::now();
                    ready
                }
                Some(tick) => {
                    // Sleep to the next tick whatever arrives meanwhile; a
                    // late wake-up skips the ticks it missed.
                    next_tick += tick;
                    let before_sleep = Instant::now();
                    if next_tick > before_sleep {
                        std::thread::sleep(next_tick - before_sleep);
                    } else {
                        next_tick = before_sleep;
                    }
                    poller.wait(Duration::ZERO)
                }
                None => {
                    let next_start = (next_index < self.plan.calls).then(|| self.plan.start + interval.mul_f64(next_index as f64));
                    let deadline = match (next_start, self.timers.next_due()) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    poller.wait(deadline.map_or(Duration::from_millis(100), |d| d.saturating_duration_since(now)))
                }
            };
            self.stats.wakeups += 1;
            self.wall = Instant::now();
            let clock = Clock::now(self.wall);
            for r in 0..ready {
                let i = poller.token(r) as usize;
                if let Io::Tcp(c) = &mut self.sockets[i].io {
                    // TCP: no kernel timestamps per message; timed by this wake-up.
                    c.fill();
                    loop {
                        scratch.clear();
                        let Io::Tcp(c) = &mut self.sockets[i].io else { break };
                        let Some(msg) = c.next_message() else { break };
                        scratch.extend_from_slice(msg);
                        self.on_datagram(&scratch, i, self.wall);
                    }
                    continue;
                }
                let fd = self.sockets[i].fd();
                loop {
                    let got = recv.recv(fd).unwrap_or(0);
                    for k in 0..got {
                        let arrived = recv.arrival(k).map_or(self.wall, |t| clock.instant_of(t));
                        let (bytes, _) = recv.get(k);
                        self.on_datagram(bytes, i, arrived);
                    }
                    if got < BATCH {
                        break;
                    }
                }
            }
            if self.plan.tick.is_none() {
                self.flush_all();
            }
        }
        let ports: Vec<u16> = self.sockets.iter().filter(|s| matches!(s.io, Io::Udp(_))).map(|s| s.port).collect();
        let socket_drops = crate::sockopt::udp_drops(&ports);
        Ok(ThreadResult {
            stats: self.stats,
            socket_drops,
        })
    }
}

/// Maps kernel receive timestamps (CLOCK_REALTIME) onto `Instant`s: both
/// clocks read once per batch; a datagram that arrived `d` before the
/// realtime reading arrived `d` before the monotonic one.
struct Clock {
    instant: Instant,
    real: Duration,
}

impl Clock {
    fn now(instant: Instant) -> Clock {
        let real = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Clock { instant, real }
    }

    fn instant_of(&self, arrival: Duration) -> Instant {
        self.real
            .checked_sub(arrival)
            .and_then(|ago| self.instant.checked_sub(ago))
            .unwrap_or(self.instant)
    }
}

/// Runs one generator thread to completion.
pub fn run_thread(plan: ThreadPlan) -> Result<ThreadResult, String> {
    Engine::new(plan)?.run()
}
