//! The UDP receive loop of one socket on one shard.
//!
//! By default glommio's `recv_from` per datagram. With `SIPSHARD_UDP_BATCH=N`
//! (N > 1) the socket is drained in batches instead ([`crate::udp_batch`]):
//! one glommio wait for readiness, then `recvmmsg` of up to N datagrams,
//! each handed to the shard in arrival order, yielding to the executor
//! between batches when other tasks are due. Not the default: it measured
//! more CPU per message at 2 000–8 000 calls/s (docs/benchmarks.md).

use std::net::SocketAddr;
use std::rc::Rc;

use glommio::net::UdpSocket;
use sipshard_core::route_io::{level, Inbound, Router};
use sipshard_core::transport::Transport;

use crate::shard::Shard;
use crate::udp_batch::{batch_slots, Receiver};

/// Largest datagram we accept (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// Receives datagrams forever and hands each to the shard. Keep-alives
/// (datagrams of only CR/LF/space) are ignored.
pub async fn serve<R: Router + 'static>(
    shard: Rc<Shard<R>>,
    local: SocketAddr,
    sock: Rc<UdpSocket>,
) {
    let slots = batch_slots();
    if slots > 1 {
        return serve_batched(shard, local, sock, slots).await;
    }
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                receive_failed(&shard, local, &e);
                continue;
            }
        };
        deliver(&shard, local, &buf[..n], src).await;
    }
}

async fn serve_batched<R: Router + 'static>(
    shard: Rc<Shard<R>>,
    local: SocketAddr,
    sock: Rc<UdpSocket>,
    slots: usize,
) {
    let mut rx = Receiver::new(slots, MAX_DATAGRAM);
    loop {
        let n = match rx.recv(&sock).await {
            Ok(n) => n,
            Err(e) => {
                receive_failed(&shard, local, &e);
                continue;
            }
        };
        for i in 0..n {
            // None: truncated (cannot happen at the UDP maximum) or not IP.
            if let Some((data, src)) = rx.get(i) {
                deliver(&shard, local, data, src).await;
            }
        }
        glommio::yield_if_needed().await;
    }
}

fn receive_failed<R: Router + 'static>(
    shard: &Shard<R>,
    local: SocketAddr,
    e: &dyn std::fmt::Display,
) {
    shard.logger.log(
        level::ERR,
        Some(shard.id),
        &format!("udp receive on {local} failed: {e}"),
    );
}

async fn deliver<R: Router + 'static>(
    shard: &Rc<Shard<R>>,
    local: SocketAddr,
    data: &[u8],
    src: SocketAddr,
) {
    if data
        .iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
    {
        return;
    }
    let inb = Inbound {
        proto: Transport::Udp,
        src,
        local,
        conn: None,
    };
    shard.handle(data, inb).await;
}
