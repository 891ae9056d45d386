//! The UAS over TCP: ticking threads like [`super::ticker`], each with a
//! SO_REUSEPORT listener. Every tick a thread accepts new connections, reads
//! every connection, answers each complete message, and writes the answers
//! to the connection they belong to (by the peer address the answer is for;
//! a deferred 200 finds its connection the same way). Connections the peer
//! closed, or that could not be framed, are dropped.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::answer::UasBehaviour;
use super::shard::Shard;
use super::stats::UasStats;
use crate::stream::Conn;

fn listen(addr: SocketAddr) -> Result<TcpListener, String> {
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(|e| format!("uas: socket: {e}"))?;
    s.set_reuse_address(true).map_err(|e| format!("uas: SO_REUSEADDR: {e}"))?;
    s.set_reuse_port(true).map_err(|e| format!("uas: SO_REUSEPORT: {e}"))?;
    s.bind(&addr.into()).map_err(|e| format!("uas: cannot bind tcp {addr}: {e}"))?;
    s.listen(1024).map_err(|e| format!("uas: listen {addr}: {e}"))?;
    s.set_nonblocking(true).map_err(|e| format!("uas: non-blocking listener: {e}"))?;
    Ok(s.into())
}

/// Writes the shard's queued answers to their connections.
fn route(shard: &mut Shard, conns: &mut [Conn]) {
    shard.drain_out(|bytes, dest| {
        if let Some(c) = conns.iter_mut().find(|c| Some(c.peer) == dest) {
            c.queue(bytes);
        }
    });
}

/// Runs one TCP shard until `stop()` says so.
fn run_shard(listener: TcpListener, behaviour: UasBehaviour, contact: Vec<u8>, tick: Duration, stop: impl Fn() -> bool) -> UasStats {
    let mut shard = Shard::new(behaviour, contact, listener.as_raw_fd());
    let mut conns: Vec<Conn> = Vec::new();
    let mut next_tick = Instant::now();
    while !stop() {
        while let Ok((stream, _)) = listener.accept() {
            if let Ok(c) = Conn::new(stream) {
                conns.push(c);
            }
        }
        for i in 0..conns.len() {
            conns[i].fill();
            let peer = conns[i].peer;
            while let Some(msg) = conns[i].next_message() {
                shard.handle(msg, peer);
                // At most four answers per request: drain before the batch fills.
                route(&mut shard, &mut conns[..]);
            }
        }
        shard.answer_due(Instant::now());
        route(&mut shard, &mut conns);
        for c in &mut conns {
            c.flush();
        }
        conns.retain(|c| !c.closed);
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

/// Runs `shards` TCP shards on `cpus` (cycled); returns each one's counts.
pub fn run(addr: SocketAddr, shards: usize, cpus: &[usize], behaviour: &UasBehaviour, tick: Duration) -> Result<Vec<UasStats>, String> {
    let contact = format!("{addr};transport=tcp").into_bytes();
    let mut handles = Vec::with_capacity(shards);
    for (i, cpu) in cpus.iter().copied().cycle().take(shards).enumerate() {
        let listener = listen(addr)?;
        let (behaviour, contact) = (behaviour.clone(), contact.clone());
        let h = std::thread::Builder::new()
            .name(format!("uas-tcp-{i}"))
            .spawn(move || {
                super::ticker::pin(cpu);
                run_shard(listener, behaviour, contact, tick, crate::stop::requested)
            })
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
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn answers_an_invite_on_its_connection() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let behaviour = UasBehaviour {
            answer_delay: Duration::ZERO,
            failure_code: 503,
            failure_ppm: 0,
            send_100: false,
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let t = std::thread::spawn(move || {
            let stopped = move || flag.load(std::sync::atomic::Ordering::Relaxed);
            run_shard(listener, behaviour, b"127.0.0.1:1".to_vec(), Duration::from_millis(1), stopped)
        });
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/TCP c;branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 9@c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !(got.windows(7).any(|w| w == b"180 Rin") && got.windows(7).any(|w| w == b"200 OK\r")) {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let stats = t.join().unwrap();
        assert_eq!((stats.invite, stats.sent_180, stats.sent_200), (1, 1, 1));
    }
}
