//! Registrar logic (RFC 3261 §10.3, Kamailio `registrar`), sans-IO: given
//! the current bindings of an address-of-record and what a REGISTER asks,
//! the changes to make, the bindings afterwards (the 200's Contact list),
//! or the error reply.

use crate::usrloc::Binding;

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
        }
    }
}

/// One Contact of the REGISTER.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactIn {
    pub uri: String,
    /// `;expires=`.
    pub expires: Option<u32>,
    /// `;q=` in thousandths.
    pub q: Option<i32>,
    /// `;+sip.instance=` (RFC 5626), quotes kept as sent.
    pub instance: Option<String>,
    /// `;reg-id=`.
    pub reg_id: Option<u32>,
}

/// What a REGISTER asks for, as read from the message.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub contacts: Vec<ContactIn>,
    /// `Contact: *`.
    pub star: bool,
    /// The `Expires` header.
    pub expires: Option<u32>,
    pub callid: String,
    pub cseq: u32,
    /// `Path` header values joined by `,` (when `use_path`).
    pub path: Option<String>,
    /// Where the REGISTER came from (`received` when behind NAT).
    pub received: Option<String>,
    pub user_agent: String,
    /// The local socket it arrived on, `proto:ip:port`.
    pub socket: Option<String>,
}

/// A change to the stored bindings of one AOR.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Insert, or replace the binding with the same contact URI (or the
    /// same instance and reg-id).
    Upsert(Binding),
    /// Remove the binding with this contact URI.
    Remove(Box<str>),
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

fn same_binding(b: &Binding, c: &ContactIn) -> bool {
    match (&b.instance, &c.instance, c.reg_id) {
        (Some(bi), Some(ci), Some(rid)) if rid > 0 => **bi == **ci && b.reg_id == rid,
        _ => *b.contact == *c.uri,
    }
}

/// Applies a REGISTER to `current` (the bindings not yet expired) at
/// `now` (unix seconds). `flags` are `save()`'s (0x04: one contact per
/// AOR). `ruid` names new bindings.
pub fn update(
    current: &[Binding],
    req: &Request,
    p: &Params,
    flags: u32,
    now: u64,
    mut ruid: impl FnMut() -> String,
) -> Result<Outcome, Refusal> {
    let mut bindings: Vec<Binding> = current.to_vec();
    let mut ops = Vec::new();
    if req.star {
        if req.contacts.len() > 1 || req.expires != Some(0) {
            return Err(refuse(400, "Bad Request", "Invalid contact"));
        }
        bindings.retain(|b| {
            let keep = b.callid.as_ref() == req.callid && b.cseq >= req.cseq;
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
    let mut exp = Vec::with_capacity(req.contacts.len());
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
            contact: c.uri.as_str().into(),
            received: req.received.as_deref().map(Into::into),
            path: req.path.as_deref().map(Into::into),
            expires: now + e as u64,
            q: c.q.unwrap_or(p.default_q),
            callid: req.callid.as_str().into(),
            cseq: req.cseq,
            last_modified: now,
            flags: 0,
            cflags: 0,
            user_agent: req.user_agent.as_str().into(),
            socket: req.socket.as_deref().map(Into::into),
            methods: None,
            instance: c.instance.as_deref().map(Into::into),
            reg_id: c.reg_id.unwrap_or(0),
        };
        match pos {
            Some(i) => {
                if *bindings[i].contact != *nb.contact {
                    // same instance/reg-id, new contact: replace it
                    ops.push(Op::Remove(bindings[i].contact.clone()));
                }
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
                    b.contact == nb.contact
                        || (nb.reg_id > 0
                            && nb.instance.is_some()
                            && b.instance == nb.instance
                            && b.reg_id == nb.reg_id)
                });
                match pos {
                    Some(i) => bindings[i] = nb.clone(),
                    None => bindings.push(nb.clone()),
                }
            }
        }
    }
}

/// The `Contact:` line of a 200 to REGISTER listing `bindings` with their
/// remaining expiry (empty when there is none).
pub fn contact_header(bindings: &[Binding], now: u64) -> String {
    let mut s = String::new();
    for b in bindings.iter().filter(|b| b.expires > now) {
        s.push_str(if s.is_empty() { "Contact: " } else { ", " });
        s.push('<');
        s.push_str(&b.contact);
        s.push_str(">;expires=");
        s.push_str(&(b.expires - now).to_string());
        if b.q >= 0 {
            s.push_str(&format!(";q={}", q_str(b.q)));
        }
        if let Some(r) = &b.received {
            s.push_str(";received=\"");
            s.push_str(r);
            s.push('"');
        }
        if let Some(i) = &b.instance {
            s.push_str(";+sip.instance=");
            s.push_str(i);
        }
        if b.reg_id > 0 {
            s.push_str(&format!(";reg-id={}", b.reg_id));
        }
    }
    if !s.is_empty() {
        s.push_str("\r\n");
    }
    s
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

/// The bindings in the order `lookup` uses them: highest q first
/// (unspecified counts as 1.0... below explicit 1.0? Kamailio sorts
/// unspecified as q=-1, i.e. last), then the most recently refreshed.
pub fn by_preference(b: &[Binding], now: u64) -> Vec<&Binding> {
    let mut v: Vec<&Binding> = b.iter().filter(|b| b.expires > now).collect();
    v.sort_by(|a, b| b.q.cmp(&a.q).then(b.last_modified.cmp(&a.last_modified)));
    v
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
                    uri: u.to_string(),
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
            contact_header(&o2.bindings, 110),
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
    fn q_values() {
        assert_eq!(parse_q(b"0.5"), Some(500));
        assert_eq!(q_str(500), "0.5");
        assert_eq!(q_str(1000), "1");
        assert_eq!(q_str(0), "0.0");
    }
}
