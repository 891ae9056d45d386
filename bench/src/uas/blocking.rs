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
    use super::super::test_shard::TestShard;
    use super::*;

    #[test]
    fn answers_a_register_and_an_invite_when_they_arrive() {
        let shard = TestShard::start(|socket, behaviour, contact, stopped| run_shard(socket, behaviour, contact, None, stopped));
        let register = b"REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKr\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:a@h>\r\nCall-ID: r@c\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@c>\r\nMax-Forwards: 70\r\n\r\n";
        shard.send(register);
        let r = shard.recv();
        assert!(r.starts_with("SIP/2.0 200 ") && r.contains("CSeq: 1 REGISTER\r\n"), "{r}");
        shard.rings_then_answers_an_invite();
        let stats = shard.finish();
        assert_eq!((stats.invite, stats.sent_180, stats.sent_200), (1, 1, 2));
    }
}
