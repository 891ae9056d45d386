//! Starting the shards: one pinned glommio executor each, joined by a
//! channel mesh, all running the same router.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use sipshard_core::route_io::Router;
use sipshard_core::transport::Transport;

use crate::conn_index::ConnIndex;
use crate::logger::Logger;
use crate::mesh::CrossShard;
use crate::metrics::StatsSet;
use crate::shard::Shard;

/// One `listen=` socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    pub proto: Transport,
    pub addr: SocketAddr,
    /// `advertise host:port`: what goes into Via and Record-Route instead
    /// of the bound address.
    pub advertise: Option<(String, u16)>,
}

/// What the runtime needs to know, taken from the config's global
/// parameters.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Vec<ListenAddr>,
    /// Number of shards (`shards=`); 0 means one per CPU.
    pub shards: usize,
    /// `debug=` log level (Kamailio numbers).
    pub debug: i32,
    /// Idle stream connections are closed after this long
    /// (`tcp_connection_lifetime`).
    pub tcp_idle: Duration,
    /// Open stream connections per shard at most (`tcp_max_connections`
    /// divided over the shards).
    pub tcp_max_connections: usize,
    /// Largest header block accepted on a stream connection.
    pub max_header_bytes: usize,
    /// Largest body accepted on a stream connection.
    pub max_body_bytes: usize,
    /// SO_RCVBUF asked for on UDP sockets.
    pub udp_rcvbuf: usize,
    /// With several shards, give each its own UDP port for the requests it
    /// relays (`shard_ports=`; [`crate::own_ports`]).
    pub shard_ports: bool,
}

impl ServerConfig {
    /// Defaults as Kamailio's (120 s idle TCP, 2048 connections) for the
    /// given listen sockets.
    pub fn new(listen: Vec<ListenAddr>) -> ServerConfig {
        ServerConfig {
            listen,
            shards: 0,
            debug: 2,
            tcp_idle: Duration::from_secs(120),
            tcp_max_connections: 2048,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            udp_rcvbuf: 4 * 1024 * 1024,
            shard_ports: true,
        }
    }

    /// The number of shards to start: `shards=` or one per CPU.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// No `listen=` socket was configured.
    NoListen,
    /// A shard's executor could not be created (io_uring unavailable,
    /// locked-memory limit too low, seccomp profile blocking io_uring).
    Executor(String),
    /// A socket could not be bound.
    Bind {
        proto: Transport,
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// A shard stopped with an error.
    Shard(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NoListen => write!(f, "no listen= socket configured"),
            RunError::Executor(e) => write!(
                f,
                "cannot start a shard executor: {e} (io_uring needs Linux >= 5.8, \
                 enough locked memory (ulimit -l), and a seccomp profile that allows io_uring)"
            ),
            RunError::Bind { proto, addr, error } => {
                write!(f, "cannot listen on {proto}:{addr}: {error}")
            }
            RunError::Shard(e) => write!(f, "shard stopped: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Executor settings that change the cost of a wake-up, from the
/// environment (read when a shard starts; unset = glommio's defaults):
/// `SIPSHARD_SPIN_US` (poll this long before parking when idle) and
/// `SIPSHARD_PREEMPT_MS` (the preemption timer re-armed on every poll).
/// The benchmark's floor relay applies the same, so its executor matches.
pub fn tune_executor(mut b: LocalExecutorBuilder) -> LocalExecutorBuilder {
    let num = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(us) = num("SIPSHARD_SPIN_US").filter(|&us| us > 0) {
        b = b.spin_before_park(Duration::from_micros(us.min(10_000)));
    }
    if let Some(ms) = num("SIPSHARD_PREEMPT_MS").filter(|&ms| ms > 0) {
        b = b.preempt_timer(Duration::from_millis(ms.min(10_000)));
    }
    b
}

/// Starts the shards and blocks until they stop.
///
/// Sockets are bound inside each shard before any shard starts serving, so
/// a bind error is reported here rather than left in a log.
pub fn run<R: Router + 'static>(
    cfg: ServerConfig,
    router: Arc<R>,
    logger: Logger,
) -> Result<(), RunError> {
    let stats = StatsSet::new(cfg.shard_count());
    run_with(cfg, router, logger, stats)
}

/// [`run`] with the shards counting into `stats` (one entry per shard),
/// which the control plane reads.
pub fn run_with<R: Router + 'static>(
    cfg: ServerConfig,
    router: Arc<R>,
    logger: Logger,
    stats: StatsSet,
) -> Result<(), RunError> {
    if cfg.listen.is_empty() {
        return Err(RunError::NoListen);
    }
    let n = cfg.shard_count();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mesh = MeshBuilder::<CrossShard, _>::full(n, 4096);
    let index = ConnIndex::new();
    let cfg = Arc::new(cfg);
    let (ready_tx, ready_rx) = crossbeam::channel::bounded::<Result<(), RunError>>(n);
    let mut handles = Vec::with_capacity(n);
    let own = crate::own_ports::bind_all(&cfg, n)?;
    for (i, own) in own.into_iter().enumerate() {
        let mesh = mesh.clone();
        let router = Arc::clone(&router);
        let index = Arc::clone(&index);
        let cfg = Arc::clone(&cfg);
        let logger = logger.clone();
        let stats = stats.clone();
        let ready = ready_tx.clone();
        let builder = tune_executor(
            LocalExecutorBuilder::new(Placement::Fixed(i % cpus))
                .name(&format!("shard-{i}"))
                .io_memory(1 << 20)
                .ring_depth(1024),
        );
        let handle = builder
            .spawn(move || async move {
                Shard::serve(cfg, router, index, mesh, logger, stats, own, ready).await
            })
            .map_err(|e| RunError::Executor(e.to_string()))?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(RunError::Shard("a shard exited during start-up".into())),
        }
    }
    logger.always(&format!("sipshard started: {n} shard(s) on {cpus} CPU(s)"));
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(RunError::Shard(format!("{e:?}"))),
        }
    }
    Ok(())
}
