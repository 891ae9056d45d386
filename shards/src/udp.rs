//! The UDP receive loop of one socket on one shard.

use std::net::SocketAddr;
use std::rc::Rc;

use glommio::net::UdpSocket;
use sipshard_core::route_io::{level, Inbound, Router};
use sipshard_core::transport::Transport;

use crate::shard::Shard;

/// Largest datagram we accept (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// Receives datagrams forever and hands each to the shard. Keep-alives
/// (datagrams of only CR/LF/space) are ignored.
pub async fn serve<R: Router + 'static>(
    shard: Rc<Shard<R>>,
    local: SocketAddr,
    sock: Rc<UdpSocket>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                shard.logger.log(
                    level::ERR,
                    Some(shard.id),
                    &format!("udp receive on {local} failed: {e}"),
                );
                continue;
            }
        };
        let data = &buf[..n];
        if data
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            continue;
        }
        let inb = Inbound {
            proto: Transport::Udp,
            src,
            local,
            conn: None,
        };
        shard.handle(data, inb).await;
    }
}
