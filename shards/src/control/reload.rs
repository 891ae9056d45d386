//! Hot reload: a [`Router`] whose program can be replaced while the shards
//! run, and the `cfg.reload` logic that compiles the config again and
//! swaps it in.
//!
//! Each message loads the current program once and runs start to end on
//! it, so a reload never changes the program under a message in flight.
//! A shard notices the new generation on its next message and builds fresh
//! per-shard state (`$var`s) for the new program; the old program is freed
//! when the last message using it finishes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use sipshard_core::route_io::{Inbound, RouteEnv, Router, TmReply};
use sipshard_core::sip::Message;

use crate::logger::Logger;
use crate::server::ServerConfig;

/// A program and the generation it was loaded as (1 at start).
struct Versioned<P> {
    generation: u64,
    program: Arc<P>,
}

/// A router whose program can be swapped atomically.
pub struct ReloadableRouter<P: Router> {
    current: ArcSwap<Versioned<P>>,
}

/// A shard's state for one generation of the program.
pub struct GenState<S> {
    generation: u64,
    state: S,
}

impl<P: Router> ReloadableRouter<P> {
    pub fn new(program: Arc<P>) -> ReloadableRouter<P> {
        ReloadableRouter {
            current: ArcSwap::from_pointee(Versioned {
                generation: 1,
                program,
            }),
        }
    }

    /// Installs `program` for every message that starts from now on;
    /// returns its generation.
    pub fn swap(&self, program: Arc<P>) -> u64 {
        let generation = self.generation() + 1;
        self.current.store(Arc::new(Versioned {
            generation,
            program,
        }));
        generation
    }

    /// The generation of the program new messages run on.
    pub fn generation(&self) -> u64 {
        self.current.load().generation
    }

    /// The program new messages run on.
    pub fn program(&self) -> Arc<P> {
        Arc::clone(&self.current.load().program)
    }

    fn run(
        &self,
        state: &mut GenState<P::ShardState>,
        shard: usize,
        f: impl FnOnce(&P, &mut P::ShardState),
    ) {
        let cur = self.current.load();
        if state.generation != cur.generation {
            *state = GenState {
                generation: cur.generation,
                state: cur.program.new_shard_state(shard),
            };
        }
        f(&cur.program, &mut state.state);
    }
}

impl<P: Router> Router for ReloadableRouter<P> {
    type ShardState = GenState<P::ShardState>;

    fn new_shard_state(&self, shard: usize) -> Self::ShardState {
        let cur = self.current.load();
        GenState {
            generation: cur.generation,
            state: cur.program.new_shard_state(shard),
        }
    }

    fn on_request(
        &self,
        msg: Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) {
        let shard = env.shard();
        self.run(state, shard, |p, s| p.on_request(msg, inb, env, s));
    }

    fn on_reply(
        &self,
        msg: Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) {
        let shard = env.shard();
        self.run(state, shard, |p, s| p.on_reply(msg, inb, env, s));
    }

    /// The table is made once at start: tm modparams need a restart.
    fn tm_config(&self) -> Option<sipshard_core::tm::table::TableConfig> {
        self.current.load().program.tm_config()
    }

    fn on_failure(
        &self,
        tx: sipshard_core::tm::proxy::TxId,
        code: u16,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) {
        let shard = env.shard();
        self.run(state, shard, |p, s| p.on_failure(tx, code, env, s));
    }

    fn has_tm_reply_routes(&self) -> bool {
        self.current.load().program.has_tm_reply_routes()
    }

    fn on_tm_reply(
        &self,
        tx: sipshard_core::tm::proxy::TxId,
        branch: u8,
        msg: &Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) -> TmReply {
        let shard = env.shard();
        let mut verdict = TmReply::Keep;
        self.run(state, shard, |p, s| {
            verdict = p.on_tm_reply(tx, branch, msg, inb, env, s);
        });
        verdict
    }
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Generation of the program now running.
    pub generation: u64,
    /// Parameters that changed in the file but only take effect after a
    /// restart (`listen`, `shards`, ...), each with old and new values.
    pub needs_restart: Vec<String>,
    /// Parameters that changed and were applied (`debug`).
    pub applied: Vec<String>,
    /// Compiler warnings of the new config.
    pub warnings: Vec<String>,
}

/// Something that can reload the running configuration.
pub trait Reload: Send + Sync {
    /// Reloads; on failure the running program is untouched and the error
    /// is the compiler's diagnostics (file:line:column) or the reason.
    fn reload(&self) -> Result<ReloadOutcome, String>;
    /// Reloads done and refused since start.
    fn counts(&self) -> (u64, u64);
    /// Generation of the program now running.
    fn generation(&self) -> u64;
}

/// A freshly compiled configuration.
pub struct Compiled<P> {
    pub server: ServerConfig,
    pub program: Arc<P>,
    pub warnings: Vec<String>,
}

/// Compiles the config again, as `run` did at start (same file, same
/// defines); the error is the diagnostics text.
pub type Compiler<P> = Box<dyn Fn() -> Result<Compiled<P>, String> + Send + Sync>;

/// `cfg.reload` for a [`ReloadableRouter`].
pub struct ConfigReloader<P: Router> {
    router: Arc<ReloadableRouter<P>>,
    compile: Compiler<P>,
    /// The runtime parameters in force (those given at start).
    running: Mutex<ServerConfig>,
    logger: Logger,
    done: AtomicU64,
    refused: AtomicU64,
}

impl<P: Router> ConfigReloader<P> {
    pub fn new(
        router: Arc<ReloadableRouter<P>>,
        running: ServerConfig,
        compile: Compiler<P>,
        logger: Logger,
    ) -> ConfigReloader<P> {
        ConfigReloader {
            router,
            compile,
            running: Mutex::new(running),
            logger,
            done: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }
}

/// The parameters that differ between `old` and `new` and cannot change
/// while the server runs.
pub fn restart_changes(old: &ServerConfig, new: &ServerConfig) -> Vec<String> {
    let mut out = Vec::new();
    let listen = |c: &ServerConfig| {
        c.listen
            .iter()
            .map(|l| format!("{}:{}", l.proto, l.addr))
            .collect::<Vec<_>>()
            .join(",")
    };
    if old.listen != new.listen {
        out.push(format!("listen: {} -> {}", listen(old), listen(new)));
    }
    if old.shard_count() != new.shard_count() {
        out.push(format!(
            "shards: {} -> {}",
            old.shard_count(),
            new.shard_count()
        ));
    }
    if old.tcp_idle != new.tcp_idle {
        out.push(format!(
            "tcp_connection_lifetime: {} -> {}",
            old.tcp_idle.as_secs(),
            new.tcp_idle.as_secs()
        ));
    }
    if old.tcp_max_connections != new.tcp_max_connections {
        out.push(format!(
            "tcp_max_connections: {} -> {}",
            old.tcp_max_connections, new.tcp_max_connections
        ));
    }
    out
}

impl<P: Router> Reload for ConfigReloader<P> {
    fn reload(&self) -> Result<ReloadOutcome, String> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let compiled = match (self.compile)() {
            Ok(c) => c,
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let needs_restart = restart_changes(&running, &compiled.server);
        let mut applied = Vec::new();
        if compiled.server.debug != running.debug {
            applied.push(format!(
                "debug: {} -> {}",
                running.debug, compiled.server.debug
            ));
            self.logger.set_level(compiled.server.debug);
            running.debug = compiled.server.debug;
        }
        let generation = self.router.swap(compiled.program);
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(ReloadOutcome {
            generation,
            needs_restart,
            applied,
            warnings: compiled.warnings,
        })
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    fn generation(&self) -> u64 {
        self.router.generation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ListenAddr;
    use sipshard_core::route_io::{LocalSocket, Outbound};
    use sipshard_core::transport::Transport;

    /// A router that answers every message with its own tag and counts
    /// messages in its shard state.
    struct Tag(u8);
    impl Router for Tag {
        type ShardState = u32;
        fn new_shard_state(&self, _: usize) -> u32 {
            0
        }
        fn on_request(&self, _: Message, i: &Inbound, e: &mut dyn RouteEnv, s: &mut u32) {
            *s += 1;
            e.send(Outbound {
                proto: i.proto,
                local: i.local,
                dst: i.src,
                conn: None,
                bytes: vec![self.0, *s as u8],
            });
        }
        fn on_reply(&self, m: Message, i: &Inbound, e: &mut dyn RouteEnv, s: &mut u32) {
            self.on_request(m, i, e, s)
        }
    }

    #[derive(Default)]
    struct Env(Vec<Outbound>);
    impl RouteEnv for Env {
        fn resolve(
            &mut self,
            _: &str,
            _: Option<u16>,
            _: Transport,
        ) -> Option<std::net::SocketAddr> {
            None
        }
        fn local_for(&self, _: std::net::SocketAddr, _: Transport) -> Option<LocalSocket> {
            None
        }
        fn log(&mut self, _: i32, _: &str) {}
        fn log_enabled(&self, _: i32) -> bool {
            false
        }
        fn send(&mut self, out: Outbound) {
            self.0.push(out)
        }
        fn shard(&self) -> usize {
            0
        }
    }

    fn msg() -> Message {
        Message::parse(
            b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a>;tag=1\r\nTo: <sip:b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn swap_changes_program_and_resets_shard_state() {
        let r = ReloadableRouter::new(Arc::new(Tag(1)));
        let mut st = r.new_shard_state(0);
        let inb = Inbound {
            proto: Transport::Udp,
            src: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:2".parse().unwrap(),
            conn: None,
        };
        let mut env = Env::default();
        r.on_request(msg(), &inb, &mut env, &mut st);
        r.on_request(msg(), &inb, &mut env, &mut st);
        assert_eq!(r.swap(Arc::new(Tag(2))), 2);
        r.on_request(msg(), &inb, &mut env, &mut st);
        let got: Vec<Vec<u8>> = env.0.into_iter().map(|o| o.bytes).collect();
        assert_eq!(got, vec![vec![1, 1], vec![1, 2], vec![2, 1]]);
    }

    fn server(port: u16, shards: usize) -> ServerConfig {
        let mut s = ServerConfig::new(vec![ListenAddr {
            proto: Transport::Udp,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            advertise: None,
        }]);
        s.shards = shards;
        s
    }

    #[test]
    fn refused_reload_keeps_program_and_restart_params_are_reported() {
        let r = Arc::new(ReloadableRouter::new(Arc::new(Tag(1))));
        let flip = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = Arc::clone(&flip);
        let compile: Compiler<Tag> = Box::new(move || {
            if f.load(Ordering::Relaxed) {
                Ok(Compiled {
                    server: server(5070, 4),
                    program: Arc::new(Tag(3)),
                    warnings: vec![],
                })
            } else {
                Err("a.cfg:3:5: error: expected `;`".into())
            }
        });
        let rl = ConfigReloader::new(Arc::clone(&r), server(5060, 2), compile, Logger::start(0));
        assert_eq!(rl.reload().unwrap_err(), "a.cfg:3:5: error: expected `;`");
        assert_eq!(r.generation(), 1);
        assert_eq!(r.program().0, 1);
        flip.store(true, Ordering::Relaxed);
        let out = rl.reload().unwrap();
        assert_eq!(out.generation, 2);
        assert_eq!(r.program().0, 3);
        assert_eq!(
            out.needs_restart,
            vec![
                "listen: udp:127.0.0.1:5060 -> udp:127.0.0.1:5070".to_string(),
                "shards: 2 -> 4".to_string()
            ]
        );
        assert_eq!(rl.counts(), (1, 1));
    }
}
