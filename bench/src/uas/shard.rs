//! One UAS shard (the answering logic, shared with the ticking UAS in
//! `ticker`) and its glommio driver: a glommio executor with its own SO_REUSEPORT socket. It
//! awaits the first datagram through glommio (io_uring), then drains whatever
//! else is queued with `recvmmsg` and sends all answers with one `sendmmsg`,
//! so a busy shard pays one wake-up per batch, not per datagram.
//!
//! State: none per call, except INVITEs waiting for a deferred 200 (answer
//! delay), kept in a FIFO (one delay for all, so due times are in order) with
//! recycled buffers; a CANCEL looks its INVITE up there.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::net::UdpSocket;

use super::answer::{fnv64, Plan, UasBehaviour};
use super::stats::UasStats;
use crate::batch::{RecvBatch, SendBatch};
use crate::sip::respond::{reason, write_response, ResponseSpec};
use crate::sip::scan::{scan, Scanned};
use crate::sip::write::Out;
use crate::sip::SDP;

/// Datagrams drained per `recvmmsg`.
pub(super) const DRAIN: usize = 32;

/// An INVITE whose 200 is deferred.
struct Pending {
    due: Instant,
    src: SocketAddr,
    request: Vec<u8>,
    cancelled: bool,
}

/// Everything one shard owns.
pub struct Shard {
    behaviour: UasBehaviour,
    contact: Vec<u8>,
    fd: RawFd,
    out: SendBatch,
    pending: VecDeque<Pending>,
    spare: Vec<Vec<u8>>,
    pub stats: UasStats,
}

/// The kinds of response a shard sends (for counting).
#[derive(Clone, Copy)]
enum Sent {
    Trying,
    Ringing,
    Ok,
    Terminated,
    Failure,
}

impl Shard {
    pub(super) fn new(behaviour: UasBehaviour, contact: Vec<u8>, fd: RawFd) -> Self {
        Shard {
            behaviour,
            contact,
            fd,
            out: SendBatch::new(3 * DRAIN + 3),
            pending: VecDeque::new(),
            spare: Vec::new(),
            stats: UasStats::default(),
        }
    }

    fn respond(&mut self, req: &Scanned<'_>, src: SocketAddr, code: u16, kind: Sent) {
        if self.out.is_full() {
            self.flush();
        }
        let dialog = req.method() == Some(b"INVITE") && (code == 180 || code == 200);
        let tag_hex = fnv64(req.call_id).to_be_bytes();
        let mut tag = [0u8; 16];
        let _ = Out::new(&mut tag).hex(&tag_hex);
        let spec = ResponseSpec {
            code,
            reason: reason(code),
            to_tag: &tag,
            contact: &self.contact,
            dialog,
            body: (dialog && code == 200).then_some(SDP),
        };
        let slot = self.out.slot();
        let mut w = Out::new(slot);
        if write_response(&mut w, req, &spec).is_err() {
            self.stats.send_errors += 1;
            return;
        }
        let len = w.len();
        // One flow per call: its 180 stays ahead of its 200.
        self.out.commit(len, Some(src), u64::from_be_bytes(tag_hex));
        match kind {
            Sent::Trying => self.stats.sent_100 += 1,
            Sent::Ringing => self.stats.sent_180 += 1,
            Sent::Ok => self.stats.sent_200 += 1,
            Sent::Terminated => self.stats.sent_487 += 1,
            Sent::Failure => self.stats.sent_failure += 1,
        }
    }

    fn final_kind(code: u16) -> Sent {
        if code == 200 {
            Sent::Ok
        } else {
            Sent::Failure
        }
    }

    /// Handles one datagram.
    pub fn handle(&mut self, bytes: &[u8], src: SocketAddr) {
        let req = match scan(bytes) {
            Ok(s) => s,
            Err(_) => {
                self.stats.unparsable += 1;
                return;
            }
        };
        let Some(method) = req.method() else {
            self.stats.responses_in += 1;
            return;
        };
        if req.via_count >= 2 {
            self.stats.proxied += 1;
            if req.to_tag.is_some() {
                self.stats.in_dialog_proxied += 1;
            }
        }
        if req.route_count > 0 {
            self.stats.with_route += 1;
        }
        if req.max_forwards.is_some_and(|m| m < 70) {
            self.stats.max_forwards_decremented += 1;
        }
        let s = &mut self.stats;
        match method {
            b"INVITE" => s.invite += 1,
            b"ACK" => s.ack += 1,
            b"BYE" => s.bye += 1,
            b"CANCEL" => s.cancel += 1,
            b"OPTIONS" => s.options += 1,
            b"MESSAGE" => s.message += 1,
            b"REGISTER" => s.register += 1,
            _ => s.other_requests += 1,
        }
        match self.behaviour.plan(method, req.call_id) {
            Plan::Absorb => {}
            Plan::Final(code) => self.respond(&req, src, code, Self::final_kind(code)),
            Plan::Invite {
                trying,
                failure,
                defer_200,
            } => {
                if trying {
                    self.respond(&req, src, 100, Sent::Trying);
                }
                if let Some(code) = failure {
                    self.respond(&req, src, code, Sent::Failure);
                    return;
                }
                self.respond(&req, src, 180, Sent::Ringing);
                if defer_200 {
                    self.defer(bytes, src);
                } else {
                    self.respond(&req, src, 200, Sent::Ok);
                }
            }
            Plan::Cancel => {
                self.respond(&req, src, 200, Sent::Ok);
                self.cancel(req.call_id);
            }
        }
    }

    fn defer(&mut self, bytes: &[u8], src: SocketAddr) {
        let mut request = self.spare.pop().unwrap_or_default();
        request.clear();
        request.extend_from_slice(bytes);
        let due = Instant::now() + self.behaviour.answer_delay;
        self.pending.push_back(Pending {
            due,
            src,
            request,
            cancelled: false,
        });
    }

    /// Sends 487 to the pending INVITE with this Call-ID, if any.
    fn cancel(&mut self, call_id: &[u8]) {
        let Some(idx) = self
            .pending
            .iter()
            .rposition(|p| !p.cancelled && scan(&p.request).is_ok_and(|s| s.call_id == call_id))
        else {
            return;
        };
        self.pending[idx].cancelled = true;
        let request = std::mem::take(&mut self.pending[idx].request);
        let src = self.pending[idx].src;
        if let Ok(inv) = scan(&request) {
            self.respond(&inv, src, 487, Sent::Terminated);
        }
        self.spare.push(request);
    }

    /// Sends the 200s whose delay has passed; returns when the next one is due.
    pub fn answer_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(front) = self.pending.front() {
            if front.due > now {
                return Some(front.due);
            }
            let p = self.pending.pop_front().expect("front exists");
            if !p.cancelled {
                if let Ok(inv) = scan(&p.request) {
                    self.respond(&inv, p.src, 200, Sent::Ok);
                }
            }
            self.spare.push(p.request);
        }
        None
    }

    /// Hands the queued answers (bytes, destination) to `f` instead of
    /// sending them (the TCP UAS writes them to the right connection).
    pub(super) fn drain_out(&mut self, f: impl FnMut(&[u8], Option<SocketAddr>)) {
        self.out.drain_to(f);
    }

    /// Sends the queued answers.
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            let f = self.out.flush(self.fd);
            self.stats.send_errors += f.failed as u64;
            self.stats.gso_sends += f.gso_sends as u64;
            self.stats.gso_datagrams += f.gso_datagrams as u64;
        }
    }
}

/// Runs one shard until the stop flag is set; returns its counts.
pub async fn run(socket: UdpSocket, behaviour: UasBehaviour, contact: Vec<u8>) -> UasStats {
    let socket = Rc::new(socket);
    let shard = Rc::new(RefCell::new(Shard::new(behaviour.clone(), contact, socket.as_raw_fd())));
    let receiver = {
        let (socket, shard) = (socket.clone(), shard.clone());
        glommio::spawn_local(async move {
            let mut first = vec![0u8; crate::batch::MAX_DATAGRAM];
            let mut drain = RecvBatch::new(DRAIN);
            loop {
                let Ok((n, src)) = socket.recv_from(&mut first).await else {
                    continue;
                };
                let mut sh = shard.borrow_mut();
                sh.handle(&first[..n], src);
                loop {
                    let got = drain.recv(sh.fd).unwrap_or(0);
                    for i in 0..got {
                        if let (bytes, Some(from)) = drain.get(i) {
                            sh.handle(bytes, from);
                        }
                    }
                    if got < DRAIN {
                        break;
                    }
                }
                sh.flush();
            }
        })
        .detach()
    };
    let answerer = (!behaviour.answer_delay.is_zero()).then(|| {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            loop {
                let next = {
                    let mut sh = shard.borrow_mut();
                    let next = sh.answer_due(Instant::now());
                    sh.flush();
                    next
                };
                let wait = next.map_or(Duration::from_millis(1), |t| t.saturating_duration_since(Instant::now()));
                glommio::timer::sleep(wait.max(Duration::from_micros(200))).await;
            }
        })
        .detach()
    });
    while !crate::stop::requested() {
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    receiver.cancel();
    if let Some(a) = answerer {
        a.cancel();
    }
    let stats = shard.borrow().stats;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(delay_ms: u64) -> (Shard, std::net::UdpSocket) {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UasBehaviour {
            answer_delay: Duration::from_millis(delay_ms),
            failure_code: 503,
            failure_ppm: 0,
            send_100: true,
        };
        let fd = sock.as_raw_fd();
        (Shard::new(b, b"127.0.0.1:1".to_vec(), fd), sock)
    }

    const INVITE: &[u8] = b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 9@c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\r\n";
    const CANCEL: &[u8] = b"CANCEL sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 9@c\r\nCSeq: 1 CANCEL\r\n\r\n";

    #[test]
    fn invite_gets_100_180_200_at_once() {
        let (mut sh, _s) = shard(0);
        sh.handle(INVITE, "127.0.0.1:9".parse().unwrap());
        assert_eq!((sh.stats.sent_100, sh.stats.sent_180, sh.stats.sent_200), (1, 1, 1));
        assert!(!sh.out.is_empty());
        assert_eq!(sh.stats.proxied, 0);
    }

    #[test]
    fn cancel_before_answer_gets_487_and_no_200() {
        let (mut sh, _s) = shard(1000);
        let src = "127.0.0.1:9".parse().unwrap();
        sh.handle(INVITE, src);
        assert_eq!(sh.stats.sent_200, 0);
        sh.handle(CANCEL, src);
        assert_eq!((sh.stats.sent_200, sh.stats.sent_487), (1, 1), "200 to CANCEL, 487 to INVITE");
        assert_eq!(sh.answer_due(Instant::now() + Duration::from_secs(2)), None);
        assert_eq!(sh.stats.sent_200, 1, "the cancelled INVITE is never answered 200");
    }

    #[test]
    fn garbage_is_counted_not_answered() {
        let (mut sh, _s) = shard(0);
        sh.handle(b"\x00\x01hello", "127.0.0.1:9".parse().unwrap());
        assert_eq!(sh.stats.unparsable, 1);
        assert!(sh.out.is_empty());
    }

    #[test]
    fn record_route_is_echoed_in_the_2xx_and_routed_bye_is_answered() {
        let (mut sh, _s) = shard(0);
        let src = "127.0.0.1:9".parse().unwrap();
        let invite = b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nRecord-Route: <sip:p;lr>\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 8@c\r\nCSeq: 1 INVITE\r\n\r\n";
        sh.handle(invite, src);
        let mut answers = Vec::new();
        sh.drain_out(|b, _| answers.push(b.to_vec()));
        let ok = answers.iter().find(|a| a.starts_with(b"SIP/2.0 200")).expect("a 200");
        let ok = scan(ok).unwrap();
        assert_eq!(ok.rr_count, 1);
        assert_eq!(ok.span(ok.rr_lines[0]), b"Record-Route: <sip:p;lr>");
        assert_eq!(ok.contact, Some(&b"<sip:uas@127.0.0.1:1>"[..]));
        let bye = b"BYE sip:uas@127.0.0.1:1 SIP/2.0\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKp2\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc2\r\nRoute: <sip:next;lr>\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>;tag=x\r\nCall-ID: 8@c\r\nCSeq: 2 BYE\r\n\r\n";
        sh.handle(bye, src);
        let mut answers = Vec::new();
        sh.drain_out(|b, _| answers.push(b.to_vec()));
        assert_eq!(answers.len(), 1);
        let r = scan(&answers[0]).unwrap();
        assert_eq!((r.status(), r.cseq_method), (Some(200), &b"BYE"[..]));
        assert_eq!((sh.stats.bye, sh.stats.in_dialog_proxied, sh.stats.with_route), (1, 1, 1));
    }
}
