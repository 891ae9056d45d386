//! The UAS on blocking I/O: one plain pinned thread per shard that sleeps
//! in `recvmmsg(MSG_WAITFORONE)` until a datagram arrives, answers what it
//! got with one `sendmmsg` and sleeps again. That is the shape of
//! Kamailio's UDP workers (a blocking `recvfrom` per wake-up), with no
//! event loop around it, so its CPU per message is what answering a
//! datagram costs on a machine: the floor under any SIP server that wakes
//! when traffic arrives. Answers are sent at once; deferred 200s
//! (`--answer-delay-ms`) go out at the next wake-up, which the socket's
//! receive timeout bounds to a millisecond.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::answer::UasBehaviour;
use super::shard::{Shard, DRAIN};
use super::stats::UasStats;
use super::ticker::{pin, spawn_shards};
use crate::batch::RecvBatch;

/// How long a shard sleeps with nothing received before it looks at the
/// stop flag and the deferred answers again.
fn receive_timeout(behaviour: &UasBehaviour) -> Duration {
    if behaviour.answer_delay.is_zero() {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(1)
    }
}

/// Runs one blocking shard until `stop()` says so.
fn run_shard(
    socket: std::net::UdpSocket,
    behaviour: UasBehaviour,
    contact: Vec<u8>,
    cpu: Option<usize>,
    stop: impl Fn() -> bool,
) -> UasStats {
    if let Some(cpu) = cpu {
        pin(cpu);
    }
    if let Err(e) = socket.set_read_timeout(Some(receive_timeout(&behaviour))) {
        eprintln!("uas: SO_RCVTIMEO: {e}");
    }
    let fd = socket.as_raw_fd();
    let mut shard = Shard::new(behaviour, contact, fd);
    let mut batch = RecvBatch::new(DRAIN);
    while !stop() {
        let got = match batch.recv_wait(fd) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => {
                eprintln!("uas: recvmmsg: {e}");
                break;
            }
        };
        for i in 0..got {
            if let (bytes, Some(from)) = batch.get(i) {
                shard.handle(bytes, from);
            }
        }
        shard.answer_due(Instant::now());
        shard.flush();
    }
    shard.stats
}

/// Runs `shards` blocking shards on `cpus` (cycled); returns each one's counts.
pub fn run(listen: SocketAddr, shards: usize, cpus: &[usize], behaviour: &UasBehaviour) -> Result<Vec<UasStats>, String> {
    spawn_shards(listen, shards, cpus, behaviour, |socket, behaviour, contact, cpu| {
        run_shard(socket, behaviour, contact, Some(cpu), crate::stop::requested)
    })
}

#[cfg(test)]
mod tests {
    use super::super::ticker::bind;
    use super::*;

    #[test]
    fn answers_a_register_and_an_invite_when_they_arrive() {
        let listen = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let behaviour = UasBehaviour {
            answer_delay: Duration::ZERO,
            failure_code: 503,
            failure_ppm: 0,
            send_100: false,
        };
        let socket = bind(listen).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let t = std::thread::spawn(move || {
            let stopped = move || flag.load(std::sync::atomic::Ordering::Relaxed);
            run_shard(socket, behaviour, b"127.0.0.1:1".to_vec(), None, stopped)
        });
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 4096];
        let register = b"REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKr\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:a@h>\r\nCall-ID: r@c\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@c>\r\nMax-Forwards: 70\r\n\r\n";
        probe.send_to(register, listen).unwrap();
        let (n, _) = probe.recv_from(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 200 "), "{}", String::from_utf8_lossy(&buf[..n]));
        assert!(
            buf[..n].windows(9).any(|w| w == b"CSeq: 1 R"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        let invite = b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 9@c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\r\n";
        probe.send_to(invite, listen).unwrap();
        let (n, _) = probe.recv_from(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 180 "), "{}", String::from_utf8_lossy(&buf[..n]));
        let (n, _) = probe.recv_from(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 200 "), "{}", String::from_utf8_lossy(&buf[..n]));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let stats = t.join().unwrap();
        assert_eq!((stats.invite, stats.sent_180, stats.sent_200), (1, 1, 2));
    }
}
