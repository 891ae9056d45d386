//! Modules `registrar` and `usrloc` (and the `db_text` storage they name):
//! `save`, `lookup`, `registered`, `unregister` (and nathelper's
//! `fix_nated_register`) over the process-wide
//! location table of [`crate::usrloc`], with the binding rules of
//! [`crate::registrar`]. Also holds the settings of `auth` / `auth_db`
//! (see `auth.rs`), since they share the storage.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use smallvec::SmallVec;

use crate::auth::Algorithm;
use crate::registrar::{self, ContactIn, Params, Request};
use crate::script::ast::ParamValue;
use crate::script::exec_ctx::{BranchTarget, Exec};
use crate::script::program::CArg;
use crate::script::pv::{parse_pv, PvKind, PvNames};
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::transport::Transport;
use crate::usrloc::{self, Binding, LocOptions, LocationStore, SubscriberDb};

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "fix_nated_register",
        aliases: &[],
        module: "nathelper",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST | rt::BRANCH | rt::FAILURE,
        imp: fix_nated_register,
    },
    FnSpec {
        name: "save",
        aliases: &[],
        module: "registrar",
        min_args: 1,
        max_args: 3,
        args: &[A::Str, A::Int, A::Str],
        routes: rt::REQUEST | rt::FAILURE | rt::ONREPLY,
        imp: save,
    },
    FnSpec {
        name: "lookup",
        aliases: &[],
        module: "registrar",
        min_args: 1,
        max_args: 2,
        args: &[A::Str, A::Str],
        routes: rt::REQUEST | rt::FAILURE,
        imp: lookup,
    },
    FnSpec {
        name: "registered",
        aliases: &[],
        module: "registrar",
        min_args: 1,
        max_args: 2,
        args: &[A::Str, A::Str],
        routes: rt::REQUEST | rt::FAILURE,
        imp: registered,
    },
    FnSpec {
        name: "unregister",
        aliases: &[],
        module: "registrar",
        min_args: 2,
        max_args: 3,
        args: &[A::Str, A::Str, A::Str],
        routes: rt::ANY,
        imp: unregister,
    },
];

/// Parameters of registrar, usrloc, auth and auth_db, and the tables they
/// name (opened on first use, shared by every shard).
#[derive(Debug, Clone)]
pub struct RegSettings {
    pub params: Params,
    /// usrloc `use_domain`: AOR is `user@domain` rather than `user`.
    pub use_domain: bool,
    /// usrloc `db_url` (None: the embedded default).
    pub ul_db_url: Option<String>,
    pub ul_opts: LocOptions,
    /// auth_db `db_url`.
    pub auth_db_url: Option<String>,
    /// auth_db `use_domain`: the subscriber's domain must be the realm.
    pub auth_use_domain: bool,
    /// auth `secret`.
    pub secret: Option<String>,
    /// auth `nonce_expire` (s).
    pub nonce_expire: u32,
    /// auth `algorithm`.
    pub algorithm: Option<Algorithm>,
    /// auth `qop` = "auth": challenges always offer qop=auth.
    pub qop: bool,
    /// registrar `received_avp` (`$avp(RECEIVED)`): the AVP whose value
    /// `save()` stores as the binding's `received`.
    pub received_avp: Option<String>,
    /// Its slot, resolved when the routes are compiled.
    pub received_avp_slot: Option<u32>,
    /// nathelper `received_avp`: where `fix_nated_register()` writes.
    pub nat_received_avp: Option<String>,
    pub nat_received_avp_slot: Option<u32>,
    pub store: OnceLock<Result<Arc<LocationStore>, String>>,
    pub subs: OnceLock<Result<Arc<SubscriberDb>, String>>,
}

impl Default for RegSettings {
    fn default() -> Self {
        RegSettings {
            params: Params::default(),
            use_domain: false,
            ul_db_url: None,
            ul_opts: LocOptions::default(),
            auth_db_url: None,
            auth_use_domain: false,
            secret: None,
            nonce_expire: 300,
            algorithm: None,
            qop: false,
            received_avp: None,
            received_avp_slot: None,
            nat_received_avp: None,
            nat_received_avp_slot: None,
            store: OnceLock::new(),
            subs: OnceLock::new(),
        }
    }
}

impl RegSettings {
    /// The location table (opened on first call).
    pub fn location(&self) -> Result<&Arc<LocationStore>, &str> {
        self.store
            .get_or_init(|| {
                let db = usrloc::db_of(self.ul_db_url.as_deref())?;
                usrloc::location(&db, self.ul_opts)
            })
            .as_ref()
            .map_err(|e| e.as_str())
    }

    /// The subscriber table (opened on first call).
    pub fn subscribers(&self) -> Result<&Arc<SubscriberDb>, &str> {
        self.subs
            .get_or_init(|| {
                let db = usrloc::db_of(self.auth_db_url.as_deref())?;
                usrloc::subscribers(&db)
            })
            .as_ref()
            .map_err(|e| e.as_str())
    }
}

/// Applies a modparam of registrar / usrloc / auth / auth_db / db_text.
/// Err: a message for a bad value; Ok(false): the parameter has no effect.
pub fn modparam(
    s: &mut RegSettings,
    module: &str,
    param: &str,
    v: &ParamValue,
) -> Result<bool, String> {
    let int = || {
        v.as_int()
            .ok_or_else(|| format!("modparam {module} {param}: `{}` is not a number", v.text()))
    };
    let yes = || -> Result<bool, String> {
        match v.text().to_ascii_lowercase().as_str() {
            "yes" | "on" | "true" => Ok(true),
            "no" | "off" | "false" => Ok(false),
            _ => int().map(|i| i != 0),
        }
    };
    let u32v = || int().map(|i| i.clamp(0, u32::MAX as i64) as u32);
    match (module, param) {
        ("registrar", "default_expires") => s.params.default_expires = u32v()?,
        ("registrar", "min_expires") => s.params.min_expires = u32v()?,
        ("registrar", "min_expires_mode") => s.params.min_expires_mode = u32v()?,
        ("registrar", "max_expires") => s.params.max_expires = u32v()?,
        ("registrar", "max_contacts") => s.params.max_contacts = u32v()? as usize,
        ("registrar", "append_branches") => s.params.append_branches = yes()?,
        ("registrar", "use_path") => s.params.use_path = yes()?,
        ("registrar", "case_sensitive") => s.params.case_sensitive = yes()?,
        ("registrar", "default_q") => s.params.default_q = int()?.clamp(-1, 1000) as i32,
        ("registrar", "gruu_enabled") => s.params.gruu_enabled = yes()?,
        ("registrar", "method_filtering") => s.params.method_filtering = yes()?,
        ("registrar", "path_mode") => {
            s.params.path_mode = match u32v()? {
                m @ 0..=2 => m,
                m => return Err(format!("registrar path_mode {m}: 0, 1 or 2")),
            }
        }
        ("registrar", "outbound_mode") => {
            s.params.outbound_mode = match u32v()? {
                m @ 0..=2 => m,
                m => return Err(format!("registrar outbound_mode {m}: 0, 1 or 2")),
            }
        }
        ("registrar", "regid_mode") => s.params.regid_mode = u32v()?,
        ("registrar", "flow_timer") => {
            s.params.flow_timer = match u32v()? {
                t @ 0..=999 => t,
                t => return Err(format!("registrar flow_timer {t}: at most 999")),
            }
        }
        ("registrar" | "nathelper", "received_avp") => {
            let t = v.text();
            let mut names = PvNames::default();
            match parse_pv(&t, &mut names) {
                Ok(r) if matches!(r.kind, PvKind::Avp(_)) => {
                    if module == "registrar" {
                        s.received_avp = Some(t)
                    } else {
                        s.nat_received_avp = Some(t)
                    }
                }
                _ => {
                    return Err(format!(
                        "{module} received_avp `{t}` is not an AVP (`$avp(name)`)"
                    ))
                }
            }
        }
        ("usrloc", "db_url") => {
            usrloc::db_of(Some(&v.text()))?;
            s.ul_db_url = Some(v.text())
        }
        ("usrloc", "db_mode") => s.ul_opts.db_mode = u32v()?,
        ("usrloc", "timer_interval") => s.ul_opts.timer_interval = u32v()?.max(1),
        ("usrloc", "use_domain") => s.use_domain = yes()?,
        ("auth_db", "db_url") => {
            usrloc::db_of(Some(&v.text()))?;
            s.auth_db_url = Some(v.text())
        }
        ("auth_db", "use_domain") => s.auth_use_domain = yes()?,
        ("auth_db", "calculate_ha1") | ("auth_db", "password_column") => {}
        ("auth", "secret") => s.secret = Some(v.text()),
        ("auth", "nonce_expire") => s.nonce_expire = u32v()?.max(1),
        ("auth", "algorithm") => {
            s.algorithm = Some(Algorithm::from_token(v.text().as_bytes()).ok_or_else(|| {
                format!(
                    "auth algorithm `{}` is not supported (MD5, SHA-256)",
                    v.text()
                )
            })?)
        }
        ("auth", "qop") => {
            let t = v.text();
            s.qop = match t.as_str() {
                "" => false,
                "auth" => true,
                _ => {
                    return Err(format!(
                        "auth qop `{t}` is not supported (\"\" or \"auth\")"
                    ))
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The AOR key of a URI: `user` (or `user@host` with `use_domain`),
/// lower-cased unless `case_sensitive`.
pub fn aor_of(x: &Exec<'_, '_>, uri: &[u8]) -> Option<String> {
    let s = &x.prog.settings.reg;
    super::uri_parts::with_uri_parts(uri, |p| {
        let (user, host) = p?;
        let user = user?;
        let mut aor = String::with_capacity(user.len() + host.len() + 1);
        aor.push_str(&String::from_utf8_lossy(user));
        if s.use_domain {
            aor.push('@');
            aor.push_str(&String::from_utf8_lossy(host));
        }
        if !s.params.case_sensitive {
            aor.make_ascii_lowercase();
        }
        Some(aor)
    })
}

fn store<'p>(x: &mut Exec<'p, '_>, what: &str) -> Option<&'p Arc<LocationStore>> {
    match x.prog.settings.reg.location() {
        Ok(s) => Some(s),
        Err(e) => {
            x.log_err(&format!("{what}: location table: {e}"));
            None
        }
    }
}

/// Sends a local reply with extra header lines.
pub fn reply_with(x: &mut Exec<'_, '_>, code: u16, reason: &str, headers: &str) -> i32 {
    let mark = x.st.reply_headers.len();
    x.st.reply_headers.extend_from_slice(headers.as_bytes());
    let r = x.send_reply(code, reason.as_bytes());
    x.st.reply_headers.truncate(mark);
    r
}

/// [`reply_with`] taking the header lines it was built in: they become
/// the reply's headers without a copy when the script added none.
fn reply_with_owned(x: &mut Exec<'_, '_>, code: u16, reason: &str, headers: String) -> i32 {
    if !x.st.reply_headers.is_empty() {
        return reply_with(x, code, reason, &headers);
    }
    x.st.reply_headers = headers.into_bytes();
    let r = x.send_reply(code, reason.as_bytes());
    x.st.reply_headers.clear();
    r
}

fn str_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The text of `b` shared with the `field` of a stored binding that
/// holds the same (a refresh repeats its Call-ID, User-Agent and
/// Contact), else newly allocated.
fn shared_text(
    b: &[u8],
    known: &[Binding],
    field: impl Fn(&Binding) -> Option<&Arc<str>>,
) -> Arc<str> {
    known
        .iter()
        .filter_map(field)
        .find(|s| s.as_bytes() == b)
        .cloned()
        .unwrap_or_else(|| arc_of(b))
}

/// Shared text of message bytes (one allocation).
fn arc_of(b: &[u8]) -> Arc<str> {
    match std::str::from_utf8(b) {
        Ok(s) => s.into(),
        Err(_) => String::from_utf8_lossy(b).into(),
    }
}

thread_local! {
    /// The name of the socket the last REGISTER on this thread came in
    /// on: a shard receives on few sockets, so the bindings share it.
    static SOCKET_NAME: std::cell::RefCell<Option<(Transport, SocketAddr, Arc<str>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `proto:ip:port` of a local socket, as usrloc's `socket` column.
fn socket_name(proto: Transport, local: SocketAddr) -> Arc<str> {
    SOCKET_NAME.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((p, a, name)) = &*c {
            if *p == proto && *a == local {
                return Arc::clone(name);
            }
        }
        let name: Arc<str> =
            format!("{}:{}:{}", proto.lower_name(), local.ip(), local.port()).into();
        *c = Some((proto, local, Arc::clone(&name)));
        name
    })
}

/// The headers `save()` reads besides Contact, Call-ID, CSeq and Expires,
/// found in one pass over the message's headers.
#[derive(Default)]
struct RegHeaders<'m> {
    user_agent: Option<&'m [u8]>,
    /// The values of every Supported line (None: no Supported header).
    supported: Option<Vec<String>>,
    require: Vec<String>,
    /// Path values in order.
    path: SmallVec<[&'m [u8]; 2]>,
    /// Allow lines in order.
    allow: SmallVec<[&'m [u8]; 1]>,
    /// Via values seen, counted up to 2.
    vias: usize,
    /// A Contact value is `*`.
    star: bool,
}

impl<'m> RegHeaders<'m> {
    fn of(msg: &'m crate::sip::Message) -> RegHeaders<'m> {
        use crate::sip::{HeaderName as H, Values};
        let tag = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
        let mut r = RegHeaders::default();
        for h in msg.headers() {
            match h.name {
                H::UserAgent if r.user_agent.is_none() => r.user_agent = Some(h.value),
                H::Supported => r
                    .supported
                    .get_or_insert_with(Vec::new)
                    .extend(Values::new(h.value).map(tag)),
                H::Require => r.require.extend(Values::new(h.value).map(tag)),
                H::Path => r.path.extend(Values::new(h.value)),
                H::Allow => r.allow.push(h.value),
                // a line without a comma is one value, whatever it holds
                H::Via if r.vias < 2 => match memchr::memchr(b',', h.value) {
                    None => r.vias += 1,
                    Some(_) => {
                        r.vias += crate::sip::lex::split_commas(h.value)
                            .take(2 - r.vias)
                            .count()
                    }
                },
                // as Message::contact_is_star, when the line has a `*`
                H::Contact if !r.star && memchr::memchr(b'*', h.value).is_some() => {
                    r.star = Values::new(h.value).any(|v| v == b"*")
                }
                _ => {}
            }
        }
        r
    }
}

/// Reads what the REGISTER asks for; Err is a 400's detail.
fn read_request(x: &Exec<'_, '_>, known: &[Binding]) -> Result<Request, &'static str> {
    let msg = x.msg;
    let hs = RegHeaders::of(msg);
    let mut r = Request {
        star: hs.star,
        callid: msg
            .call_id()
            .map(|c| shared_text(c, known, |b| Some(&b.callid)))
            .unwrap_or_else(|| "".into()),
        cseq: msg.cseq().map(|c| c.number).unwrap_or(0),
        user_agent: hs
            .user_agent
            .map(|u| shared_text(u, known, |b| Some(&b.user_agent)))
            .unwrap_or_else(|| "".into()),
        socket: Some(socket_name(x.inb.proto, x.inb.local)),
        ..Default::default()
    };
    r.expires = match msg.expires() {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(_)) => return Err("Invalid expires value"),
    };
    if !r.star {
        let allow = registrar::methods::of_allow(hs.allow.iter().copied());
        for c in msg.contacts() {
            let c = c.map_err(|_| "Bad Contact")?;
            // the first of each parameter, as NameAddr::param finds it
            let (mut expires, mut q, mut instance, mut reg_id) = (None, None, None, None);
            let mut methods = None;
            for p in c.params().map_while(Result::ok) {
                let is = |n: &[u8]| p.name.eq_ignore_ascii_case(n);
                if is(b"expires") {
                    expires = expires.or(Some(p.value));
                } else if is(b"q") {
                    q = q.or(Some(p.value));
                } else if is(b"+sip.instance") {
                    instance = instance.or(Some(p.value));
                } else if is(b"reg-id") {
                    reg_id = reg_id.or(Some(p.value));
                } else if is(b"methods") {
                    methods = methods.or(Some(p.value));
                }
            }
            let expires = match expires {
                None => None,
                Some(v) => Some(
                    v.and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
                        .map(|e| e.min(u32::MAX as u64) as u32)
                        .ok_or("Invalid expires value")?,
                ),
            };
            let q = match q {
                None => None,
                Some(v) => match v.and_then(registrar::parse_q) {
                    Some(q) if q >= 0 => Some(q),
                    _ => return Err("Invalid q value"),
                },
            };
            r.contacts.push(ContactIn {
                uri: shared_text(c.uri, known, |b| Some(&b.contact)),
                expires,
                q,
                instance: instance
                    .flatten()
                    .map(|i| str_of(i).trim_matches('"').to_string())
                    .filter(|i| !i.is_empty()),
                reg_id: reg_id
                    .flatten()
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()),
                methods: registrar::methods::of_contact(methods, allow)
                    .map_err(|_| "Message parse error")?,
            });
        }
    }
    r.supported = hs.supported;
    r.require = hs.require;
    r.via2 = hs.vias >= 2;
    r.path_ob = hs.path.first().is_some_and(|p| {
        let p = p.trim_ascii();
        let inner = p
            .strip_prefix(b"<")
            .and_then(|i| i.split(|&c| c == b'>').next())
            .unwrap_or(p);
        crate::sip::Uri::parse(inner).is_ok_and(|u| u.param(b"ob").is_some())
    });
    if x.prog.settings.reg.params.use_path && !hs.path.is_empty() {
        let p: Vec<String> = hs.path.iter().map(|v| str_of(v)).collect();
        r.path = Some(p.join(",").into());
    }
    Ok(r)
}

/// The value of `received_avp` for this message (set by the script or
/// `fix_nated_register`), None when unset or empty.
fn received_of(x: &Exec<'_, '_>) -> Option<Arc<str>> {
    let slot = x.prog.settings.reg.received_avp_slot? as usize;
    let v = x.st.avps.get(slot)?.last()?;
    let v = v.as_val();
    let b = v.to_bytes();
    (!b.is_empty()).then(|| arc_of(&b))
}

/// nathelper `fix_nated_register()`: the source of the request as a URI
/// (`sip:IP:PORT`, `;transport=` unless UDP) into nathelper's
/// `received_avp`, which `save()` stores as the binding's `received` when
/// registrar's `received_avp` names the same AVP. 1 (also when no AVP is
/// configured, as Kamailio).
fn fix_nated_register(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    let Some(slot) = x.prog.settings.reg.nat_received_avp_slot else {
        return 1;
    };
    let src = x.inb.src;
    let mut uri = match src.ip() {
        std::net::IpAddr::V4(ip) => format!("sip:{ip}:{}", src.port()),
        std::net::IpAddr::V6(ip) => format!("sip:[{ip}]:{}", src.port()),
    };
    if x.inb.proto != crate::transport::Transport::Udp {
        uri.push_str(";transport=");
        uri.push_str(x.inb.proto.lower_name());
    }
    let slot = slot as usize;
    if x.st.avps.len() <= slot {
        x.st.avps.resize(x.prog.avp_count.max(slot + 1), Vec::new());
    }
    x.st.avps[slot].push(crate::script::value::OwnedVal::Str(uri.into_bytes()));
    1
}

/// `save(table[, flags[, uri]])`: updates the bindings of the To URI's AOR
/// and replies (200 listing every binding, or the error).
fn save(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    let flags = args.get(1).and_then(|a| x.arg_int(a)).unwrap_or(0) as u32;
    let msg = x.msg;
    let uri: Cow<'_, [u8]> = match args.get(2) {
        Some(a) => Cow::Owned(x.arg_str(a).into_owned()),
        None => Cow::Borrowed(msg.to().map(|t| t.uri).unwrap_or_default()),
    };
    let no_reply = flags & 0x02 != 0;
    let fail =
        |x: &mut Exec<'_, '_>, code: u16, reason: &str, detail: &str, extra: &str, rc: i32| {
            if !no_reply {
                reply_with(
                    x,
                    code,
                    reason,
                    &format!("{extra}P-Registrar-Error: {detail}\r\n"),
                );
            }
            rc
        };
    let Some(aor) = aor_of(x, &uri) else {
        return fail(x, 400, "Bad Request", "Bad AOR", "", -1);
    };
    // the AOR's bindings now, whose strings the REGISTER's may share
    let known = x
        .prog
        .settings
        .reg
        .location()
        .ok()
        .and_then(|st| st.get(&aor));
    let mut req = match read_request(x, known.as_deref().unwrap_or_default()) {
        Ok(r) => r,
        Err(d) => return fail(x, 400, "Bad Request", d, "", -1),
    };
    req.received = received_of(x);
    let params = &x.prog.settings.reg.params;
    match registrar::outbound_check(&req, params) {
        Err(r) => return fail(x, r.code, r.reason, r.detail, &r.extra, r.rc),
        Ok(false) => req.contacts.iter_mut().for_each(|c| c.reg_id = None),
        Ok(true) => {}
    }
    let Some(st) = store(x, "save") else {
        return fail(
            x,
            500,
            "Server Internal Error",
            "Error while accessing location database",
            "",
            -1,
        );
    };
    let now = usrloc::now();
    let current = known.as_deref().unwrap_or_default();
    match registrar::update(current, &req, params, flags, now, || st.ruid(now)) {
        Err(r) => fail(x, r.code, r.reason, r.detail, &r.extra, r.rc),
        Ok(o) => {
            st.apply(&aor, o.ops);
            if !no_reply {
                let with_gruu = params.gruu_enabled && req.supports("gruu");
                let host = match with_gruu {
                    true => crate::sip::Uri::parse(&uri)
                        .map(|u| str_of(u.host))
                        .unwrap_or_default(),
                    false => String::new(),
                };
                let gruu = with_gruu.then_some(registrar::Gruu {
                    aor: &aor,
                    host: &host,
                });
                let mut h = registrar::contact_header(&o.bindings, now, gruu);
                // path_mode (Kamailio): 0 never echoes the Path, 1 when
                // the phone supports it, 2 also answers 420 when it does
                // not (the binding is saved all the same)
                let mut unsupported_path = false;
                if let Some(p) = &req.path {
                    let supported = req.supports("path");
                    unsupported_path = params.path_mode == 2 && !supported;
                    if unsupported_path {
                        h.push_str("Unsupported: path\r\n");
                    }
                    if params.path_mode != 0 && (supported || unsupported_path) {
                        h.push_str("Path: ");
                        h.push_str(p);
                        h.push_str("\r\n");
                    }
                }
                h.push_str(&registrar::outbound_headers(&req, params));
                if unsupported_path {
                    h.push_str("P-Registrar-Error: No support for found Path indicated\r\n");
                    reply_with_owned(x, 420, "Bad Extension", h);
                } else {
                    reply_with_owned(x, 200, "OK", h);
                }
            }
            o.code
        }
    }
}

fn target_aor(x: &mut Exec<'_, '_>, args: &[CArg], at: usize) -> Option<String> {
    let uri = match args.get(at) {
        Some(a) => x.arg_str(a).into_owned(),
        None => x.ruri().into_owned(),
    };
    aor_of(x, &uri)
}

/// Where a binding is reached: its Path (sent as `Route`) and `$du`: the
/// first Path hop, else the `received` address (NAT), else none.
fn reach(b: &Binding) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    if let Some(p) = b.path.as_deref().filter(|p| !p.is_empty()) {
        let first = p.split(',').next().unwrap_or(p).trim();
        let uri = match first.strip_prefix('<') {
            Some(r) => r.split('>').next().unwrap_or(r),
            None => first.split(';').next().unwrap_or(first),
        };
        return (Some(p.as_bytes().to_vec()), Some(uri.as_bytes().to_vec()));
    }
    let du = b.received.as_deref().filter(|r| !r.is_empty());
    (None, du.map(|r| r.as_bytes().to_vec()))
}

/// `lookup(table[, uri])`: the R-URI becomes the preferred contact
/// (highest q, then the first registered, as Kamailio) and the others
/// branches, each with its
/// own `$du` (first Path hop, else `received`) and Path. 1 found, -1 no
/// binding, -2 (`method_filtering`) bindings but none accepting the
/// request's method.
fn lookup(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let Some(aor) = target_aor(x, args, 1) else {
        return -1;
    };
    let Some(st) = store(x, "lookup") else {
        return -3;
    };
    let now = usrloc::now();
    let filtering = x.prog.settings.reg.params.method_filtering;
    let msg = x.msg;
    let method = msg.method_bytes();
    let takes = |b: &Binding| !filtering || registrar::methods::accepts(b.methods, method);
    match gruu_of(x, args) {
        GrTarget::None => {}
        GrTarget::Public(inst) => {
            // one binding of that instance, as Kamailio: the first stored
            // (oldest) of the highest q; no other branches. -2 when a
            // binding of the AOR (of any instance) refused the method.
            let Some(all) = st.get(&aor) else { return -1 };
            let mut rc = -1;
            let mut found: Option<&Binding> = None;
            for b in all.iter().filter(|b| b.expires > now) {
                if !takes(b) {
                    rc = -2;
                } else if b
                    .instance
                    .as_deref()
                    .is_some_and(|i| registrar::bare_instance(i) == inst)
                    && found.is_none_or(|f| b.q > f.q)
                {
                    found = Some(b);
                }
            }
            return match found {
                Some(b) => route_to(x, b),
                None => rc,
            };
        }
        GrTarget::Temporary(ruid, hash) => {
            return match st.by_ruid(hash, &ruid) {
                Some((_, b)) if b.expires > now && takes(&b) => route_to(x, &b),
                Some((_, b)) if b.expires > now => -2,
                _ => -1,
            };
        }
    }
    let Some(all) = st.get(&aor) else { return -1 };
    let best = match registrar::for_method(registrar::by_preference(&all, now), method, filtering) {
        Ok(v) => v,
        Err(rc) => return rc,
    };
    let b = best[0];
    route_to(x, b);
    if x.prog.settings.reg.params.append_branches {
        for o in &best[1..] {
            let (path, du) = reach(o);
            x.st.branches.push(BranchTarget {
                uri: o.contact.as_bytes().to_vec(),
                du,
                path,
            });
        }
    }
    1
}

/// What a lookup URI's `;gr` names.
enum GrTarget {
    None,
    /// `;gr=urn:uuid:...`: the instance.
    Public(String),
    /// `;gr` alone: a temp-gruu's record id and AOR hash.
    Temporary(String, u32),
}

fn gruu_of(x: &Exec<'_, '_>, args: &[CArg]) -> GrTarget {
    let uri = match args.get(1) {
        Some(a) => x.arg_str(a).into_owned(),
        None => x.ruri().into_owned(),
    };
    let Ok(u) = crate::sip::Uri::parse(&uri) else {
        return GrTarget::None;
    };
    match u.param(b"gr") {
        None => GrTarget::None,
        Some(Some(v)) if !v.is_empty() => GrTarget::Public(str_of(v)),
        Some(_) => {
            let user = u.user_unescaped().map(|u| str_of(&u)).unwrap_or_default();
            match registrar::parse_temp_gruu(&user) {
                Some((ruid, h)) => GrTarget::Temporary(ruid.to_string(), h),
                None => GrTarget::None,
            }
        }
    }
}

/// The R-URI becomes the binding's contact, `$du`/Path its own; 1.
fn route_to(x: &mut Exec<'_, '_>, b: &Binding) -> i32 {
    x.st.new_ruri = Some(b.contact.as_bytes().to_vec());
    let (path, du) = reach(b);
    if path.is_some() {
        x.st.path = path;
    }
    if du.is_some() {
        x.st.du = du;
    }
    1
}

/// `registered(table[, uri])`: 1 when the AOR has a binding.
fn registered(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let Some(aor) = target_aor(x, args, 1) else {
        return -1;
    };
    let Some(st) = store(x, "registered") else {
        return -1;
    };
    let now = usrloc::now();
    match st.get(&aor) {
        Some(v) if v.iter().any(|b| b.expires > now) => 1,
        _ => -1,
    }
}

/// `unregister(table, uri[, ruid])`: removes the AOR's bindings (or the
/// one with that ruid).
fn unregister(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let uri = x.arg_str(&args[1]).into_owned();
    let Some(aor) = aor_of(x, &uri) else {
        return -1;
    };
    let Some(st) = store(x, "unregister") else {
        return -1;
    };
    let Some(cur) = st.get(&aor) else { return -1 };
    match args.get(2) {
        None => st.remove_aor(&aor),
        Some(a) => {
            let ruid = x.arg_str(a).into_owned();
            let Some(b) = cur.iter().find(|b| b.ruid.as_bytes() == ruid) else {
                return -1;
            };
            st.apply(&aor, vec![registrar::Op::Remove(b.contact.clone())]);
        }
    }
    1
}
