//! One shard: its sockets, its connections, its routing state, and the
//! path every received message takes (parse → route → send).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use futures_lite::StreamExt;
use glommio::channels::channel_mesh::{MeshBuilder, Senders};
use glommio::channels::local_channel::LocalSender;
use glommio::net::UdpSocket;
use sipshard_core::proxy::reply_to_malformed;
use sipshard_core::route_io::RouteEnv;
use sipshard_core::route_io::{level, ConnId, Inbound, LocalSocket, Outbound, Router, TmReply};
use sipshard_core::sip::Message;
use sipshard_core::tm::proxy::{Output, TxId};
use sipshard_core::tm::table::{RequestMatch, ResponseMatch, Table};
use sipshard_core::tm::timers::{coalesce, TICK_MS};
use sipshard_core::transport::Transport;

use crate::conn_index::ConnIndex;
use crate::env::{Outbox, ShardEnv};
use crate::logger::Logger;
use crate::mesh::CrossShard;
use crate::metrics::{DropReason, ShardStats, StatsSet};
use crate::own_ports::{OwnPort, OwnSockets};
use crate::resolve::Resolver;
use crate::server::{RunError, ServerConfig};
use crate::{sockets, tcp, udp};

/// A stream connection this shard owns: where to queue bytes for it.
pub struct ConnHandle {
    pub proto: Transport,
    pub peer: SocketAddr,
    pub tx: Rc<LocalSender<Vec<u8>>>,
}

/// Branches waiting on a stream connect, by transport and peer.
type Connecting = HashMap<(Transport, SocketAddr), Vec<(TxId, u8)>>;

/// Everything one shard owns. Lives in an `Rc` on its executor.
pub struct Shard<R: Router> {
    pub id: usize,
    pub cfg: Arc<ServerConfig>,
    pub router: Arc<R>,
    pub state: RefCell<R::ShardState>,
    pub logger: Logger,
    pub resolver: RefCell<Resolver>,
    /// The `listen=` sockets as the router sees them (for Via/Record-Route).
    pub locals: Vec<LocalSocket>,
    pub udp: Vec<(SocketAddr, Rc<UdpSocket>)>,
    /// This shard's own UDP sockets (several shards only): requests it
    /// relays leave from these ([`crate::own_ports`]).
    pub own_ports: Vec<OwnPort>,
    /// Every shard's own sockets, to recognise our Via on any of them.
    pub all_own_ports: Arc<[LocalSocket]>,
    pub conns: RefCell<HashMap<u64, ConnHandle>>,
    pub by_peer: RefCell<HashMap<(Transport, SocketAddr), u64>>,
    pub next_conn: Cell<u64>,
    pub index: Arc<ConnIndex>,
    pub mesh: Senders<CrossShard>,
    /// Messages for other shards dropped because their channel was full.
    pub mesh_drops: Cell<u64>,
    /// Every shard's counters; this one writes only its own ([`Shard::stats`]).
    pub stats_set: StatsSet,
    /// The transaction table (`tm` loaded), this shard's alone.
    pub tm: Option<RefCell<Table>>,
    /// Zero of the shard's millisecond clock.
    pub epoch: std::time::Instant,
    /// Wakes the timer task when an earlier deadline appears.
    tm_wake: Option<LocalSender<()>>,
    /// The deadline the timer task sleeps until.
    tm_armed: Cell<Option<u64>>,
    /// Transaction branches sent on a stream connection still being opened:
    /// a failed connect fails them at once (503, §16.9).
    tm_connecting: RefCell<Connecting>,
}

impl<R: Router + 'static> Shard<R> {
    /// Binds this shard's sockets, reports readiness, then serves forever.
    #[allow(clippy::too_many_arguments)]
    pub async fn serve(
        cfg: Arc<ServerConfig>,
        router: Arc<R>,
        index: Arc<ConnIndex>,
        mesh: MeshBuilder<CrossShard, glommio::channels::channel_mesh::Full>,
        logger: Logger,
        stats_set: StatsSet,
        own: OwnSockets,
        ready: crossbeam::channel::Sender<Result<(), RunError>>,
    ) -> Result<(), RunError> {
        let (senders, mut receivers) = mesh
            .join()
            .await
            .map_err(|_| RunError::Shard("mesh join failed".into()))?;
        let id = senders.peer_id();
        let mut udp_socks = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut locals = Vec::new();
        for l in &cfg.listen {
            let bound = match l.proto {
                Transport::Udp => sockets::bind_udp(l.addr, cfg.udp_rcvbuf)
                    .map(|s| udp_socks.push((l.addr, Rc::new(s)))),
                Transport::Tcp => {
                    sockets::bind_tcp(l.addr).map(|s| tcp_listeners.push((l.addr, s)))
                }
                other => Err(std::io::Error::other(format!(
                    "transport {other} is not supported yet"
                ))),
            };
            if let Err(error) = bound {
                let e = RunError::Bind {
                    proto: l.proto,
                    addr: l.addr,
                    error,
                };
                let _ = ready.send(Err(RunError::Shard(e.to_string())));
                return Err(e);
            }
            let (host, port) = match &l.advertise {
                Some((h, p)) => (h.clone(), *p),
                None => (l.addr.ip().to_string(), l.addr.port()),
            };
            locals.push(LocalSocket {
                proto: l.proto,
                addr: l.addr,
                advertise_host: host.into(),
                advertise_port: port,
            });
        }
        let mut own_ports = Vec::new();
        for (listen, sock) in own.sockets {
            let Ok(addr) = sock.local_addr() else {
                continue;
            };
            udp_socks.push((addr, Rc::new(sockets::into_glommio(sock))));
            own_ports.push(OwnPort {
                listen,
                local: crate::own_ports::local_socket(addr),
            });
        }
        let tm_cfg = shard_tm_config(&*router, id);
        let (tm_wake, tm_wakeups) = match tm_cfg.is_some() {
            true => {
                let (tx, rx) = glommio::channels::local_channel::new_bounded(1);
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        let shard = Rc::new(Shard {
            tm: tm_cfg.map(|c| RefCell::new(Table::new(id as u16, c))),
            epoch: std::time::Instant::now(),
            tm_wake,
            tm_armed: Cell::new(None),
            tm_connecting: RefCell::new(HashMap::new()),
            id,
            state: RefCell::new(router.new_shard_state(id)),
            cfg: Arc::clone(&cfg),
            router,
            logger,
            resolver: RefCell::new(Resolver::default()),
            locals,
            udp: udp_socks.clone(),
            own_ports,
            all_own_ports: own.all,
            conns: RefCell::new(HashMap::new()),
            by_peer: RefCell::new(HashMap::new()),
            next_conn: Cell::new(1),
            index,
            mesh: senders,
            mesh_drops: Cell::new(0),
            stats_set,
        });
        let _ = ready.send(Ok(()));

        let mut tasks = Vec::new();
        for (_, stream) in receivers.streams() {
            let shard = Rc::clone(&shard);
            tasks.push(glommio::spawn_local(async move {
                let mut stream = stream;
                while let Some(m) = stream.next().await {
                    match m {
                        CrossShard::Send(out) => shard.send_stream(out).await,
                        CrossShard::Response { bytes, inb } => shard.handle(&bytes, inb).await,
                    }
                }
            }));
        }
        if let Some(rx) = tm_wakeups {
            tasks.push(glommio::spawn_local(tm_timers(Rc::clone(&shard), rx)));
        }
        for (addr, sock) in udp_socks {
            tasks.push(glommio::spawn_local(udp::serve(
                Rc::clone(&shard),
                addr,
                sock,
            )));
        }
        for (addr, listener) in tcp_listeners {
            tasks.push(glommio::spawn_local(tcp::accept_loop(
                Rc::clone(&shard),
                addr,
                listener,
            )));
        }
        for t in tasks {
            t.await;
        }
        Ok(())
    }

    /// Parses one message and runs the router on it, then sends what the
    /// router produced. Malformed requests get a 400 with the reason when a
    /// reply can be routed.
    pub async fn handle(self: &Rc<Self>, bytes: &[u8], inb: Inbound) {
        self.stats().received(bytes);
        let mut tm_out = Vec::new();
        let outs = match Message::parse(bytes.to_vec()) {
            Ok(msg) => {
                if let Some(tm) = &self.tm {
                    let now = self.now_ms();
                    // None: not ours, route it; Some(None): absorbed;
                    // Some(Some(s)): shard s owns the transaction.
                    // `script_reply`: ours, but reply routes run first.
                    let mut script_reply = None;
                    let taken = {
                        let mut table = tm.borrow_mut();
                        if msg.is_request() {
                            (table.on_request(now, &msg, inb.src, inb.proto, &mut tm_out)
                                != RequestMatch::NoMatch)
                                .then_some(None)
                        } else if self.router.has_tm_reply_routes() {
                            match table.match_response(&msg) {
                                Ok(m) => {
                                    script_reply = Some(m);
                                    Some(None)
                                }
                                Err(ResponseMatch::OtherShard(s)) => Some(Some(s as usize)),
                                Err(_) => None,
                            }
                        } else {
                            match table.on_response(now, &msg, inb.src, &mut tm_out) {
                                ResponseMatch::Handled(_) => Some(None),
                                ResponseMatch::OtherShard(s) => Some(Some(s as usize)),
                                ResponseMatch::NoMatch => None,
                            }
                        }
                    };
                    match taken {
                        None => {}
                        Some(Some(s)) => {
                            self.hand_over_response(s, bytes, inb);
                            return;
                        }
                        Some(None) => {
                            if let Some((tx, n)) = script_reply {
                                let mut env = ShardEnv::new(self).with_message(bytes);
                                let verdict = {
                                    let mut state = self.state.borrow_mut();
                                    self.router
                                        .on_tm_reply(tx, n, &msg, &inb, &mut env, &mut state)
                                };
                                let (outbox, more) = env.into_parts();
                                tm_out.extend(more);
                                for out in outbox {
                                    self.send(out).await;
                                }
                                let taken = match &verdict {
                                    TmReply::Keep => Some(&msg),
                                    TmReply::Edited(m) => Some(&**m),
                                    TmReply::Drop => None,
                                };
                                if let Some(m) = taken {
                                    tm.borrow_mut().on_response(
                                        self.now_ms(),
                                        m,
                                        inb.src,
                                        &mut tm_out,
                                    );
                                }
                            }
                            self.tm_outputs(tm_out).await;
                            return;
                        }
                    }
                }
                let started = self.stats().route_started();
                let mut env = ShardEnv::new(self).with_message(bytes);
                let mut state = self.state.borrow_mut();
                if msg.is_request() {
                    self.router.on_request(msg, &inb, &mut env, &mut state);
                } else {
                    self.router.on_reply(msg, &inb, &mut env, &mut state);
                }
                self.stats().route_done(started);
                let (outbox, more) = env.into_parts();
                tm_out = more;
                outbox
            }
            Err(err) => {
                self.stats().parse_errors.inc();
                if self.logger.enabled(level::INFO) {
                    self.logger.log(
                        level::INFO,
                        Some(self.id),
                        &format!(
                            "malformed message from {}:{}: {}",
                            inb.proto,
                            inb.src,
                            err.reason()
                        ),
                    );
                }
                let mut outs = Outbox::new();
                if let Some(reply) = reply_to_malformed(bytes, err, inb.src) {
                    outs.push(Outbound {
                        proto: inb.proto,
                        local: inb.local,
                        dst: inb.src,
                        conn: inb.conn,
                        bytes: reply,
                    });
                }
                outs
            }
        };
        for out in outs {
            self.send(out).await;
        }
        if self.tm.is_some() {
            self.tm_outputs(tm_out).await;
        }
    }

    /// Milliseconds on this shard's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A response whose branch names shard `to`: over the mesh, as received.
    fn hand_over_response(&self, to: usize, bytes: &[u8], inb: Inbound) {
        let m = CrossShard::Response {
            bytes: bytes.to_vec(),
            inb,
        };
        if self.mesh.try_send_to(to, m).is_err() {
            self.mesh_drops.set(self.mesh_drops.get() + 1);
            self.stats().dropped(DropReason::MeshFull);
        } else {
            self.stats().handoffs.inc();
        }
    }

    /// Carries out what the transaction table put out: sends, and
    /// `failure_route` runs (whose own outputs join the queue). Then makes
    /// sure the timer task wakes for the earliest deadline.
    pub async fn tm_outputs(self: &Rc<Self>, outs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outs.into();
        while let Some(o) = queue.pop_front() {
            match o {
                Output::Send { dst, bytes, branch } => {
                    let out = {
                        let mut env = ShardEnv::new(self);
                        // Requests (branches, CANCEL, ACK) leave from the
                        // socket our Via names; replies from the shared one.
                        let request = !bytes.starts_with(b"SIP/2.0 ");
                        env.resolve(&dst.host, Some(dst.port), dst.transport)
                            .and_then(|a| {
                                let local = match request {
                                    true => env.local_for_request(a, dst.transport),
                                    false => env.local_for(a, dst.transport),
                                };
                                local.map(|l| Outbound {
                                    proto: dst.transport,
                                    local: l.addr,
                                    dst: a,
                                    conn: None,
                                    bytes: bytes.to_vec(),
                                })
                            })
                    };
                    match out {
                        Some(out) => {
                            if let (Some(b), true) = (branch, out.proto.is_stream()) {
                                let key = (out.proto, out.dst);
                                let opening = self.index.get(out.proto, out.dst).is_none()
                                    || self.tm_connecting.borrow().contains_key(&key);
                                if opening {
                                    self.tm_connecting
                                        .borrow_mut()
                                        .entry(key)
                                        .or_default()
                                        .push(b);
                                }
                            }
                            self.send(out).await
                        }
                        None => {
                            if let (Some((tx, n)), Some(tm)) = (branch, &self.tm) {
                                let mut more = Vec::new();
                                tm.borrow_mut().branch_transport_error(
                                    self.now_ms(),
                                    tx,
                                    n,
                                    &mut more,
                                );
                                queue.extend(more);
                            }
                            self.stats().dropped(DropReason::NoRoute);
                            if self.logger.enabled(level::WARN) {
                                self.logger.log(
                                    level::WARN,
                                    Some(self.id),
                                    &format!(
                                        "tm: cannot send to {}:{}:{}",
                                        dst.transport, dst.host, dst.port
                                    ),
                                );
                            }
                        }
                    }
                }
                Output::Failure { tx, code } => {
                    let (outbox, more) = {
                        let mut env = ShardEnv::new(self);
                        let mut state = self.state.borrow_mut();
                        self.router.on_failure(tx, code, &mut env, &mut state);
                        if let Some(tm) = env.tm() {
                            let _ = tm.table.failure_done(tm.now, tx, tm.out);
                        }
                        env.into_parts()
                    };
                    for out in outbox {
                        self.send(out).await;
                    }
                    queue.extend(more);
                }
            }
        }
        self.kick_tm_timer();
        self.publish_tm_stats();
    }

    /// A stream connection this shard opened to `dst` is up (`ok`) or could
    /// not be opened: in the latter case the transaction branches sent on it
    /// fail now with 503 instead of at their timeout.
    pub async fn tm_connect_result(self: &Rc<Self>, proto: Transport, dst: SocketAddr, ok: bool) {
        let Some(pending) = self.tm_connecting.borrow_mut().remove(&(proto, dst)) else {
            return;
        };
        let Some(tm) = &self.tm else {
            return;
        };
        if ok {
            return;
        }
        let mut out = Vec::new();
        {
            let mut table = tm.borrow_mut();
            for (tx, n) in pending {
                table.branch_transport_error(self.now_ms(), tx, n, &mut out);
            }
        }
        self.tm_outputs(out).await;
    }

    /// Wakes the timer task when the table's next deadline is earlier than
    /// the one it sleeps until.
    fn kick_tm_timer(&self) {
        let (Some(tm), Some(wake)) = (&self.tm, &self.tm_wake) else {
            return;
        };
        let Some(next) = tm.borrow().next_deadline() else {
            return;
        };
        let next = coalesce(next, tm_tick_ms());
        if self.tm_armed.get().is_none_or(|armed| next < armed) {
            self.tm_armed.set(Some(next));
            let _ = wake.try_send(());
        }
    }

    /// Puts one message on the wire from this shard, or hands it to the
    /// shard that owns its connection.
    pub async fn send(self: &Rc<Self>, out: Outbound) {
        match out.proto {
            Transport::Udp => self.send_udp(out).await,
            _ => {
                let owner = out
                    .conn
                    .filter(|c| {
                        self.index.get(out.proto, out.dst) == Some(*c)
                            || c.shard as usize != self.id
                    })
                    .or_else(|| self.index.get(out.proto, out.dst));
                match owner {
                    Some(c) if c.shard as usize != self.id => {
                        if self
                            .mesh
                            .try_send_to(c.shard as usize, CrossShard::Send(out))
                            .is_err()
                        {
                            self.mesh_drops.set(self.mesh_drops.get() + 1);
                            self.stats().dropped(DropReason::MeshFull);
                        } else {
                            self.stats().handoffs.inc();
                        }
                    }
                    _ => self.send_stream(out).await,
                }
            }
        }
    }

    async fn send_udp(&self, out: Outbound) {
        let sock = self.udp.iter().find(|(a, _)| *a == out.local).or_else(|| {
            self.udp
                .iter()
                .find(|(a, _)| a.is_ipv6() == out.dst.is_ipv6())
        });
        match sock {
            Some((_, s)) => {
                if let Err(e) = crate::udp_io::send_to(s, &out.bytes, out.dst).await {
                    self.stats().dropped(DropReason::SendError);
                    if self.logger.enabled(level::WARN) {
                        self.logger.log(
                            level::WARN,
                            Some(self.id),
                            &format!("udp send to {} failed: {e}", out.dst),
                        );
                    }
                } else {
                    self.stats().sent(&out.bytes);
                }
            }
            None => {
                self.stats().dropped(DropReason::NoRoute);
                self.logger.log(
                    level::ERR,
                    Some(self.id),
                    &format!("no udp socket to send to {} from", out.dst),
                )
            }
        }
    }

    /// Sends on a stream connection this shard owns, opening one to the
    /// destination if there is none.
    pub async fn send_stream(self: &Rc<Self>, out: Outbound) {
        let existing = out
            .conn
            .filter(|c| c.shard as usize == self.id)
            .map(|c| c.id)
            .filter(|id| self.conns.borrow().contains_key(id))
            .or_else(|| self.by_peer.borrow().get(&(out.proto, out.dst)).copied());
        let tx = existing.and_then(|id| self.conns.borrow().get(&id).map(|c| Rc::clone(&c.tx)));
        let tx = match tx {
            Some(tx) => tx,
            None => match tcp::connect(self, out.proto, out.local, out.dst) {
                Some(tx) => tx,
                None => {
                    self.stats().dropped(DropReason::NoRoute);
                    return;
                }
            },
        };
        let stats = self.stats();
        let kind = crate::metrics::classify(&out.bytes);
        if tx.try_send(out.bytes).is_ok() {
            stats.sent_kind(kind);
            return;
        }
        stats.dropped(DropReason::Congested);
        if self.logger.enabled(level::WARN) {
            self.logger.log(
                level::WARN,
                Some(self.id),
                &format!("connection to {} is congested; message dropped", out.dst),
            );
        }
    }

    /// Registers a connection this shard now owns.
    pub fn add_conn(
        &self,
        proto: Transport,
        peer: SocketAddr,
        tx: Rc<LocalSender<Vec<u8>>>,
    ) -> ConnId {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        self.conns
            .borrow_mut()
            .insert(id, ConnHandle { proto, peer, tx });
        self.by_peer.borrow_mut().insert((proto, peer), id);
        self.stats().tcp_connections.set(self.conn_count() as u64);
        let cid = ConnId {
            shard: self.id as u16,
            id,
        };
        self.index.insert(proto, peer, cid);
        cid
    }

    /// Forgets a closed connection.
    pub fn remove_conn(&self, cid: ConnId) {
        if let Some(c) = self.conns.borrow_mut().remove(&cid.id) {
            let mut by_peer = self.by_peer.borrow_mut();
            if by_peer.get(&(c.proto, c.peer)) == Some(&cid.id) {
                by_peer.remove(&(c.proto, c.peer));
            }
            self.index.remove(c.proto, c.peer, cid);
        }
        self.stats().tcp_connections.set(self.conn_count() as u64);
    }

    /// This shard's counters.
    #[inline]
    /// Copies the transaction table's counts where the control thread
    /// reads them.
    fn publish_tm_stats(&self) {
        if let Some(tm) = &self.tm {
            let t = tm.borrow();
            self.stats().tm.publish(t.len(), &t.stats);
        }
    }

    pub fn stats(&self) -> &ShardStats {
        self.stats_set.shard(self.id)
    }

    /// Open connections owned by this shard.
    pub fn conn_count(&self) -> usize {
        self.conns.borrow().len()
    }
}

/// The router's table settings with a random branch seed for this shard.
fn shard_tm_config<R: Router>(
    router: &R,
    id: usize,
) -> Option<sipshard_core::tm::table::TableConfig> {
    use std::hash::BuildHasher;
    let mut cfg = router.tm_config()?;
    let h = std::collections::hash_map::RandomState::new();
    let a = h.hash_one(id).to_le_bytes();
    let b = h.hash_one(!id).to_le_bytes();
    cfg.seed[..8].copy_from_slice(&a);
    cfg.seed[8..].copy_from_slice(&b);
    Some(cfg)
}

/// The timer tick in ms: `SIPSHARD_TM_TICK_MS` (1 = wake at every
/// deadline's own millisecond), else [`TICK_MS`]. Read once.
fn tm_tick_ms() -> u64 {
    static TICK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        std::env::var("SIPSHARD_TM_TICK_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(TICK_MS, |t| t.clamp(1, 100))
    })
}

/// The shard's transaction timers: sleeps until the table's next deadline
/// rounded up to the timer tick (or until woken for an earlier one), runs
/// the due timers, and carries out their outputs. Deadlines of one tick
/// share one wake-up.
async fn tm_timers<R: Router + 'static>(
    shard: Rc<Shard<R>>,
    wakeups: glommio::channels::local_channel::LocalReceiver<()>,
) {
    let Some(tm) = &shard.tm else { return };
    shard.publish_tm_stats();
    let tick = tm_tick_ms();
    loop {
        let next = tm.borrow().next_deadline().map(|at| coalesce(at, tick));
        shard.tm_armed.set(next);
        match next {
            None => {
                if wakeups.recv().await.is_none() {
                    return;
                }
            }
            Some(at) => {
                let now = shard.now_ms();
                if at > now {
                    let sleep = glommio::timer::sleep(std::time::Duration::from_millis(at - now));
                    let woken = async {
                        wakeups.recv().await;
                    };
                    futures_lite::future::or(sleep, woken).await;
                }
            }
        }
        let mut out = Vec::new();
        tm.borrow_mut().on_timer(shard.now_ms(), &mut out);
        if !out.is_empty() {
            shard.tm_outputs(out).await;
        } else {
            shard.publish_tm_stats();
        }
    }
}
