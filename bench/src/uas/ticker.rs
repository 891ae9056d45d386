//! The UAS in tick mode: one plain pinned thread per shard instead of a
//! glommio executor. Each thread sleeps a fixed period, then drains its
//! SO_REUSEPORT socket with non-blocking `recvmmsg`, answers everything with
//! one `sendmmsg` and sends the deferred 200s that fell due. It pays a few
//! wake-ups per millisecond however high the rate, and a sender into its
//! socket never has to wake it (which, on loopback, the sender pays for).
//! Each answer waits up to one tick, so latencies measured through this UAS
//! include that wait.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::answer::UasBehaviour;
use super::shard::{Shard, DRAIN};
use super::stats::UasStats;
use crate::batch::RecvBatch;

/// Binds `listen` with SO_REUSEPORT (so several shards share it) and the
/// harness's 4 MiB buffers.
pub(super) fn bind(listen: SocketAddr) -> Result<std::net::UdpSocket, String> {
    let domain = if listen.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| format!("uas: socket: {e}"))?;
    s.set_reuse_port(true).map_err(|e| format!("uas: SO_REUSEPORT: {e}"))?;
    s.bind(&listen.into()).map_err(|e| format!("uas: cannot bind {listen}: {e}"))?;
    let s: std::net::UdpSocket = s.into();
    crate::sockopt::set_buffers(&s, crate::sockopt::BUFFER_BYTES);
    Ok(s)
}

/// Pins the calling thread to `cpu` (best effort).
pub(super) fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; a failing
    // sched_setaffinity leaves the thread unpinned, which only costs accuracy.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Runs one ticking shard until `stop()` says so.
fn run_shard(
    socket: std::net::UdpSocket,
    behaviour: UasBehaviour,
    contact: Vec<u8>,
    tick: Duration,
    cpu: Option<usize>,
    stop: impl Fn() -> bool,
) -> UasStats {
    if let Some(cpu) = cpu {
        pin(cpu);
    }
    let fd = socket.as_raw_fd();
    let mut shard = Shard::new(behaviour, contact, fd);
    let mut batch = RecvBatch::new(DRAIN);
    let mut next_tick = Instant::now();
    while !stop() {
        loop {
            let got = batch.recv(fd).unwrap_or(0);
            for i in 0..got {
                if let (bytes, Some(from)) = batch.get(i) {
                    shard.handle(bytes, from);
                }
            }
            if got < DRAIN {
                break;
            }
        }
        shard.answer_due(Instant::now());
        shard.flush();
        next_tick += tick;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else {
            next_tick = now;
        }
    }
    shard.stats
}

/// Runs `shards` ticking shards on `cpus` (cycled); returns each one's counts.
pub fn run(listen: SocketAddr, shards: usize, cpus: &[usize], behaviour: &UasBehaviour, tick: Duration) -> Result<Vec<UasStats>, String> {
    spawn_shards(listen, shards, cpus, behaviour, move |socket, behaviour, contact, cpu| {
        run_shard(socket, behaviour, contact, tick, Some(cpu), crate::stop::requested)
    })
}

/// Binds one SO_REUSEPORT socket per shard and runs `shard` on it in a
/// thread of its own (named `uas-N`, CPU from `cpus`, cycled); joins them
/// and returns each one's counts.
pub(super) fn spawn_shards<F>(
    listen: SocketAddr,
    shards: usize,
    cpus: &[usize],
    behaviour: &UasBehaviour,
    shard: F,
) -> Result<Vec<UasStats>, String>
where
    F: Fn(std::net::UdpSocket, UasBehaviour, Vec<u8>, usize) -> UasStats + Clone + Send + 'static,
{
    let contact = listen.to_string().into_bytes();
    let mut handles = Vec::with_capacity(shards);
    for (i, cpu) in cpus.iter().copied().cycle().take(shards).enumerate() {
        let socket = bind(listen)?;
        let (behaviour, contact, shard) = (behaviour.clone(), contact.clone(), shard.clone());
        let h = std::thread::Builder::new()
            .name(format!("uas-{i}"))
            .spawn(move || shard(socket, behaviour, contact, cpu))
            .map_err(|e| format!("uas: cannot start shard {i}: {e}"))?;
        handles.push(h);
    }
    handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.join().map_err(|_| format!("uas shard {i} panicked")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_shard::TestShard;
    use super::*;

    #[test]
    fn answers_an_invite_within_a_few_ticks() {
        let shard = TestShard::start(|socket, behaviour, contact, stopped| {
            run_shard(socket, behaviour, contact, Duration::from_millis(1), None, stopped)
        });
        shard.rings_then_answers_an_invite();
        let stats = shard.finish();
        assert_eq!((stats.invite, stats.sent_180, stats.sent_200), (1, 1, 1));
    }
}
