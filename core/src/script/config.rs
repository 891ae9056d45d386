//! The top level of a config: global parameters (`listen=`, `alias=`,
//! `debug=`, ...), `loadmodule` and `modparam`, turned into a [`Config`].
//! Kamailio parameters that mean nothing here are accepted with a warning.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::ast::{CfgFile, ListenItem, ParamValue, TopItem};
use super::diag::{Diagnostic, Diags, SrcPos};
use super::preproc::Source;
use super::program::{ModSettings, Program, SelfAddr};
use super::registry::{self, KNOWN_KAMAILIO_MODULES};
use super::report::{MigrationKind, MigrationReport};
use crate::transport::Transport;

/// One `listen=` socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub proto: Transport,
    pub addr: SocketAddr,
    /// `advertise host:port`.
    pub advertise: Option<(String, u16)>,
    /// `name "x"`.
    pub name: Option<String>,
}

/// A `modparam` as written, for modules that read them at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModParam {
    pub module: String,
    pub param: String,
    pub value: ParamValue,
}

/// Everything a config file says.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<ListenSpec>,
    /// `alias=host[:port]`.
    pub aliases: Vec<(String, Option<u16>)>,
    /// `shards=` (None: one per CPU).
    pub shards: Option<usize>,
    /// `debug=` log level (Kamailio numbers; default 0, `L_WARN`).
    pub debug: i32,
    pub log_stderror: bool,
    /// `tcp_connection_lifetime=` seconds (Kamailio default 120).
    pub tcp_connection_lifetime_s: u64,
    /// `tcp_max_connections=` (Kamailio default 2048).
    pub tcp_max_connections: usize,
    /// `shard_ports=` (sipshard only, default on): with several shards,
    /// each relays requests from its own UDP port so responses come back
    /// to it (docs/architecture.md).
    pub shard_ports: bool,
    /// Modules named by `loadmodule` (short names).
    pub modules: Vec<String>,
    pub modparams: Vec<ModParam>,
    pub program: Arc<Program>,
    pub warnings: Vec<Diagnostic>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Vec::new(),
            aliases: Vec::new(),
            shards: None,
            debug: 0,
            log_stderror: false,
            tcp_connection_lifetime_s: 120,
            tcp_max_connections: 2048,
            shard_ports: true,
            modules: Vec::new(),
            modparams: Vec::new(),
            program: Arc::new(Program::default()),
            warnings: Vec::new(),
        }
    }
}

/// Core parameters Kamailio knows that have no effect in sipshard.
const IGNORED_PARAMS: &[&str] = &[
    "children",
    "fork",
    "auto_aliases",
    "log_facility",
    "log_prefix",
    "log_name",
    "memdbg",
    "memlog",
    "mem_summary",
    "enable_sctp",
    "mhomed",
    "tcp_accept_no_cl",
    "dns",
    "rev_dns",
    "dns_try_ipv6",
    "dns_try_naptr",
    "use_dns_cache",
    "use_dns_failover",
    "dns_srv_lb",
    "disable_tcp",
    "tcp_children",
    "tcp_accept_aliases",
    "tcp_async",
    "tcp_rd_buf_size",
    "tcp_keepalive",
    "tcp_keepidle",
    "tcp_keepintvl",
    "tcp_keepcnt",
    "enable_tls",
    "tls_max_connections",
    "mpath",
    "loadpath",
    "sip_warning",
    "maxbuffer",
    "udp_mtu",
    "check_via",
    "phone2tel",
    "latency_log",
    "latency_limit_action",
    "latency_limit_db",
    "corelog",
    "async_workers",
    "user",
    "group",
    "uid",
    "gid",
    "chroot",
    "workdir",
    "wdir",
    "mlock_pages",
    "shm_force_alloc",
    "real_time",
    "rt_prio",
    "rt_policy",
    "onsend_route_reply",
    "sql_buffer_size",
    "xavp_via_params",
    "xavp_via_fields",
    "tos",
    "pmtu_discovery",
    "max_while_loops",
    "dns_cache_init",
    "dns_retr_time",
    "dns_retr_no",
    "dns_servers_no",
    "dns_use_search_list",
    "dns_search_full_match",
    "disable_core_dump",
    "open_files_limit",
    "statistics",
    "received_route_mode",
    "log_color",
    "log_engine_type",
    "log_engine_data",
    "tcp_send_timeout",
    "tcp_connect_timeout",
    "tcp_no_connect",
    "tcp_source_ipv4",
    "tcp_source_ipv6",
    "tcp_reuse_port",
    "socket_workers",
    "kemi.onsend_route_callback",
    "port",
    "cfgengine",
];

/// Builds the config from the parsed file; the program is compiled by the
/// caller. Returns the set of loaded modules.
pub fn apply_globals(
    file: &CfgFile,
    src: &Source,
    diags: &mut Diags,
    report: &mut MigrationReport,
    check_mode: bool,
) -> (Config, ModSettings, HashSet<String>) {
    let mut cfg = Config::default();
    let mut settings = ModSettings::default();
    let mut loaded = HashSet::new();
    let mut db_urls: Vec<(&str, String, SrcPos)> = Vec::new();
    for item in &file.items {
        match item {
            TopItem::Param { name, value, at } => global(&mut cfg, &mut settings, name, value, src.pos(*at), diags),
            TopItem::Listen { item, at } => match listen(item) {
                Ok(mut specs) => cfg.listen.append(&mut specs),
                Err(msg) => diags.error(src.pos(*at), msg),
            },
            TopItem::LoadModule { path, at } => {
                let name = registry::module_name(path);
                if registry::MODULES.contains(&name) {
                    loaded.insert(name.to_string());
                    cfg.modules.push(name.to_string());
                    if name == "tm" && settings.tm.is_none() {
                        settings.tm = Some(Default::default());
                    }
                } else if KNOWN_KAMAILIO_MODULES.contains(&name) {
                    if check_mode {
                        report.add(MigrationKind::Module, name, None, src.pos(*at));
                    } else {
                        diags.error(src.pos(*at), format!("module `{name}` is not supported by sipshard"));
                    }
                    // Functions of a module we lack are reported one by one.
                    loaded.insert(name.to_string());
                } else {
                    diags.error(src.pos(*at), format!("unknown module `{name}` (from loadmodule \"{path}\")"));
                }
            }
            TopItem::ModParam { modules, param, value, at } => {
                let pos = src.pos(*at);
                let mut matched = false;
                for m in modules.split('|').map(str::trim) {
                    if !loaded.contains(m) {
                        continue;
                    }
                    matched = true;
                    if registry::MODULES.contains(&m) {
                        modparam(&mut settings, m, param, value, pos.clone(), diags);
                        if param == "db_url" && matches!(m, "usrloc" | "auth_db") {
                            let m = if m == "usrloc" { "usrloc" } else { "auth_db" };
                            db_urls.push((m, value.text(), pos.clone()));
                        }
                    }
                    cfg.modparams.push(ModParam {
                        module: m.to_string(),
                        param: param.clone(),
                        value: value.clone(),
                    });
                }
                if !matched {
                    diags.error(pos, format!("modparam for `{modules}`, which is not loaded"));
                }
            }
            TopItem::CfgVar { name, at, .. } => diags.warning(
                src.pos(*at),
                format!("cfg framework variable `{name}` is accepted but cannot be read by scripts ($sel(cfg_get...) is not supported)"),
            ),
            TopItem::CfgEngine { name, at } => {
                if name != "native" {
                    diags.error(src.pos(*at), format!("cfgengine \"{name}\" is not supported; only native scripts run"));
                }
            }
            TopItem::Route { .. } => {}
        }
    }
    check_db_modules(&db_urls, &settings, &loaded, diags);
    (cfg, settings, loaded)
}

/// A `db_url` needs its database module loaded (anywhere in the file), as
/// Kamailio's `db_bind_mod` does at start-up: usrloc binds it unless
/// `db_mode` is 0, auth_db always.
fn check_db_modules(
    urls: &[(&str, String, SrcPos)],
    settings: &ModSettings,
    loaded: &HashSet<String>,
    diags: &mut Diags,
) {
    for (module, url, pos) in urls {
        if *module == "usrloc" && settings.reg.ul_opts.db_mode == 0 {
            continue;
        }
        let needs = if url.starts_with("text://") {
            "db_text"
        } else if url.starts_with("sqlite://") {
            "db_sqlite"
        } else {
            continue; // refused by the modparam itself
        };
        if !loaded.contains(needs) {
            diags.error(
                pos.clone(),
                format!(
                    "{module} db_url `{url}` needs module {needs}: missing loadmodule \"{needs}.so\""
                ),
            );
        }
    }
}

fn global(
    cfg: &mut Config,
    settings: &mut ModSettings,
    name: &str,
    v: &ParamValue,
    pos: SrcPos,
    diags: &mut Diags,
) {
    let int = |diags: &mut Diags| -> Option<i64> {
        let r = v.as_int();
        if r.is_none() {
            diags.push(Diagnostic::expected(
                pos.clone(),
                format!("`{}`", v.text()),
                format!("a number for `{name}`"),
            ));
        }
        r
    };
    match name {
        "debug" => {
            if let Some(i) = int(diags) {
                cfg.debug = i as i32;
            }
        }
        "log_stderror" => {
            if let Some(i) = int(diags) {
                cfg.log_stderror = i != 0;
            }
        }
        "shards" => {
            if let Some(i) = int(diags) {
                if i < 1 {
                    diags.error(pos, "`shards` must be at least 1");
                } else {
                    cfg.shards = Some(i as usize);
                }
            }
        }
        "tcp_connection_lifetime" => {
            if let Some(i) = int(diags) {
                cfg.tcp_connection_lifetime_s = i.max(0) as u64;
            }
        }
        "tcp_max_connections" => {
            if let Some(i) = int(diags) {
                cfg.tcp_max_connections = i.max(0) as usize;
            }
        }
        "shard_ports" => {
            if let Some(i) = int(diags) {
                cfg.shard_ports = i != 0;
            }
        }
        "alias" => match host_port(&strip_proto(&v.text()).1) {
            Some((h, p)) => cfg.aliases.push((h, p)),
            None => diags.push(Diagnostic::expected(
                pos,
                format!("`{}`", v.text()),
                "`host[:port]` for alias",
            )),
        },
        "server_header" => settings.server_header = Some(v.text()),
        "user_agent_header" => settings.user_agent_header = Some(v.text()),
        "server_signature" => {
            if v.as_int() == Some(0) {
                settings.server_header = None;
            }
        }
        _ if IGNORED_PARAMS.contains(&name) => diags.warning(
            pos,
            format!("global parameter `{name}` has no effect in sipshard and is ignored"),
        ),
        _ => diags.error(pos, format!("unknown global parameter `{name}`")),
    }
}

fn modparam(
    settings: &mut ModSettings,
    module: &str,
    param: &str,
    v: &ParamValue,
    pos: SrcPos,
    diags: &mut Diags,
) {
    let int = |diags: &mut Diags| -> Option<i64> {
        let r = v.as_int();
        if r.is_none() {
            diags.push(Diagnostic::expected(
                pos.clone(),
                format!("`{}`", v.text()),
                format!("a number for modparam {module} {param}"),
            ));
        }
        r
    };
    match (module, param) {
        ("maxfwd", "max_limit") => {
            if let Some(i) = int(diags) {
                if !(0..=255).contains(&i) {
                    diags.error(pos, "maxfwd max_limit must be between 0 and 255");
                } else {
                    settings.maxfwd_max_limit = i as u32;
                }
            }
        }
        ("sanity", "autodrop") => settings.sanity_autodrop = int(diags).is_some_and(|i| i != 0),
        ("sanity", "noreply") => settings.sanity_noreply = int(diags).is_some_and(|i| i != 0),
        ("sanity", "default_checks") => {
            settings.sanity_default_checks = int(diags).unwrap_or(3047) as u32
        }
        ("sanity", "uri_checks") => settings.sanity_uri_checks = int(diags).unwrap_or(7) as u32,
        ("sl", "default_code") => settings.sl_default_code = int(diags).unwrap_or(500) as u16,
        ("sl", "default_reason") => settings.sl_default_reason = v.text(),
        ("rr", "append_fromtag") => settings.rr_append_fromtag = int(diags).is_some_and(|i| i != 0),
        ("rr", "enable_double_rr") => {
            if let Some(i) = int(diags) {
                match u8::try_from(i) {
                    Ok(d @ 0..=2) => settings.rr_enable_double = d,
                    _ => diags.error(pos, "rr enable_double_rr must be 0, 1 or 2"),
                }
            }
        }
        ("tm", "max_transactions") => {
            if let Some(i) = int(diags) {
                if i <= 0 {
                    diags.error(pos, "tm max_transactions must be above 0");
                } else if let Some(tm) = settings.tm.as_mut() {
                    tm.max_transactions = Some(i as usize);
                }
            }
        }
        ("tm", p) if crate::tm::timers::PARAMS.contains(&p) => {
            if let Some(i) = int(diags) {
                let tm = settings.tm.get_or_insert_with(Default::default);
                if let Err(e) = tm.timers.set_modparam(p, i.max(0) as u64) {
                    diags.error(pos, format!("modparam tm {p}: {e}"));
                }
            }
        }
        (
            "registrar" | "usrloc" | "auth" | "auth_db" | "db_text" | "db_sqlite" | "nathelper",
            _,
        ) => {
            match crate::script::functions::registrar::modparam(&mut settings.reg, module, param, v)
            {
                Ok(true) => {}
                Ok(false) => diags.warning(
                    pos,
                    format!("modparam `{param}` of module `{module}` has no effect in sipshard"),
                ),
                Err(e) => diags.error(pos, e),
            }
        }
        // Read by the runtime (`sipshard run`): the control socket and
        // the HTTP listener.
        ("ctl", "binrpc") | ("ctl" | "jsonrpcs" | "xhttp", "http") => {}
        ("xhttp_prom", _) => match crate::script::functions::xhttp_prom::modparam(
            &mut settings.prom,
            param,
            &v.text(),
        ) {
            Ok(true) => {}
            Ok(false) => diags.warning(
                pos,
                format!("modparam `{param}` of module `{module}` has no effect in sipshard"),
            ),
            Err(e) => diags.error(pos, e),
        },
        _ => diags.warning(
            pos,
            format!("modparam `{param}` of module `{module}` has no effect in sipshard"),
        ),
    }
}

fn strip_proto(s: &str) -> (Option<Transport>, String) {
    if let Some((p, rest)) = s.split_once(':') {
        if let Some(t) = Transport::from_bytes(p.as_bytes()) {
            return (Some(t), rest.to_string());
        }
    }
    (None, s.to_string())
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), Some(p.parse().ok()?))),
        Some(_) => Some((s.to_string(), None)),
        None if !s.is_empty() => Some((s.to_string(), None)),
        None => None,
    }
}

/// Parses one `listen=` item; without a protocol Kamailio listens on UDP
/// and TCP.
pub fn listen(item: &ListenItem) -> Result<Vec<ListenSpec>, String> {
    let (proto, rest) = strip_proto(&item.addr);
    let (host, port) =
        host_port(&rest).ok_or_else(|| format!("found `{}`, expected proto:ip:port", item.addr))?;
    let ip: IpAddr = host.parse().map_err(|_| {
        format!("found `{host}` in listen, expected an IP address (interface and host names are not supported)")
    })?;
    let advertise = match &item.advertise {
        None => None,
        Some(a) => {
            let (h, p) = host_port(a)
                .ok_or_else(|| format!("found `{a}`, expected advertise host[:port]"))?;
            Some((h, p))
        }
    };
    let protos = match proto {
        Some(p) => vec![p],
        None => vec![Transport::Udp, Transport::Tcp],
    };
    Ok(protos
        .into_iter()
        .map(|p| {
            let default_port = if matches!(p, Transport::Tls | Transport::Wss) {
                5061
            } else {
                5060
            };
            let port = port.unwrap_or(default_port);
            ListenSpec {
                proto: p,
                addr: SocketAddr::new(ip, port),
                advertise: advertise.clone().map(|(h, ap)| (h, ap.unwrap_or(port))),
                name: item.name.clone(),
            }
        })
        .collect())
}

/// The addresses `myself` matches: every listen address and advertised
/// address (with their ports and transports), and every alias.
pub fn self_addrs(cfg: &Config) -> Vec<SelfAddr> {
    let mut out = Vec::new();
    for l in &cfg.listen {
        out.push(SelfAddr {
            host: l.addr.ip().to_string(),
            port: Some(l.addr.port()),
            proto: Some(l.proto),
        });
        if let Some((h, p)) = &l.advertise {
            out.push(SelfAddr {
                host: h
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase(),
                port: Some(*p),
                proto: Some(l.proto),
            });
        }
    }
    for (h, p) in &cfg.aliases {
        out.push(SelfAddr {
            host: h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port: *p,
            proto: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn li(addr: &str, adv: Option<&str>) -> ListenItem {
        ListenItem {
            addr: addr.into(),
            advertise: adv.map(Into::into),
            name: None,
        }
    }

    #[test]
    fn listen_forms() {
        let l = listen(&li("udp:127.0.0.1:5070", Some("1.2.3.4"))).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].addr, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(l[0].advertise, Some(("1.2.3.4".into(), 5070)));
        let l = listen(&li("tls:[::1]", None)).unwrap();
        assert_eq!(l[0].addr, "[::1]:5061".parse().unwrap());
        let l = listen(&li("127.0.0.1", None)).unwrap();
        assert_eq!(l.len(), 2);
        assert!(listen(&li("udp:eth0:5060", None)).is_err());
    }

    #[test]
    fn host_ports() {
        assert_eq!(host_port("a.b:5060"), Some(("a.b".into(), Some(5060))));
        assert_eq!(host_port("a.b"), Some(("a.b".into(), None)));
        assert_eq!(host_port("[::1]:5"), Some(("::1".into(), Some(5))));
        assert_eq!(host_port("a:x"), None);
    }
}
