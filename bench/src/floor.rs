//! `sipshard-bench floor`: the I/O floor. A UDP relay on the same glommio
//! path as sipshard's runtime (one pinned executor per shard, a
//! `glommio::net::UdpSocket` bound with SO_REUSEPORT, received through the
//! very module sipshard uses, `sipshard_shards::udp_batch` -- glommio's
//! `recv_from` per datagram by default, or with `SIPSHARD_UDP_BATCH=N` a
//! glommio wait for readiness then `recvmmsg` batches, as sipshard then does
//! -- and its sends, `sipshard_shards::udp_io`), which forwards datagrams
//! without parsing them. "sipshard /
//! floor" is then the cost of SIP itself.
//!
//! Routing rule (no parsing, and correct with many clients): each shard opens
//! one upstream socket per client address it sees (like a UDP NAT), connected
//! to `--upstream`; datagrams from a client go out on that client's upstream
//! socket, and whatever arrives on it goes back to that client. The upstream
//! therefore sees one source port per client and shard.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use clap::Args;
use glommio::net::UdpSocket;
use sipshard_shards::udp_batch::{batch_slots, Receiver};
use sipshard_shards::udp_io;

/// Command-line flags of `floor`.
#[derive(Args, Debug, Clone)]
pub struct FloorArgs {
    /// Address clients send to.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: SocketAddr,
    /// Where client datagrams are relayed to (replies come back from there).
    #[arg(long, value_name = "IP:PORT")]
    pub upstream: SocketAddr,
    /// Number of shards (glommio executors, one pinned thread each).
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// CPUs to pin the shards to, comma-separated (default: all, in order).
    #[arg(long, value_name = "LIST", value_parser = crate::shards::parse_cpus)]
    pub cpus: Option<crate::shards::CpuList>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
}

/// Datagrams relayed by one shard.
#[derive(Debug, Default, Clone, Copy)]
struct Relayed {
    up: u64,
    down: u64,
    errors: u64,
}

async fn client_socket(upstream: SocketAddr) -> std::io::Result<UdpSocket> {
    let any: IpAddr = match upstream {
        SocketAddr::V4(a) if a.ip().is_loopback() => Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0))?;
    crate::sockopt::set_buffers(&s, crate::sockopt::BUFFER_BYTES);
    s.connect(upstream).await?;
    Ok(s)
}

async fn shard(listen: SocketAddr, upstream: SocketAddr) -> Result<Relayed, String> {
    let front = Rc::new(UdpSocket::bind(listen).map_err(|e| format!("floor: cannot bind {listen}: {e}"))?);
    crate::sockopt::set_buffers(&*front, crate::sockopt::BUFFER_BYTES);
    let down = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    let up = Rc::new(Cell::new(0u64));
    let relay = {
        let (front, down, errors, up) = (front.clone(), down.clone(), errors.clone(), up.clone());
        glommio::spawn_local(async move {
            let mut clients: Vec<(SocketAddr, Rc<UdpSocket>)> = Vec::new();
            let slots = batch_slots();
            let mut rx = (slots > 1).then(|| Receiver::new(slots, crate::batch::MAX_DATAGRAM));
            let mut buf = vec![0u8; crate::batch::MAX_DATAGRAM];
            loop {
                let n = match &mut rx {
                    Some(rx) => match rx.recv(&front).await {
                        Ok(n) => n,
                        Err(_) => {
                            errors.set(errors.get() + 1);
                            continue;
                        }
                    },
                    None => match front.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            relay_up(&buf[..n], from, &mut clients, upstream, &front, &up, &down, &errors).await;
                            continue;
                        }
                        Err(_) => {
                            errors.set(errors.get() + 1);
                            continue;
                        }
                    },
                };
                let rx = rx.as_ref().expect("batched");
                for i in 0..n {
                    match rx.get(i) {
                        Some((data, from)) => relay_up(data, from, &mut clients, upstream, &front, &up, &down, &errors).await,
                        None => errors.set(errors.get() + 1),
                    }
                }
                glommio::yield_if_needed().await;
            }
        })
        .detach()
    };
    while !crate::stop::requested() {
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    relay.cancel();
    Ok(Relayed {
        up: up.get(),
        down: down.get(),
        errors: errors.get(),
    })
}

/// Sends one client datagram upstream on that client's socket (opened, and
/// its downstream task started, on the client's first datagram).
#[allow(clippy::too_many_arguments)]
async fn relay_up(
    data: &[u8],
    from: SocketAddr,
    clients: &mut Vec<(SocketAddr, Rc<UdpSocket>)>,
    upstream: SocketAddr,
    front: &Rc<UdpSocket>,
    up: &Cell<u64>,
    down: &Rc<Cell<u64>>,
    errors: &Rc<Cell<u64>>,
) {
    let sock = match clients.iter().find(|(a, _)| *a == from) {
        Some((_, s)) => s.clone(),
        None => match client_socket(upstream).await {
            Ok(s) => {
                let s = Rc::new(s);
                clients.push((from, s.clone()));
                spawn_downstream(s.clone(), front.clone(), from, down.clone(), errors.clone());
                s
            }
            Err(_) => {
                errors.set(errors.get() + 1);
                return;
            }
        },
    };
    match udp_io::send(&sock, data).await {
        Ok(_) => up.set(up.get() + 1),
        Err(_) => errors.set(errors.get() + 1),
    }
}

fn spawn_downstream(sock: Rc<UdpSocket>, front: Rc<UdpSocket>, client: SocketAddr, down: Rc<Cell<u64>>, errors: Rc<Cell<u64>>) {
    glommio::spawn_local(async move {
        let count = |ok: bool| {
            if ok {
                down.set(down.get() + 1);
            } else {
                errors.set(errors.get() + 1);
            }
        };
        let slots = batch_slots();
        if slots > 1 {
            let mut rx = Receiver::new(slots, crate::batch::MAX_DATAGRAM);
            while !crate::stop::requested() {
                match rx.recv(&sock).await {
                    Ok(n) => {
                        for i in 0..n {
                            match rx.get(i) {
                                Some((data, _)) => count(udp_io::send_to(&front, data, client).await.is_ok()),
                                None => count(false),
                            }
                        }
                    }
                    Err(_) => count(false),
                }
                glommio::yield_if_needed().await;
            }
            return;
        }
        let mut buf = vec![0u8; crate::batch::MAX_DATAGRAM];
        while !crate::stop::requested() {
            let ok = match sock.recv(&mut buf).await {
                Ok(n) => udp_io::send_to(&front, &buf[..n], client).await.is_ok(),
                Err(_) => false,
            };
            count(ok);
        }
    })
    .detach();
}

/// Runs the floor relay until stopped.
pub fn run(args: &FloorArgs) -> Result<(), String> {
    if args.shards == 0 {
        return Err("floor: --shards must be at least 1".into());
    }
    crate::stop::install().map_err(|e| format!("floor: cannot install signal handlers: {e}"))?;
    std::net::UdpSocket::bind(args.listen).map_err(|e| format!("floor: cannot bind {}: {e}", args.listen))?;
    if let Some(secs) = args.duration {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(secs));
            crate::stop::request();
        });
    }
    let (listen, upstream) = (args.listen, args.upstream);
    let per_shard = crate::shards::run("floor", args.shards, &args.cpus, move |_| shard(listen, upstream))?;
    let mut total = Relayed::default();
    for r in per_shard {
        let r = r?;
        total.up += r.up;
        total.down += r.down;
        total.errors += r.errors;
    }
    println!(
        "{{\"relayed_up\": {}, \"relayed_down\": {}, \"errors\": {}}}",
        total.up, total.down, total.errors
    );
    Ok(())
}
