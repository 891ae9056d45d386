//! `sipshard run`: compile the config and start the shards.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sipshard_core::script::Program;
use sipshard_core::script::{self, Config, ListenSpec};
use sipshard_core::transport::Transport;
use sipshard_shards::control::reload::{
    Compiled, Compiler, ConfigReloader, Reload, ReloadableRouter,
};
use sipshard_shards::control::{http, paths, signals, unix, Control};
use sipshard_shards::interfaces::local_addrs;
use sipshard_shards::logger::{LogFormat, Logger};
use sipshard_shards::metrics::StatsSet;
use sipshard_shards::server::{ListenAddr, ServerConfig};

use crate::defines::parse_define;

/// The built-in default config (`docs/examples/default.cfg`).
pub const DEFAULT_CFG: &str = include_str!("../../docs/examples/default.cfg");

#[derive(clap::Args)]
pub struct RunArgs {
    /// Config file (kamailio.cfg syntax); without it, the built-in default.
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Define a preprocessor symbol, as kamailio -A does.
    #[arg(short = 'A', value_name = "NAME[=VALUE]")]
    defines: Vec<String>,
    /// Control socket for `sipshard ctl` (default: modparam("ctl",
    /// "binrpc", "unix:PATH"), else the runtime directory).
    #[arg(long = "ctl-socket", value_name = "PATH")]
    ctl_socket: Option<PathBuf>,
    /// HTTP listener for /metrics and POST /RPC (default:
    /// modparam("ctl", "http", "ADDR:PORT"), else none).
    #[arg(long = "http", value_name = "ADDR:PORT")]
    http: Option<SocketAddr>,
    /// Do not record per-message metrics (received, sent, route latency):
    /// to measure what recording costs (bench/scripts/metrics-overhead.sh).
    #[arg(long = "no-metrics")]
    no_metrics: bool,
    /// Log line format: plain or json.
    #[arg(long = "log-format", value_name = "FORMAT", default_value = "plain")]
    log_format: LogFormat,
}

/// Compiles like [`compile`] but returns the diagnostics (file:line:column,
/// as `sipshard check` prints them) as text: for `cfg.reload`.
pub fn compile_text(file: Option<&PathBuf>, defines: &[String]) -> Result<Config, String> {
    let defs = defines
        .iter()
        .map(|d| parse_define(d).map_err(|e| format!("-A {d}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let result = match file {
        Some(path) => script::compile_file(path, &defs),
        None => script::compile_str("<built-in default config>", DEFAULT_CFG, &defs),
    };
    result.map_err(|diags| {
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let mut text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        text.push(format!("{errors} error(s)"));
        text.join("\n")
    })
}

/// Fits a compiled config to this host: wildcard and missing `listen=`
/// expanded to the interface addresses, `myself` knowing all of them.
fn for_this_host(mut cfg: Config) -> Config {
    let expanded = expand_listen(&cfg.listen, &local_addrs());
    if expanded != cfg.listen {
        cfg.listen = expanded;
        let myself = script::config::self_addrs(&cfg);
        // The program was just compiled, so nothing else holds it yet.
        if let Some(p) = Arc::get_mut(&mut cfg.program) {
            p.myself = myself;
        }
    }
    cfg
}

/// `cfg.reload` (and SIGHUP) for a config file: compiles it again with the
/// same defines and swaps the program on every shard.
fn reloader(
    file: PathBuf,
    defines: Vec<String>,
    router: Arc<ReloadableRouter<Program>>,
    running: ServerConfig,
    logger: Logger,
) -> Arc<dyn Reload> {
    let compile: Compiler<Program> = Box::new(move || {
        let cfg = for_this_host(compile_text(Some(&file), &defines)?);
        Ok(Compiled {
            server: server_config(&cfg),
            warnings: cfg.warnings.iter().map(|w| w.to_string()).collect(),
            program: cfg.program,
        })
    });
    Arc::new(ConfigReloader::new(router, running, compile, logger))
}

/// Compiles the config of `file` (or the built-in one), printing every
/// diagnostic; None when it has errors.
pub fn compile(file: Option<&PathBuf>, defines: &[String]) -> Option<Config> {
    let mut defs = Vec::new();
    for d in defines {
        match parse_define(d) {
            Ok(d) => defs.push(d),
            Err(e) => {
                eprintln!("-A {d}: {e}");
                return None;
            }
        }
    }
    let result = match file {
        Some(path) => script::compile_file(path, &defs),
        None => script::compile_str("<built-in default config>", DEFAULT_CFG, &defs),
    };
    match result {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("{w}");
            }
            Some(cfg)
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            let errors = diags.iter().filter(|d| d.is_error()).count();
            eprintln!("{errors} error(s): not starting (see `sipshard check -f FILE` for a migration report)");
            None
        }
    }
}

/// Kamailio's behaviour for `listen=` on a wildcard address, or no
/// `listen=` at all (then UDP and TCP on port 5060): one socket per
/// interface address, so Via advertises a real address and `myself`
/// knows every one of them.
fn expand_listen(listen: &[ListenSpec], interfaces: &[IpAddr]) -> Vec<ListenSpec> {
    let defaults;
    let specs = if listen.is_empty() {
        defaults = [Transport::Udp, Transport::Tcp]
            .into_iter()
            .flat_map(|proto| {
                [
                    ListenSpec {
                        proto,
                        addr: SocketAddr::from(([0, 0, 0, 0], 5060)),
                        advertise: None,
                        name: None,
                    },
                    ListenSpec {
                        proto,
                        addr: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 5060)),
                        advertise: None,
                        name: None,
                    },
                ]
            })
            .collect::<Vec<_>>();
        &defaults[..]
    } else {
        listen
    };
    let mut out: Vec<ListenSpec> = Vec::new();
    for l in specs {
        if l.addr.ip().is_unspecified() {
            for ip in interfaces
                .iter()
                .filter(|ip| ip.is_ipv6() == l.addr.is_ipv6())
            {
                let spec = ListenSpec {
                    addr: SocketAddr::new(*ip, l.addr.port()),
                    ..l.clone()
                };
                if !out.contains(&spec) {
                    out.push(spec);
                }
            }
        } else if !out.contains(l) {
            out.push(l.clone());
        }
    }
    out
}

/// The runtime's view of a compiled config.
pub fn server_config(cfg: &Config) -> ServerConfig {
    let listen = cfg
        .listen
        .iter()
        .map(|l| ListenAddr {
            proto: l.proto,
            addr: l.addr,
            advertise: l.advertise.clone(),
        })
        .collect();
    let mut s = ServerConfig::new(listen);
    s.shards = cfg.shards.unwrap_or(0);
    s.debug = cfg.debug;
    s.tcp_idle = Duration::from_secs(cfg.tcp_connection_lifetime_s.max(1));
    s.tcp_max_connections = cfg.tcp_max_connections.max(1);
    s.shard_ports = cfg.shard_ports;
    s
}

pub fn run(a: RunArgs) -> i32 {
    let Some(cfg) = compile(a.file.as_ref(), &a.defines) else {
        return 1;
    };
    let cfg = for_this_host(cfg);
    let server = server_config(&cfg);
    // Before any thread starts, so that all inherit the block.
    if let Err(e) = signals::block_sighup() {
        eprintln!("sipshard: {e}");
    }
    let logger = Logger::start_with(cfg.debug, a.log_format);
    for l in &server.listen {
        logger.always(&format!("listening on {}:{}", l.proto, fmt_addr(l.addr)));
    }
    let stats = StatsSet::new(server.shard_count());
    if a.no_metrics {
        stats.set_recording(false);
    }
    let router = Arc::new(ReloadableRouter::new(Arc::clone(&cfg.program)));
    let reload = a.file.clone().map(|file| {
        reloader(
            file,
            a.defines.clone(),
            Arc::clone(&router),
            server.clone(),
            logger.clone(),
        )
    });
    let version = format!("sipshard {}", env!("CARGO_PKG_VERSION"));
    let control = Arc::new(Control::new(
        &version,
        stats.clone(),
        logger.clone(),
        reload.clone(),
    ));
    let socket = a
        .ctl_socket
        .clone()
        .or_else(|| paths::socket_from_modparams(&cfg.modparams))
        .unwrap_or_else(paths::default_socket);
    // A socket held by another server does not stop this one: it runs
    // without a control socket and says so.
    match unix::serve(Arc::clone(&control), &socket) {
        Ok(()) => logger.always(&format!("control socket: {}", socket.display())),
        Err(e) => logger.always(&format!("no control socket: {e}")),
    }
    let http_addr = match a
        .http
        .map(Ok)
        .or_else(|| paths::http_from_modparams(&cfg.modparams).transpose())
    {
        Some(Ok(addr)) => Some(addr),
        Some(Err(e)) => {
            eprintln!("sipshard: {e}");
            return 1;
        }
        None => None,
    };
    if let Some(addr) = http_addr {
        match http::serve(Arc::clone(&control), addr) {
            Ok(bound) => logger.always(&format!(
                "control http: http://{bound}/metrics, JSON-RPC on POST /RPC"
            )),
            Err(e) => {
                eprintln!("sipshard: {e}");
                return 1;
            }
        }
    }
    if let Some(r) = reload {
        if let Err(e) = signals::reload_on_sighup(r, logger.clone()) {
            logger.always(&format!("SIGHUP will not reload: {e}"));
        }
    }
    match sipshard_shards::run_with(server, router, logger.clone(), stats) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sipshard: {e}");
            1
        }
    }
}

fn fmt_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_listen_means_every_interface_on_5060() {
        let ifs: Vec<IpAddr> = vec![
            "127.0.0.1".parse().unwrap(),
            "192.0.2.7".parse().unwrap(),
            "::1".parse().unwrap(),
        ];
        let out = expand_listen(&[], &ifs);
        let got: Vec<String> = out
            .iter()
            .map(|l| format!("{}:{}", l.proto, l.addr))
            .collect();
        assert_eq!(
            got,
            [
                "udp:127.0.0.1:5060",
                "udp:192.0.2.7:5060",
                "udp:[::1]:5060",
                "tcp:127.0.0.1:5060",
                "tcp:192.0.2.7:5060",
                "tcp:[::1]:5060"
            ]
        );
    }

    #[test]
    fn explicit_addresses_are_kept_and_wildcards_expanded() {
        let ifs: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap()];
        let listen = vec![
            ListenSpec {
                proto: Transport::Udp,
                addr: "127.0.0.1:5070".parse().unwrap(),
                advertise: None,
                name: None,
            },
            ListenSpec {
                proto: Transport::Tcp,
                addr: "0.0.0.0:5080".parse().unwrap(),
                advertise: None,
                name: None,
            },
        ];
        let got: Vec<String> = expand_listen(&listen, &ifs)
            .iter()
            .map(|l| format!("{}:{}", l.proto, l.addr))
            .collect();
        assert_eq!(
            got,
            [
                "udp:127.0.0.1:5070",
                "tcp:127.0.0.1:5080",
                "tcp:192.0.2.7:5080"
            ]
        );
    }

    #[test]
    fn the_built_in_default_config_compiles() {
        let cfg = compile(None, &[]).expect("default config compiles");
        assert_eq!(cfg.listen.len(), 2);
    }
}
