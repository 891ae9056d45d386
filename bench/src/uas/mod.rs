//! `sipshard-bench uas`: a stateless SIP responder on glommio shards, or with
//! `--tick-us` on plain threads that wake on a fixed tick (`ticker`).
//! OPTIONS, REGISTER, MESSAGE → 200; INVITE → (100) 180 200 with To tag, SDP
//! and Record-Route echoed; ACK absorbed; BYE → 200; CANCEL → 200 + 487 while
//! a deferred 200 is pending. It counts what it saw and writes the counts as
//! JSON when stopped (SIGINT/SIGTERM or `--duration`).

mod answer;
mod blocking;
mod shard;
mod stats;
mod tcp;
#[cfg(test)]
mod test_shard;
mod ticker;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

pub use answer::UasBehaviour;
pub use stats::UasStats;

use crate::Transport;

/// Command-line flags of `uas`.
#[derive(Args, Debug, Clone)]
pub struct UasArgs {
    /// Address to answer on (every shard binds it with SO_REUSEPORT).
    #[arg(long, value_name = "IP:PORT")]
    pub listen: SocketAddr,
    /// Transport. tcp runs ticking threads (--tick-us, 1000 if 0) with one
    /// SO_REUSEPORT listener each.
    #[arg(long, value_enum, default_value_t = Transport::Udp)]
    pub transport: Transport,
    /// Number of shards (glommio executors, one pinned thread each).
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// CPUs to pin the shards to, comma-separated (default: all, in order).
    #[arg(long, value_name = "LIST", value_parser = crate::shards::parse_cpus)]
    pub cpus: Option<crate::shards::CpuList>,
    /// Milliseconds between 180 and 200 for INVITE (0: answer at once).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub answer_delay_ms: u64,
    /// Final code sent to the failing share of new requests (INVITE, OPTIONS, MESSAGE, REGISTER).
    #[arg(long, default_value_t = 503, value_name = "CODE", value_parser = clap::value_parser!(u16).range(300..=699))]
    pub failure_code: u16,
    /// Share of new requests that get --failure-code, 0.0 to 1.0 (by Call-ID hash).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub failure_share: f64,
    /// Do not send 100 Trying before 180 (as sipp's uas; keeps 6 messages per call).
    #[arg(long)]
    pub no_100: bool,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Tick mode: plain threads that wake every N microseconds and answer
    /// everything queued in one batch (each answer waits up to a tick).
    /// 0: glommio, woken by every datagram.
    #[arg(long, default_value_t = 0, value_name = "US")]
    pub tick_us: u64,
    /// Blocking mode (UDP): plain threads asleep in `recvmmsg` until a
    /// datagram arrives, answering at once (Kamailio's I/O shape, no event
    /// loop); the floor for what answering a datagram costs. Overrides --tick-us.
    #[arg(long)]
    pub blocking: bool,
    /// Send one datagram per `sendmmsg` entry instead of UDP GSO sends of
    /// equal-length answers to one destination (for A/B runs).
    #[arg(long)]
    pub no_gso: bool,
    /// Write the counts as JSON to this file when stopping.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<std::path::PathBuf>,
}

/// Runs the UAS until stopped; returns the summed counts.
pub fn run(args: &UasArgs) -> Result<UasStats, String> {
    crate::gso::set_allowed(!args.no_gso);
    if !(0.0..=1.0).contains(&args.failure_share) {
        return Err(format!("uas: --failure-share must be within 0.0..=1.0, got {}", args.failure_share));
    }
    if args.shards == 0 {
        return Err("uas: --shards must be at least 1".into());
    }
    crate::stop::install().map_err(|e| format!("uas: cannot install signal handlers: {e}"))?;
    let behaviour = UasBehaviour {
        answer_delay: Duration::from_millis(args.answer_delay_ms),
        failure_code: args.failure_code,
        failure_ppm: (args.failure_share * 1_000_000.0).round() as u32,
        send_100: !args.no_100,
    };
    // Bind once here so a busy port is reported before any shard starts.
    if args.transport == Transport::Udp {
        std::net::UdpSocket::bind(args.listen).map_err(|e| format!("uas: cannot bind {}: {e}", args.listen))?;
    } else {
        std::net::TcpListener::bind(args.listen).map_err(|e| format!("uas: cannot bind tcp {}: {e}", args.listen))?;
    }
    if let Some(secs) = args.duration {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(secs));
            crate::stop::request();
        });
    }
    let listen = args.listen;
    let per_shard = if args.transport == Transport::Tcp {
        let cpus = crate::shards::pick_cpus(args.shards, &args.cpus);
        let tick = Duration::from_micros(if args.tick_us > 0 { args.tick_us } else { 1000 });
        tcp::run(listen, args.shards, &cpus, &behaviour, tick)?
            .into_iter()
            .map(Ok)
            .collect()
    } else if args.blocking {
        let cpus = crate::shards::pick_cpus(args.shards, &args.cpus);
        blocking::run(listen, args.shards, &cpus, &behaviour)?.into_iter().map(Ok).collect()
    } else if args.tick_us > 0 {
        let cpus = crate::shards::pick_cpus(args.shards, &args.cpus);
        ticker::run(listen, args.shards, &cpus, &behaviour, Duration::from_micros(args.tick_us))?
            .into_iter()
            .map(Ok)
            .collect()
    } else {
        glommio_shards(listen, args, behaviour)?
    };
    let mut total = UasStats::default();
    for s in per_shard {
        total.add(&s?);
    }
    let json = serde_json::to_string_pretty(&total.to_json()).map_err(|e| e.to_string())?;
    if let Some(path) = &args.stats {
        std::fs::write(path, &json).map_err(|e| format!("uas: cannot write {}: {e}", path.display()))?;
    }
    println!("{json}");
    Ok(total)
}

/// The glommio shards (event mode); each result is one shard's counts.
fn glommio_shards(listen: SocketAddr, args: &UasArgs, behaviour: UasBehaviour) -> Result<Vec<Result<UasStats, String>>, String> {
    let contact = listen.to_string().into_bytes();
    crate::shards::run("uas", args.shards, &args.cpus, move |_| {
        let behaviour = behaviour.clone();
        let contact = contact.clone();
        async move {
            let socket = glommio::net::UdpSocket::bind(listen).map_err(|e| format!("uas: cannot bind {listen}: {e}"))?;
            crate::sockopt::set_buffers(&socket, crate::sockopt::BUFFER_BYTES);
            Ok::<_, String>(shard::run(socket, behaviour, contact).await)
        }
    })
}
