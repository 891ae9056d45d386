//! Registrar logic (RFC 3261 §10.3, Kamailio `registrar`), sans-IO: given
//! the current bindings of an address-of-record and what a REGISTER asks,
//! the changes to make, the bindings afterwards (the 200's Contact list),
//! or the error reply.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::usrloc::Binding;

pub mod methods;

/// Registrar parameters (`modparam("registrar", ...)`).
#[derive(Debug, Clone)]
pub struct Params {
    pub default_expires: u32,
    pub min_expires: u32,
    /// 0: raise a too-short expiry to `min_expires`; 1: 423 Interval Too Brief.
    pub min_expires_mode: u32,
    /// 0: no maximum.
    pub max_expires: u32,
    /// 0: no limit.
    pub max_contacts: usize,
    pub append_branches: bool,
    pub use_path: bool,
    /// `default_q` in thousandths, -1 unspecified.
    pub default_q: i32,
    /// `case_sensitive` AOR user part.
    pub case_sensitive: bool,
    /// `gruu_enabled`: a 200 to a REGISTER with `Supported: gruu` gives
    /// each binding with an instance its `pub-gruu` and `temp-gruu`.
    pub gruu_enabled: bool,
    /// `outbound_mode` (RFC 5626): 0 none, 1 supported, 2 required.
    pub outbound_mode: u32,
    /// `regid_mode`: 0 keeps `reg-id` only when outbound is used.
    pub regid_mode: u32,
    /// `flow_timer` (s): the `Flow-Timer` of outbound 200s; 0 none.
    pub flow_timer: u32,
    /// `path_mode` (with `use_path`): 0 the 200 never carries the Path,
    /// 1 when the phone has `Supported: path`, 2 (strict) and otherwise
    /// 420 (the binding is saved).
    pub path_mode: u32,
    /// `method_filtering`: `lookup()` skips bindings whose methods do not
    /// include the request's.
    pub method_filtering: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            default_expires: 3600,
            min_expires: 60,
            min_expires_mode: 0,
            max_expires: 0,
            max_contacts: 0,
            append_branches: true,
            use_path: false,
            default_q: -1,
            case_sensitive: false,
            gruu_enabled: true,
            outbound_mode: 0,
            regid_mode: 0,
            flow_timer: 0,
            path_mode: 2,
            method_filtering: false,
        }
    }
}

/// One Contact of the REGISTER.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactIn {
    pub uri: Arc<str>,
    /// `;expires=`.
    pub expires: Option<u32>,
    /// `;q=` in thousandths.
    pub q: Option<i32>,
    /// `;+sip.instance=` (RFC 5626) without its quotes: `<urn:uuid:...>`.
    pub instance: Option<String>,
    /// `;reg-id=`.
    pub reg_id: Option<u32>,
    /// The methods it accepts as Kamailio's bitmask (its `;methods=`,
    /// else the REGISTER's `Allow`); None: no restriction.
    pub methods: Option<u32>,
}

/// What a REGISTER asks for, as read from the message.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub contacts: Vec<ContactIn>,
    /// `Contact: *`.
    pub star: bool,
    /// The `Expires` header.
    pub expires: Option<u32>,
    pub callid: Arc<str>,
    pub cseq: u32,
    /// `Path` header values joined by `,` (when `use_path`).
    pub path: Option<Arc<str>>,
    /// Where the REGISTER came from (`received` when behind NAT).
    pub received: Option<Arc<str>>,
    pub user_agent: Arc<str>,
    /// The local socket it arrived on, `proto:ip:port`.
    pub socket: Option<Arc<str>>,
    /// Option tags of its `Supported` headers (None: no such header).
    pub supported: Option<Vec<String>>,
    /// Option tags of its `Require` headers.
    pub require: Vec<String>,
    /// More than one Via: a proxy (edge) sits between the phone and us.
    pub via2: bool,
    /// The top `Path` URI carries `;ob` (the edge proxy does outbound).
    pub path_ob: bool,
}

impl Request {
    /// `Supported` lists `tag`.
    pub fn supports(&self, tag: &str) -> bool {
        self.supported
            .as_ref()
            .is_some_and(|v| v.iter().any(|t| t.eq_ignore_ascii_case(tag)))
    }

    /// `Require` lists `tag`.
    pub fn requires(&self, tag: &str) -> bool {
        self.require.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}

/// A change to the stored bindings of one AOR.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Insert, or replace the binding with the same contact URI (or the
    /// same instance and reg-id).
    Upsert(Binding),
    /// Remove the binding with this contact URI.
    Remove(Arc<str>),
}

/// The result of [`update`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ops: Vec<Op>,
    /// The bindings after the update (for the 200).
    pub bindings: Vec<Binding>,
    /// Kamailio `save()` return code: 1 inserted, 2 updated, 3 deleted, 4
    /// query only.
    pub code: i32,
}

/// A REGISTER refused: the reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: &'static str,
    /// `P-Registrar-Error` text.
    pub detail: &'static str,
    /// Extra header lines (`Min-Expires: 60\r\n`).
    pub extra: String,
    /// Kamailio `save()` return code.
    pub rc: i32,
}

fn refuse(code: u16, reason: &'static str, detail: &'static str) -> Refusal {
    Refusal {
        code,
        reason,
        detail,
        extra: String::new(),
        rc: -1,
    }
}

/// The instance without its angle brackets (`urn:uuid:...`).
pub fn bare_instance(i: &str) -> &str {
    i.strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(i)
}

/// usrloc's match of a stored binding: by instance and reg-id when the
/// Contact has an instance, else by contact URI.
fn same_binding(b: &Binding, c: &ContactIn) -> bool {
    match &c.instance {
        Some(ci) => {
            b.instance
                .as_deref()
                .is_some_and(|bi| bare_instance(bi) == bare_instance(ci))
                && b.reg_id == c.reg_id.unwrap_or(0)
        }
        None => *b.contact == *c.uri,
    }
}

/// RFC 5626 checks of `save()`, as Kamailio's registrar makes them:
/// Ok(whether `reg-id` is kept) or the refusal (420, 421, 439).
pub fn outbound_check(req: &Request, p: &Params) -> Result<bool, Refusal> {
    if p.outbound_mode == 2 && req.supported.is_some() && !req.supports("outbound") {
        let mut r = refuse(
            421,
            "Extension Required",
            "No support for Outbound indicated",
        );
        r.extra = "Require: outbound\r\nSupported: outbound\r\n".into();
        return Err(r);
    }
    if p.outbound_mode == 0 && req.requires("outbound") {
        let mut r = refuse(420, "Bad Extension", "No support for Outbound on server");
        r.extra = "Unsupported: outbound\r\n".into();
        return Err(r);
    }
    if p.outbound_mode != 0 && req.via2 && !req.path_ob && p.regid_mode == 0 {
        // not the first hop and the edge proxy does not do outbound
        if req.supports("outbound") && req.contacts.first().is_some_and(|c| c.reg_id.is_some()) {
            return Err(refuse(
                439,
                "First Hop Lacks Outbound Support",
                "No support for Outbound on edge proxy",
            ));
        }
        return Ok(false);
    }
    Ok(true)
}

/// The outbound header lines of a 200 to REGISTER (after the Contact).
pub fn outbound_headers(req: &Request, p: &Params) -> String {
    let flow = |s: &mut String| {
        if p.flow_timer > 0 {
            s.push_str(&format!("Flow-Timer: {}\r\n", p.flow_timer));
        }
    };
    let mut s = String::new();
    match p.outbound_mode {
        2 => {
            s.push_str("Require: outbound\r\nSupported: outbound\r\n");
            flow(&mut s);
        }
        1 => {
            s.push_str("Supported: outbound\r\n");
            if req.requires("outbound") || req.supports("outbound") {
                s.push_str("Require: outbound\r\n");
                flow(&mut s);
            }
        }
        _ => {}
    }
    s
}

/// Applies a REGISTER to `current` (the stored bindings; expired ones
/// are left out) at `now` (unix seconds). `flags` are `save()`'s (0x04: one contact per
/// AOR). `ruid` names new bindings.
pub fn update(
    current: &[Binding],
    req: &Request,
    p: &Params,
    flags: u32,
    now: u64,
    mut ruid: impl FnMut() -> String,
) -> Result<Outcome, Refusal> {
    let mut bindings: Vec<Binding> = current
        .iter()
        .filter(|b| b.expires > now)
        .cloned()
        .collect();
    let mut ops = Vec::new();
    if req.star {
        if req.contacts.len() > 1 || req.expires != Some(0) {
            return Err(refuse(400, "Bad Request", "Invalid contact"));
        }
        bindings.retain(|b| {
            let keep = *b.callid == *req.callid && b.cseq >= req.cseq;
            if !keep {
                ops.push(Op::Remove(b.contact.clone()));
            }
            keep
        });
        return Ok(Outcome {
            ops,
            bindings,
            code: 3,
        });
    }
    if req.contacts.is_empty() {
        return Ok(Outcome {
            ops,
            bindings,
            code: 4,
        });
    }
    // expiries first: a 423 changes nothing
    let mut exp: smallvec::SmallVec<[u32; 4]> = smallvec::SmallVec::new();
    for c in &req.contacts {
        let mut e = c.expires.or(req.expires).unwrap_or(p.default_expires);
        if e != 0 && e < p.min_expires {
            if p.min_expires_mode == 1 {
                let mut r = refuse(423, "Interval Too Brief", "Interval Too Brief");
                r.extra = format!("Min-Expires: {}\r\n", p.min_expires);
                return Err(r);
            }
            e = p.min_expires;
        }
        if p.max_expires > 0 && e > p.max_expires {
            e = p.max_expires;
        }
        if let Some(q) = c.q {
            if !(0..=1000).contains(&q) {
                return Err(refuse(400, "Bad Request", "Invalid q value"));
            }
        }
        exp.push(e);
    }
    let (mut inserted, mut updated, mut deleted) = (false, false, false);
    for (c, &e) in req.contacts.iter().zip(&exp) {
        let pos = bindings.iter().position(|b| same_binding(b, c));
        if let Some(i) = pos {
            let b = &bindings[i];
            if *b.callid == *req.callid && req.cseq <= b.cseq {
                if req.cseq < b.cseq {
                    return Err(refuse(400, "Bad Request", "Invalid CSeq number"));
                }
                continue; // a retransmission: nothing changes
            }
        }
        if e == 0 {
            if let Some(i) = pos {
                let b = bindings.remove(i);
                ops.push(Op::Remove(b.contact));
                deleted = true;
            }
            continue;
        }
        let nb = Binding {
            ruid: match pos {
                Some(i) => bindings[i].ruid.clone(),
                None => ruid().into(),
            },
            contact: Arc::clone(&c.uri),
            received: req.received.clone(),
            path: req.path.clone(),
            expires: now + e as u64,
            q: c.q.unwrap_or(p.default_q),
            callid: Arc::clone(&req.callid),
            cseq: req.cseq,
            last_modified: now,
            flags: 0,
            cflags: 0,
            user_agent: Arc::clone(&req.user_agent),
            socket: req.socket.clone(),
            methods: c.methods,
            instance: c.instance.as_deref().map(Into::into),
            reg_id: c.reg_id.unwrap_or(0),
        };
        match pos {
            Some(i) => {
                // in place, also when the same instance/reg-id brings a
                // new contact (`apply` finds it by its record id)
                bindings[i] = nb.clone();
                updated = true;
            }
            None => {
                bindings.push(nb.clone());
                inserted = true;
            }
        }
        ops.push(Op::Upsert(nb));
    }
    if flags & 0x04 != 0 && bindings.len() > 1 {
        // one contact per AOR: keep the last one of this REGISTER
        if let Some(last) = ops.iter().rev().find_map(|o| match o {
            Op::Upsert(b) => Some(b.contact.clone()),
            _ => None,
        }) {
            bindings.retain(|b| {
                let keep = b.contact == last;
                if !keep {
                    ops.push(Op::Remove(b.contact.clone()));
                }
                keep
            });
        }
    }
    if p.max_contacts > 0 && bindings.len() > p.max_contacts {
        let mut r = refuse(503, "Service Unavailable", "Too many registered contacts");
        r.rc = -2;
        return Err(r);
    }
    let code = if inserted {
        1
    } else if updated {
        2
    } else if deleted {
        3
    } else {
        2
    };
    Ok(Outcome {
        ops,
        bindings,
        code,
    })
}

/// Applies `ops` to `bindings` (the writer does this against the latest
/// state, so concurrent REGISTERs for one AOR on two shards both count).
pub fn apply(bindings: &mut Vec<Binding>, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Remove(c) => bindings.retain(|b| b.contact != *c),
            Op::Upsert(nb) => {
                let pos = bindings.iter().position(|b| {
                    b.ruid == nb.ruid
                        || match &nb.instance {
                            Some(ni) => {
                                b.instance
                                    .as_deref()
                                    .is_some_and(|bi| bare_instance(bi) == bare_instance(ni))
                                    && b.reg_id == nb.reg_id
                            }
                            None => b.contact == nb.contact,
                        }
                });
                match pos {
                    Some(i) => bindings[i] = nb.clone(),
                    None => bindings.push(nb.clone()),
                }
            }
        }
    }
}

/// What a 200's Contact needs for GRUUs (RFC 5627): the AOR key and the
/// To URI's host, as Kamailio builds `pub-gruu` and `temp-gruu`.
#[derive(Debug, Clone, Copy)]
pub struct Gruu<'a> {
    pub aor: &'a str,
    pub host: &'a str,
}

impl Gruu<'_> {
    fn user_at_host(&self, out: &mut String) {
        out.push_str(self.aor);
        if !self.aor.contains('@') {
            out.push('@');
            out.push_str(self.host);
        }
    }

    /// `sip:AOR;gr=urn:uuid:...`.
    pub fn public(&self, instance: &str) -> String {
        let mut s = String::from("sip:");
        self.user_at_host(&mut s);
        s.push_str(";gr=");
        s.push_str(bare_instance(instance));
        s
    }

    /// `sip:RUID-HASH@HOST;gr`: the record id and the AOR's hash (hex
    /// digits, lowest first), which lead `lookup()` to the binding.
    pub fn temporary(&self, ruid: &str) -> String {
        let mut s = String::with_capacity(ruid.len() + self.host.len() + 20);
        s.push_str("sip:");
        s.push_str(ruid);
        s.push('-');
        let mut h = crate::usrloc::aor_hash(self.aor);
        while h != 0 {
            s.push(char::from(b"0123456789abcdef"[(h & 15) as usize]));
            h >>= 4;
        }
        s.push('@');
        s.push_str(self.host);
        s.push_str(";gr");
        s
    }
}

/// Splits a temp-gruu user part `RUID-HASH` into the record id and the
/// AOR hash.
pub fn parse_temp_gruu(user: &str) -> Option<(&str, u32)> {
    let (ruid, hex) = user.rsplit_once('-')?;
    let mut h: u32 = 0;
    for (i, c) in hex.bytes().enumerate() {
        let d = (c as char).to_digit(16)?;
        h |= d.checked_shl(4 * i as u32)?;
    }
    Some((ruid, h))
}

/// The `Contact:` line of a 200 to REGISTER listing `bindings` with their
/// remaining expiry (empty when there is none), each with `received`,
/// the GRUUs (when `gruu` is given: enabled and asked for), the instance
/// and reg-id, in Kamailio's order.
pub fn contact_header(bindings: &[Binding], now: u64, gruu: Option<Gruu<'_>>) -> String {
    let mut s = String::with_capacity(
        bindings
            .iter()
            .map(|b| b.contact.len() + b.received.as_ref().map_or(0, |r| r.len()) + 48)
            .sum::<usize>()
            + 16,
    );
    for b in bindings.iter().filter(|b| b.expires > now) {
        s.push_str(if s.is_empty() { "Contact: " } else { ", " });
        s.push('<');
        s.push_str(&b.contact);
        s.push('>');
        if b.q >= 0 {
            s.push_str(";q=");
            s.push_str(&q_str(b.q));
        }
        s.push_str(";expires=");
        push_decimal(&mut s, b.expires - now);
        if let Some(r) = &b.received {
            s.push_str(";received=\"");
            s.push_str(r);
            s.push('"');
        }
        if let Some(i) = &b.instance {
            if let Some(g) = gruu {
                s.push_str(";pub-gruu=\"");
                s.push_str(&g.public(i));
                s.push_str("\";temp-gruu=\"");
                s.push_str(&g.temporary(&b.ruid));
                s.push('"');
            }
            s.push_str(";+sip.instance=\"");
            s.push_str(i);
            s.push('"');
        }
        if b.reg_id > 0 {
            let _ = write!(s, ";reg-id={}", b.reg_id);
        }
    }
    if !s.is_empty() {
        s.push_str("\r\n");
    }
    s
}

/// Appends `n` in decimal (what `write!` does, without its machinery).
fn push_decimal(s: &mut String, mut n: u64) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&d[i..]).unwrap_or_default());
}

/// `q` in thousandths as Kamailio prints it (`0.5`, `1`).
pub fn q_str(q: i32) -> String {
    if q >= 1000 {
        return "1".into();
    }
    let mut s = format!("0.{:03}", q.max(0));
    while s.ends_with('0') && s.len() > 3 {
        s.pop();
    }
    s
}

/// `q=0.5` → 500.
pub fn parse_q(s: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(s).ok()?;
    let f: f64 = s.trim().parse().ok()?;
    if !(0.0..=1.0).contains(&f) {
        return Some(-2);
    }
    Some((f * 1000.0).round() as i32)
}

/// The bindings in the order `lookup` uses them, as Kamailio's usrloc
/// keeps them (`desc_time_order` 0): highest q first (unspecified counts
/// as -1, last), then in the order they were first registered (a refresh
/// keeps its place).
pub fn by_preference(b: &[Binding], now: u64) -> Vec<&Binding> {
    let mut v: Vec<&Binding> = b.iter().filter(|b| b.expires > now).collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.q));
    v
}

/// `lookup()`'s bindings for a request of `method` (of the
/// [`by_preference`] list): all of them without `method_filtering`, else
/// those accepting it; Err is `lookup()`'s code: -1 no binding, -2 none
/// accepts the method.
pub fn for_method<'a>(
    best: Vec<&'a Binding>,
    method: &[u8],
    filtering: bool,
) -> Result<Vec<&'a Binding>, i32> {
    if best.is_empty() {
        return Err(-1);
    }
    if !filtering {
        return Ok(best);
    }
    let v: Vec<&Binding> = best
        .into_iter()
        .filter(|b| methods::accepts(b.methods, method))
        .collect();
    if v.is_empty() {
        Err(-2)
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        contacts: &[(&str, Option<u32>)],
        expires: Option<u32>,
        callid: &str,
        cseq: u32,
    ) -> Request {
        Request {
            contacts: contacts
                .iter()
                .map(|(u, e)| ContactIn {
                    uri: (*u).into(),
                    expires: *e,
                    ..Default::default()
                })
                .collect(),
            expires,
            callid: callid.into(),
            cseq,
            ..Default::default()
        }
    }

    fn ruid() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("r{n}")
        }
    }

    #[test]
    fn insert_refresh_remove() {
        let p = Params {
            max_expires: 3600,
            ..Params::default()
        };
        let o = update(
            &[],
            &req(&[("sip:a@1.1.1.1", None)], Some(30), "c1", 1),
            &p,
            0,
            100,
            ruid(),
        )
        .unwrap();
        assert_eq!(o.code, 1);
        assert_eq!(o.bindings[0].expires, 160, "raised to min_expires");
        let o2 = update(
            &o.bindings,
            &req(&[("sip:a@1.1.1.1", Some(7200))], None, "c1", 2),
            &p,
            0,
            110,
            ruid(),
        )
        .unwrap();
        assert_eq!(o2.code, 2);
        assert_eq!(o2.bindings[0].expires, 3710);
        assert_eq!(
            contact_header(&o2.bindings, 110, None),
            "Contact: <sip:a@1.1.1.1>;expires=3600\r\n"
        );
        // out-of-order CSeq on the same Call-ID
        let e = update(
            &o2.bindings,
            &req(&[("sip:a@1.1.1.1", None)], None, "c1", 1),
            &p,
            0,
            111,
            ruid(),
        )
        .unwrap_err();
        assert_eq!((e.code, e.detail), (400, "Invalid CSeq number"));
        // second contact, then star
        let o3 = update(
            &o2.bindings,
            &req(&[("sip:a@2.2.2.2", None)], None, "c2", 1),
            &p,
            0,
            112,
            ruid(),
        )
        .unwrap();
        assert_eq!(o3.bindings.len(), 2);
        let mut star = req(&[], Some(0), "c3", 1);
        star.star = true;
        let o4 = update(&o3.bindings, &star, &p, 0, 113, ruid()).unwrap();
        assert!(o4.bindings.is_empty());
        assert_eq!(o4.ops.len(), 2);
        let mut all = o3.bindings.clone();
        apply(&mut all, &o4.ops);
        assert!(all.is_empty());
    }

    #[test]
    fn interval_too_brief_and_max_contacts() {
        let p = Params {
            min_expires_mode: 1,
            max_contacts: 1,
            ..Params::default()
        };
        let e = update(
            &[],
            &req(&[("sip:a@h", Some(10))], None, "c", 1),
            &p,
            0,
            0,
            ruid(),
        )
        .unwrap_err();
        assert_eq!(e.code, 423);
        assert_eq!(e.extra, "Min-Expires: 60\r\n");
        let o = update(
            &[],
            &req(&[("sip:a@h", None)], None, "c", 1),
            &p,
            0,
            0,
            ruid(),
        )
        .unwrap();
        let e = update(
            &o.bindings,
            &req(&[("sip:b@h", None)], None, "d", 1),
            &p,
            0,
            0,
            ruid(),
        )
        .unwrap_err();
        assert_eq!(e.code, 503);
        // 0x04 replaces instead
        let o = update(
            &o.bindings,
            &req(&[("sip:b@h", None)], None, "d", 1),
            &p,
            4,
            0,
            ruid(),
        )
        .unwrap();
        assert_eq!(o.bindings.len(), 1);
        assert_eq!(&*o.bindings[0].contact, "sip:b@h");
    }

    #[test]
    fn gruu_params_as_kamailio_builds_them() {
        // Kamailio 5.6's 200 OK for AOR `bob` registered at 127.0.0.1
        let g = Gruu {
            aor: "bob",
            host: "127.0.0.1",
        };
        assert_eq!(
            g.public("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"),
            "sip:bob@127.0.0.1;gr=urn:uuid:00000000-0000-1000-8000-000A95A0E128"
        );
        assert_eq!(
            g.temporary("uloc-6b08620b-3f08-1"),
            "sip:uloc-6b08620b-3f08-1-3c33e6@127.0.0.1;gr"
        );
        assert_eq!(
            parse_temp_gruu("uloc-6b08620b-3f08-1-3c33e6"),
            Some(("uloc-6b08620b-3f08-1", 0x6e33c3))
        );
        assert_eq!(parse_temp_gruu("nodash"), None);
        assert_eq!(parse_temp_gruu("a-xyz"), None);
    }

    #[test]
    fn same_instance_and_reg_id_replace_the_flow() {
        let p = Params::default();
        let c = |uri: &str, reg_id: u32| ContactIn {
            uri: uri.into(),
            instance: Some("<urn:uuid:a>".into()),
            reg_id: Some(reg_id),
            ..Default::default()
        };
        let mut ids = ruid();
        let mut r = req(&[], None, "c1", 1);
        r.contacts = vec![c("sip:a@10.0.0.1", 1)];
        let o = update(&[], &r, &p, 0, 0, &mut ids).unwrap();
        r.contacts = vec![c("sip:a@10.0.0.2", 2)];
        r.callid = "c2".into();
        let o = update(&o.bindings, &r, &p, 0, 0, &mut ids).unwrap();
        assert_eq!(o.bindings.len(), 2, "another reg-id is another flow");
        r.contacts = vec![c("sip:a@10.0.0.3", 1)];
        r.callid = "c3".into();
        let o2 = update(&o.bindings, &r, &p, 0, 0, &mut ids).unwrap();
        assert_eq!(o2.bindings.len(), 2);
        assert_eq!(&*o2.bindings[0].contact, "sip:a@10.0.0.3");
        assert_eq!(&*o2.bindings[0].ruid, "r1", "the flow keeps its record");
        let mut all = o.bindings.clone();
        apply(&mut all, &o2.ops);
        assert_eq!(all, o2.bindings);
    }

    #[test]
    fn outbound_modes() {
        let mut p = Params::default();
        let mut r = req(&[("sip:a@h", None)], None, "c", 1);
        r.contacts[0].reg_id = Some(1);
        r.require = vec!["outbound".into()];
        let e = outbound_check(&r, &p).unwrap_err();
        assert_eq!(
            (e.code, e.extra.as_str()),
            (420, "Unsupported: outbound\r\n")
        );
        p.outbound_mode = 1;
        p.flow_timer = 25;
        assert_eq!(outbound_check(&r, &p), Ok(true));
        assert_eq!(
            outbound_headers(&r, &p),
            "Supported: outbound\r\nRequire: outbound\r\nFlow-Timer: 25\r\n"
        );
        r.require.clear();
        assert_eq!(outbound_headers(&r, &p), "Supported: outbound\r\n");
        // behind an edge proxy that does not do outbound: 439, or reg-id dropped
        r.via2 = true;
        r.supported = Some(vec!["outbound".into()]);
        assert_eq!(outbound_check(&r, &p).unwrap_err().code, 439);
        r.supported = Some(vec![]);
        assert_eq!(outbound_check(&r, &p), Ok(false));
        r.path_ob = true;
        assert_eq!(outbound_check(&r, &p), Ok(true));
        p.outbound_mode = 2;
        assert_eq!(outbound_check(&r, &p).unwrap_err().code, 421);
        r.supported = None;
        assert_eq!(
            outbound_check(&r, &p),
            Ok(true),
            "no Supported header: as Kamailio"
        );
    }

    #[test]
    fn bindings_keep_their_methods_and_lookup_filters_on_them() {
        let mut r = req(
            &[("sip:a@1.1.1.1", None), ("sip:b@1.1.1.1", None)],
            None,
            "c1",
            1,
        );
        r.contacts[0].methods = Some(15); // Allow: INVITE, ACK, CANCEL, BYE
        r.contacts[0].q = Some(1000);
        let o = update(&[], &r, &Params::default(), 0, 100, ruid()).unwrap();
        assert_eq!(o.bindings[0].methods, Some(15));
        assert_eq!(o.bindings[1].methods, None);
        let best = || by_preference(&o.bindings, 100);
        let uris = |v: Vec<&Binding>| v.iter().map(|b| b.contact.to_string()).collect::<Vec<_>>();
        // filtering off: both, in preference order, for any method
        assert_eq!(
            uris(for_method(best(), b"MESSAGE", false).unwrap()),
            ["sip:a@1.1.1.1", "sip:b@1.1.1.1"]
        );
        // on: MESSAGE skips a, INVITE keeps both
        assert_eq!(
            uris(for_method(best(), b"MESSAGE", true).unwrap()),
            ["sip:b@1.1.1.1"]
        );
        assert_eq!(for_method(best(), b"INVITE", true).unwrap().len(), 2);
        // only a registered: -2 for MESSAGE, -1 with no binding at all
        let only_a = &o.bindings[..1];
        assert_eq!(
            for_method(by_preference(only_a, 100), b"MESSAGE", true),
            Err(-2)
        );
        assert_eq!(
            for_method(by_preference(only_a, 200_000), b"MESSAGE", true),
            Err(-1)
        );
        assert_eq!(for_method(vec![], b"INVITE", false), Err(-1));
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q(b"0.5"), Some(500));
        assert_eq!(q_str(500), "0.5");
        for n in [0, 7, 10, 3600, 4_294_967_295, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
        assert_eq!(q_str(1000), "1");
        assert_eq!(q_str(0), "0.0");
    }
}
