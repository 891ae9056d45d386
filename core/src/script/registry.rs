//! The function table: every script function sipshard provides, registered
//! once with its Kamailio name and aliases, module, arity, argument kinds,
//! the route types it may run in (checked at compile time, like Kamailio's
//! `cmd_export_t`), and its implementation.
//!
//! The table does not know the cfg syntax: a front end (the native cfg
//! compiler today, a Lua KEMI binding later) turns its arguments into
//! [`CArg`]s and calls [`FnSpec::imp`].
//!
//! It also lists Kamailio functions and modules sipshard does not provide,
//! so a config using them gets "not supported by sipshard" (a migration
//! item) rather than "unknown function".

use std::collections::HashMap;
use std::sync::OnceLock;

use super::exec_ctx::Exec;
use super::functions;
use super::program::CArg;

/// Route types, as bits (Kamailio `REQUEST_ROUTE`, `FAILURE_ROUTE`, ...).
pub mod route_type {
    pub const REQUEST: u16 = 1;
    pub const FAILURE: u16 = 2;
    pub const ONREPLY: u16 = 4;
    pub const BRANCH: u16 = 8;
    pub const ONSEND: u16 = 16;
    pub const EVENT: u16 = 32;
    pub const ANY: u16 = REQUEST | FAILURE | ONREPLY | BRANCH | ONSEND | EVENT;

    /// Names of the bits set in `mask`, for messages.
    pub fn names(mask: u16) -> String {
        let all = [
            (REQUEST, "request_route"),
            (FAILURE, "failure_route"),
            (ONREPLY, "onreply_route"),
            (BRANCH, "branch_route"),
            (ONSEND, "onsend_route"),
            (EVENT, "event_route"),
        ];
        all.iter()
            .filter(|(b, _)| mask & b != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What an argument must be; the front end compiles it accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A string; pseudo-variables in it are expanded at run time.
    Str,
    /// Kamailio's `fixup_var_str_12` (`t_reply`'s reason): a string that
    /// starts with a pseudo-variable is that one pseudo-variable (the rest
    /// is ignored), any other string is sent as written (no expansion).
    StrOrPv,
    /// An integer, or a string / pseudo-variable holding one.
    Int,
    /// A regular expression, compiled once (must be constant).
    Regex,
    /// `/regex/replacement/flags`, compiled once (must be constant).
    Subst,
    /// A `|`-separated method list (`"INVITE|BYE"`), compiled once.
    Methods,
    /// An xlog level name (`L_INFO`) or number, or a string format.
    Level,
    /// A route name (`route(NAME)`).
    Route,
}

/// An implementation: returns Kamailio's return code (`>0` true, `<0`
/// false, `0` stop the script).
pub type FnImpl = fn(&mut Exec<'_, '_>, &[CArg]) -> i32;

/// One script function.
#[derive(Debug)]
pub struct FnSpec {
    /// Kamailio's name.
    pub name: &'static str,
    /// Other names that mean the same function.
    pub aliases: &'static [&'static str],
    /// Kamailio module (`"core"` for core functions).
    pub module: &'static str,
    pub min_args: u8,
    pub max_args: u8,
    /// Kind of each argument position (length = `max_args`).
    pub args: &'static [ArgKind],
    /// [`route_type`] bits the function may run in.
    pub routes: u16,
    pub imp: FnImpl,
}

/// Index of a function in [`all`].
pub type FnId = u16;

/// Every function, in module order.
pub fn all() -> &'static [&'static FnSpec] {
    static ALL: OnceLock<Vec<&'static FnSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v: Vec<&'static FnSpec> = Vec::new();
        for table in functions::TABLES {
            v.extend(table.iter());
        }
        v
    })
}

/// Looks a function up by any of its names.
pub fn find(name: &str) -> Option<(FnId, &'static FnSpec)> {
    static INDEX: OnceLock<HashMap<&'static str, FnId>> = OnceLock::new();
    let idx = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, f) in all().iter().enumerate() {
            m.insert(f.name, i as FnId);
            for a in f.aliases {
                m.insert(*a, i as FnId);
            }
        }
        m
    });
    idx.get(name).map(|&i| (i, all()[i as usize]))
}

/// Modules `loadmodule` accepts (some only carry parameters so far).
pub const MODULES: &[&str] = &[
    "sl",
    "textops",
    "textopsx",
    "maxfwd",
    "xlog",
    "sanity",
    "pv",
    "siputils",
    "corex",
    "kex",
    "ctl",
    "jsonrpcs",
    "tm",
    "tmx",
    "rr",
    "registrar",
    "usrloc",
    "auth",
    "auth_db",
    "db_text",
    "db_sqlite",
    "nathelper",
    "xhttp",
    "xhttp_prom",
];

/// Normalises `loadmodule` arguments: `"/usr/lib/x/modules/sl.so"` -> `sl`.
pub fn module_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".so").unwrap_or(base)
}

/// Kamailio modules sipshard does not provide (a migration item, not a typo).
pub const KNOWN_KAMAILIO_MODULES: &[&str] = &[
    "auth_diameter",
    "acc",
    "acc_diameter",
    "alias_db",
    "avpops",
    "benchmark",
    "cfg_rpc",
    "cfgutils",
    "counters",
    "db_mysql",
    "db_postgres",
    "db_redis",
    "debugger",
    "dialog",
    "dispatcher",
    "diversion",
    "dmq",
    "dmq_usrloc",
    "domain",
    "drouting",
    "enum",
    "exec",
    "htable",
    "http_client",
    "http_async_client",
    "ims_ipsec_pcscf",
    "ims_registrar_pcscf",
    "ims_usrloc_pcscf",
    "ims_qos",
    "ims_dialog",
    "ims_auth",
    "ims_isc",
    "ims_icscf",
    "ims_registrar_scscf",
    "ims_usrloc_scscf",
    "cdp",
    "cdp_avp",
    "ims_diameter_server",
    "ipops",
    "jansson",
    "json",
    "lcr",
    "mediaproxy",
    "mqueue",
    "msilo",
    "nat_traversal",
    "path",
    "permissions",
    "pike",
    "presence",
    "presence_xml",
    "pua",
    "pua_usrloc",
    "rtpengine",
    "rtpproxy",
    "rtimer",
    "sctp",
    "siptrace",
    "sipcapture",
    "speeddial",
    "sqlops",
    "statistics",
    "tls",
    "topoh",
    "topos",
    "uac",
    "uac_redirect",
    "uri_db",
    "userblocklist",
    "xmlrpc",
    "app_lua",
    "app_python3",
    "app_jsdt",
    "dialplan",
    "secfilter",
    "ratelimit",
    "pipelimit",
    "evapi",
    "outbound",
    "websocket",
    "auth_ephemeral",
    "regex",
    "stun",
    "utils",
    "rtjson",
    "sdpops",
    "ndb_redis",
    "log_custom",
    "kemix",
    "mtree",
    "tsilo",
    "p_usrloc",
    "carrierroute",
    "group",
    "db_cluster",
    "keepalive",
    "sst",
    "dlgs",
    "smsops",
];

/// Kamailio functions sipshard does not provide, with their module.
pub const KNOWN_KAMAILIO_FUNCTIONS: &[(&str, &str)] = &[
    ("t_release", "tm"),
    ("t_is_branch_route", "tm"),
    ("t_forward_nonack", "tm"),
    ("t_lookup_request", "tm"),
    ("t_load_contacts", "tm"),
    ("t_next_contacts", "tm"),
    ("t_precheck_trans", "tmx"),
    ("t_reply_callid", "tmx"),
    ("t_cancel_branches", "tmx"),
    ("remove_record_route", "rr"),
    ("record_route_advertised_address", "rr"),
    ("loose_route_preloaded", "rr"),
    ("lookup_branches", "registrar"),
    ("pv_auth_check", "auth"),
    ("allow_source_address", "permissions"),
    ("allow_trusted", "permissions"),
    ("allow_address", "permissions"),
    ("nat_uac_test", "nathelper"),
    ("fix_nated_contact", "nathelper"),
    ("set_contact_alias", "nathelper"),
    ("handle_ruri_alias", "nathelper"),
    ("add_contact_alias", "nathelper"),
    ("rtpproxy_manage", "rtpproxy"),
    ("rtpengine_manage", "rtpengine"),
    ("rtpengine_offer", "rtpengine"),
    ("rtpengine_answer", "rtpengine"),
    ("rtpengine_delete", "rtpengine"),
    ("pike_check_req", "pike"),
    ("sht_lock", "htable"),
    ("sht_unlock", "htable"),
    ("sht_rm", "htable"),
    ("ds_select_dst", "dispatcher"),
    ("ds_select_domain", "dispatcher"),
    ("ds_next_dst", "dispatcher"),
    ("ds_is_from_list", "dispatcher"),
    ("ds_mark_dst", "dispatcher"),
    ("enum_query", "enum"),
    ("uac_auth", "uac"),
    ("uac_replace_from", "uac"),
    ("uac_replace_to", "uac"),
    ("uac_req_send", "uac"),
    ("uac_reg_lookup", "uac"),
    ("http_client_query", "http_client"),
    ("http_async_query", "http_async_client"),
    ("handle_publish", "presence"),
    ("handle_subscribe", "presence"),
    ("sd_lookup", "speeddial"),
    ("alias_db_lookup", "alias_db"),
    ("is_domain_local", "domain"),
    ("dlg_manage", "dialog"),
    ("set_dlg_profile", "dialog"),
    ("xhttp_reply", "xhttp"),
    ("jsonrpc_dispatch", "jsonrpcs"),
    ("msg_apply_changes", "textopsx"),
    ("acc_log_request", "acc"),
    ("acc_db_request", "acc"),
    ("sip_trace", "siptrace"),
    ("ipsec_create", "ims_ipsec_pcscf"),
    ("ipsec_forward", "ims_ipsec_pcscf"),
    ("ipsec_destroy", "ims_ipsec_pcscf"),
    ("add_path", "path"),
    ("add_path_received", "path"),
    ("ds_is_from_lists", "dispatcher"),
    ("avp_check", "avpops"),
    ("avp_write", "avpops"),
    ("sql_query", "sqlops"),
    ("cfg_get", "cfgutils"),
    ("rand_event", "cfgutils"),
    ("setbflag", "core"),
    ("resetbflag", "core"),
    ("isbflagset", "core"),
    ("set_reply_close", "core"),
    ("set_forward_close", "core"),
    ("starts_with", "textops"),
    ("strip_tail", "core"),
    ("remove_hf_re", "textops"),
    ("replace", "textops"),
    ("replace_all", "textops"),
    ("subst_uri", "textops"),
    ("subst_user", "textops"),
    ("uri_param", "siputils"),
    ("add_uri_param", "siputils"),
    ("is_user", "siputils"),
    ("is_e164", "siputils"),
    ("is_uri_user_e164", "siputils"),
    ("sd_journal_print", "log_systemd"),
    ("topos_register", "topos"),
    ("ws_handle_handshake", "websocket"),
    ("t_replicate", "tm"),
    ("revert_uri", "core"),
    ("force_send_socket", "core"),
    ("send", "core"),
    ("send_tcp", "core"),
    ("log", "core"),
    ("sl_forward_reply", "sl"),
    ("send_reply_mode", "sl"),
    ("send_reply_error", "sl"),
    ("sanity_reply", "sanity"),
    ("is_maxfwd_lt", "maxfwd"),
    ("xlogl", "xlog"),
];

/// The module of a Kamailio function sipshard lacks, if it is one.
pub fn known_unsupported_function(name: &str) -> Option<&'static str> {
    KNOWN_KAMAILIO_FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_registered_once_with_consistent_arity() {
        let mut seen = std::collections::HashSet::new();
        for f in all() {
            for n in std::iter::once(&f.name).chain(f.aliases.iter()) {
                assert!(seen.insert(*n), "{n} registered twice");
                assert!(
                    known_unsupported_function(n).is_none(),
                    "{n} is both provided and listed as unsupported"
                );
            }
            assert!(f.min_args <= f.max_args, "{}", f.name);
            assert_eq!(f.args.len(), f.max_args as usize, "{}", f.name);
            assert!(
                f.module == "core" || MODULES.contains(&f.module),
                "{}: {}",
                f.name,
                f.module
            );
        }
    }

    #[test]
    fn lookup_by_alias() {
        let (a, _) = find("mf_process_maxfwd_header").unwrap();
        let (b, _) = find("maxfwd_process").unwrap();
        assert_eq!(a, b);
        assert!(find("t_relay").is_some());
        assert!(find("t_release").is_none());
        assert_eq!(known_unsupported_function("t_release"), Some("tm"));
        assert_eq!(module_name("/usr/lib/kamailio/modules/sl.so"), "sl");
        assert_eq!(
            route_type::names(route_type::REQUEST | route_type::ONREPLY),
            "request_route, onreply_route"
        );
    }
}
