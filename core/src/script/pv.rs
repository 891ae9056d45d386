//! Pseudo-variables (Kamailio module `pv`, `src/modules/pv/pv.c`) and
//! transformations (`src/modules/pv/pv_trans.c`), parsed once at compile
//! time into enums so nothing is looked up by name per message.
//!
//! Also the format strings of function arguments and `xlog` (`"Got $rs
//! from $si"`), which are literal text with pseudo-variables in between.

use std::collections::HashMap;

/// Which value a pseudo-variable names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PvKind {
    /// `$ru` request URI (as rewritten so far).
    Ru,
    /// `$rU` user of the request URI.
    RUser,
    /// `$rd` host of the request URI.
    RDomain,
    /// `$rp` port of the request URI (5060 when absent? no: empty string).
    RPort,
    /// `$rP` transport of the request URI (`udp` when absent).
    RProto,
    /// `$ou` original request URI.
    Ou,
    /// `$oU` original request URI user.
    OUser,
    /// `$rm` method (of a reply: the CSeq method).
    Rm,
    /// `$rs` reply status.
    Rs,
    /// `$rr` reply reason.
    Rr,
    /// `$T_reply_code`: in `failure_route`, the best response's code.
    TReplyCode,
    /// `$T_branch_idx`: the branch in `branch_route` / `onreply_route`.
    TBranchIdx,
    /// `$T_req(pv)`: `pv` read from the transaction's request (in
    /// `onreply_route` / `reply_route`; null elsewhere, as Kamailio's tmx).
    TReq(Box<PvRef>),
    /// `$T_rpl(pv)`: `pv` read from the picked branch's received reply (in
    /// `failure_route`; null elsewhere and after a local timeout).
    TRpl(Box<PvRef>),
    Fu,
    FUser,
    Fd,
    Fn,
    Ft,
    Tu,
    TUser,
    Td,
    Tn,
    Tt,
    /// `$ci` Call-ID.
    Ci,
    /// `$cs` CSeq number.
    Cs,
    /// `$ct` Contact header body.
    Ct,
    /// `$ua` User-Agent.
    Ua,
    /// `$si` source IP.
    Si,
    /// `$sp` source port.
    Sp,
    /// `$Ri` local IP the message arrived on.
    Ri,
    /// `$Rp` local port the message arrived on.
    Rp,
    /// `$pr` / `$proto` transport it arrived over.
    Proto,
    /// `$du` destination URI.
    Du,
    /// `$hdr(Name)`.
    Hdr(String),
    /// `$ml` message length.
    Ml,
    /// `$mb` whole message.
    Mb,
    /// `$rb` body.
    Rb,
    /// `$var(name)`: shard-wide slot.
    Var(u32),
    /// `$avp(name)`: per-message slot.
    Avp(u32),
    /// `$retcode` / `$rc` / `$?`.
    RetCode,
    /// `$null`.
    Null,
}

/// A transformation applied after reading (`$(ru{uri.user})`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    Len,
    ToLower,
    ToUpper,
    /// `{s.int}`
    ToInt,
    /// `{s.substr,offset,length}`; a negative offset counts from the end,
    /// length 0 means to the end.
    Substr(i64, i64),
    /// `{s.select,index,separator}`; negative index counts from the end.
    Select(i64, u8),
    UriUser,
    UriHost,
    UriPort,
    NameAddrUri,
}

/// `[*]`: every value (`$(avp(x)[*])`), kept in [`PvRef::index`].
pub const INDEX_ALL: i32 = i32::MIN;

/// A compiled pseudo-variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvRef {
    pub kind: PvKind,
    /// `[n]` index (negative from the end); None = the first/top one;
    /// [`INDEX_ALL`] for `[*]` (`$avp` only).
    pub index: Option<i32>,
    pub trans: Vec<Transform>,
}

impl PvRef {
    /// Whether scripts may assign to it (`$ru = ...`).
    pub fn is_writable(&self) -> bool {
        self.trans.is_empty()
            && matches!(
                self.kind,
                PvKind::Ru
                    | PvKind::RUser
                    | PvKind::RDomain
                    | PvKind::RPort
                    | PvKind::Du
                    | PvKind::Var(_)
                    | PvKind::Avp(_)
            )
    }
}

/// Why a pseudo-variable could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PvError {
    /// A Kamailio pseudo-variable sipshard does not provide (migration).
    Unsupported(String),
    /// Not a pseudo-variable at all, or malformed.
    Invalid(String),
}

/// Name tables for `$var` and `$avp`, filled while compiling.
#[derive(Debug, Default, Clone)]
pub struct PvNames {
    pub vars: HashMap<String, u32>,
    pub avps: HashMap<String, u32>,
    /// Some `$T_req(..)` / `$T_rpl(..)` is used: the runtime keeps the
    /// transaction's messages at hand for the tm routes.
    pub t_msgs: bool,
}

impl PvNames {
    fn slot(map: &mut HashMap<String, u32>, name: &str) -> u32 {
        let n = map.len() as u32;
        *map.entry(name.to_string()).or_insert(n)
    }
}

/// Kamailio pseudo-variable names sipshard does not implement, so a config
/// using them gets "unsupported" (a migration item) instead of "unknown".
const KNOWN_UNSUPPORTED: &[&str] = &[
    "sht",
    "shtex",
    "shtcn",
    "shtcv",
    "shtinc",
    "shtdec",
    "shv",
    "sel",
    "xavp",
    "xavu",
    "xavi",
    "T_branch_idx",
    "T",
    "T_inv",
    "TV",
    "Tf",
    "TF",
    "Ts",
    "Tb",
    "snd",
    "sndto",
    "sndfrom",
    "rcv",
    "msg",
    "mt",
    "dd",
    "dp",
    "dP",
    "dP",
    "ds",
    "bf",
    "bF",
    "sf",
    "sF",
    "mf",
    "mF",
    "br",
    "bR",
    "bs",
    "def",
    "env",
    "ai",
    "adu",
    "ar",
    "au",
    "ad",
    "aU",
    "Au",
    "AU",
    "cl",
    "cT",
    "di",
    "dip",
    "dir",
    "dic",
    "di",
    "fs",
    "fsn",
    "hu",
    "hdrc",
    "hfl",
    "hflc",
    "mi",
    "mn",
    "mx",
    "mxs",
    "mxr",
    "mxe",
    "nh",
    "od",
    "op",
    "oP",
    "pp",
    "pU",
    "pu",
    "pd",
    "pn",
    "pr",
    "re",
    "ruid",
    "rt",
    "rz",
    "RAi",
    "RAp",
    "Rut",
    "Ruu",
    "Rn",
    "sas",
    "sid",
    "siz",
    "su",
    "sut",
    "tts",
    "tti",
    "Tt",
    "vz",
    "vn",
    "vf",
    "time",
    "utime",
    "timef",
    "stat",
    "dlg",
    "dlg_var",
    "dlg_ctx",
    "uac_req",
    "http_req",
    "http_ok",
    "http_err",
    "rtpstat",
    "dsg",
    "dsv",
    "avp_name",
    "xml",
    "json",
    "tcp",
    "conid",
    "ulc",
    "tmx",
    "hfl",
    "gip",
    "sipt",
    "siptrace",
    "cnt",
    "ltt",
    "ksr",
    "version",
    "branch",
    "cfg",
    "pv",
    "lsdp",
    "sdp",
    "rpl",
    "ki",
    "erc",
    "ua",
    "DLG_lifetime",
    "DLG_status",
    "DLG_count",
];

/// Parses one pseudo-variable as written in the config (`$ru`,
/// `$hdr(X)`, `$(hdr(Via)[1]{s.len})`).
pub fn parse_pv(text: &str, names: &mut PvNames) -> Result<PvRef, PvError> {
    let body = text
        .strip_prefix('$')
        .ok_or_else(|| PvError::Invalid(format!("`{text}` does not start with `$`")))?;
    if body == "?" {
        return Ok(PvRef {
            kind: PvKind::RetCode,
            index: None,
            trans: Vec::new(),
        });
    }
    // `$(inner[idx]{tr}...)` or `$name(arg)[idx]`
    let (inner, trans_text) = if let Some(wrapped) = body.strip_prefix('(') {
        let wrapped = wrapped
            .strip_suffix(')')
            .ok_or_else(|| PvError::Invalid(format!("`{text}` is missing its closing `)`")))?;
        match find_top_level(wrapped, b'{') {
            Some(i) => (&wrapped[..i], &wrapped[i..]),
            None => (wrapped, ""),
        }
    } else {
        (body, "")
    };
    let (base, index) = split_index(inner, text)?;
    let (name, arg) = match base.find('(') {
        Some(i) => {
            let a = base[i + 1..].strip_suffix(')').ok_or_else(|| {
                PvError::Invalid(format!("`{text}` is missing `)` after its name"))
            })?;
            (&base[..i], Some(a))
        }
        None => (base, None),
    };
    let kind = match (name, arg) {
        ("ru", None) => PvKind::Ru,
        ("rU", None) => PvKind::RUser,
        ("rd", None) => PvKind::RDomain,
        ("rp", None) => PvKind::RPort,
        ("rP", None) => PvKind::RProto,
        ("ou", None) => PvKind::Ou,
        ("oU", None) => PvKind::OUser,
        ("rm", None) => PvKind::Rm,
        ("rs", None) => PvKind::Rs,
        ("rr", None) => PvKind::Rr,
        ("T_reply_code", None) => PvKind::TReplyCode,
        ("T_branch_idx", None) => PvKind::TBranchIdx,
        ("fu", None) | ("from", None) => PvKind::Fu,
        ("fU", None) => PvKind::FUser,
        ("fd", None) => PvKind::Fd,
        ("fn", None) => PvKind::Fn,
        ("ft", None) => PvKind::Ft,
        ("tu", None) | ("to", None) => PvKind::Tu,
        ("tU", None) => PvKind::TUser,
        ("td", None) => PvKind::Td,
        ("tn", None) => PvKind::Tn,
        ("tt", None) => PvKind::Tt,
        ("ci", None) => PvKind::Ci,
        ("cs", None) => PvKind::Cs,
        ("ct", None) => PvKind::Ct,
        ("ua", None) => PvKind::Ua,
        ("si", None) => PvKind::Si,
        ("sp", None) => PvKind::Sp,
        ("Ri", None) => PvKind::Ri,
        ("Rp", None) => PvKind::Rp,
        ("pr", None) | ("proto", None) => PvKind::Proto,
        ("du", None) => PvKind::Du,
        ("ml", None) => PvKind::Ml,
        ("mb", None) => PvKind::Mb,
        ("rb", None) => PvKind::Rb,
        ("retcode", None) | ("rc", None) => PvKind::RetCode,
        ("null", None) => PvKind::Null,
        ("T_req" | "T_rpl", Some(inner)) => {
            let inner_pv = parse_pv(inner.trim(), names).map_err(|e| match e {
                PvError::Unsupported(u) => PvError::Unsupported(u),
                PvError::Invalid(m) => PvError::Invalid(format!("`{text}`: {m}")),
            })?;
            if matches!(inner_pv.kind, PvKind::TReq(_) | PvKind::TRpl(_)) {
                return Err(PvError::Invalid(format!(
                    "`{text}`: `${name}` cannot hold another transaction pseudo-variable"
                )));
            }
            names.t_msgs = true;
            if name == "T_req" {
                PvKind::TReq(Box::new(inner_pv))
            } else {
                PvKind::TRpl(Box::new(inner_pv))
            }
        }
        ("T_req" | "T_rpl", None) => {
            return Err(PvError::Invalid(format!(
                "`{text}`: `${name}` takes a pseudo-variable in parentheses, e.g. `${name}($rs)`"
            )))
        }
        ("hdr", Some(h)) if !h.is_empty() && !h.contains('$') => PvKind::Hdr(h.to_string()),
        ("var", Some(v)) if is_name(v) => PvKind::Var(PvNames::slot(&mut names.vars, v)),
        ("avp", Some(v)) if is_name(v.trim_start_matches("s:").trim_start_matches("i:")) => {
            let v = v.trim_start_matches("s:").trim_start_matches("i:");
            PvKind::Avp(PvNames::slot(&mut names.avps, v))
        }
        ("hdr" | "var" | "avp", _) => {
            return Err(PvError::Invalid(format!(
                "`{text}`: `${name}` needs a plain name in parentheses (dynamic names are not supported)"
            )))
        }
        _ if KNOWN_UNSUPPORTED.contains(&name) => return Err(PvError::Unsupported(format!("${name}"))),
        _ => return Err(PvError::Invalid(format!("unknown pseudo-variable `{text}`"))),
    };
    let trans = parse_transforms(trans_text).map_err(PvError::Invalid)?;
    Ok(PvRef { kind, index, trans })
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Splits a trailing `[n]` index off (`hdr(Via)[1]`).
fn split_index<'t>(s: &'t str, whole: &str) -> Result<(&'t str, Option<i32>), PvError> {
    if let Some(stripped) = s.strip_suffix(']') {
        if let Some(open) = stripped.rfind('[') {
            let idx_text = &stripped[open + 1..];
            if idx_text == "*" {
                if !s.starts_with("avp(") {
                    return Err(PvError::Invalid(format!(
                        "`{whole}`: index `[*]` is only supported on `$avp`"
                    )));
                }
                return Ok((&s[..open], Some(INDEX_ALL)));
            }
            let idx = idx_text.parse::<i32>().map_err(|_| {
                PvError::Invalid(format!(
                    "`{whole}`: found index `{idx_text}`, expected a number"
                ))
            })?;
            return Ok((&s[..open], Some(idx)));
        }
    }
    Ok((s, None))
}

fn find_top_level(s: &str, needle: u8) -> Option<usize> {
    let mut depth = 0i32;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            _ if b == needle && depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_transforms(mut s: &str) -> Result<Vec<Transform>, String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let body_end = s
            .find('}')
            .ok_or_else(|| format!("found `{s}`, expected `{{transformation}}`"))?;
        let body = s
            .strip_prefix('{')
            .map(|b| &b[..body_end - 1])
            .ok_or_else(|| format!("found `{s}`, expected `{{` starting a transformation"))?;
        out.push(parse_transform(body)?);
        s = &s[body_end + 1..];
    }
    Ok(out)
}

fn parse_transform(body: &str) -> Result<Transform, String> {
    let mut parts = body.split(',');
    let name = parts.next().unwrap_or("").trim();
    let args: Vec<&str> = parts.collect();
    let int_arg = |i: usize| -> Result<i64, String> {
        args.get(i)
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("`{{{body}}}`: argument {} must be a number", i + 1))
    };
    let t = match (name, args.len()) {
        ("s.len", 0) => Transform::Len,
        ("s.tolower", 0) => Transform::ToLower,
        ("s.toupper", 0) => Transform::ToUpper,
        ("s.int", 0) => Transform::ToInt,
        ("s.substr", 2) => Transform::Substr(int_arg(0)?, int_arg(1)?),
        ("s.select", 2) => {
            let sep = args[1].as_bytes();
            if sep.len() != 1 {
                return Err(format!("`{{{body}}}`: the separator must be one character"));
            }
            Transform::Select(int_arg(0)?, sep[0])
        }
        ("uri.user", 0) => Transform::UriUser,
        ("uri.host", 0) => Transform::UriHost,
        ("uri.port", 0) => Transform::UriPort,
        ("nameaddr.uri", 0) => Transform::NameAddrUri,
        _ => {
            return Err(format!(
                "unsupported transformation `{{{body}}}` (supported: s.len s.tolower s.toupper s.int s.substr,a,b s.select,i,c uri.user uri.host uri.port nameaddr.uri)"
            ))
        }
    };
    Ok(t)
}

/// A piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FmtPart {
    Lit(String),
    Pv(PvRef),
}

/// A string argument with pseudo-variables expanded when used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmt {
    pub parts: Vec<FmtPart>,
}

impl Fmt {
    /// A constant string, if there are no pseudo-variables.
    pub fn as_const(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [FmtPart::Lit(s)] => Some(s),
            _ => None,
        }
    }

    pub fn literal(s: &str) -> Fmt {
        Fmt {
            parts: vec![FmtPart::Lit(s.to_string())],
        }
    }
}

/// Splits a format string into literal text and pseudo-variables. `$$`
/// is a literal `$`; a `$` not followed by a name is literal.
pub fn parse_fmt(s: &str, names: &mut PvNames) -> Result<Fmt, PvError> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let ch = s[i..].chars().next().expect("in bounds");
            lit.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let end = pv_extent(s, i);
        if end == i + 1 {
            if b.get(i + 1) == Some(&b'$') {
                i += 1;
            }
            lit.push('$');
            i += 1;
            continue;
        }
        if !lit.is_empty() {
            parts.push(FmtPart::Lit(std::mem::take(&mut lit)));
        }
        parts.push(FmtPart::Pv(parse_pv(&s[i..end], names)?));
        i = end;
    }
    if !lit.is_empty() {
        parts.push(FmtPart::Lit(lit));
    }
    Ok(Fmt { parts })
}

/// The length of the pseudo-variable `s` starts with, if it starts with
/// one (`"$var(t) by x"` -> 7).
pub fn leading_pv(s: &str) -> Option<usize> {
    if !s.starts_with('$') {
        return None;
    }
    let end = pv_extent(s, 0);
    (end > 1).then_some(end)
}

/// Where the pseudo-variable starting at `s[i] == '$'` ends (i + 1 if
/// there is none).
fn pv_extent(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let mut j = i + 1;
    let balanced = |mut j: usize, open: u8, close: u8| -> Option<usize> {
        let mut depth = 0;
        while j < b.len() {
            if b[j] == open {
                depth += 1;
            } else if b[j] == close {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            j += 1;
        }
        None
    };
    match b.get(j) {
        Some(b'?') => return j + 1,
        Some(b'(') => return balanced(j, b'(', b')').unwrap_or(i + 1),
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return i + 1,
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    if b.get(j) == Some(&b'(') {
        match balanced(j, b'(', b')') {
            Some(e) => j = e,
            None => return i + 1,
        }
        if b.get(j) == Some(&b'[') {
            if let Some(e) = balanced(j, b'[', b']') {
                j = e;
            }
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(s: &str) -> Result<PvRef, PvError> {
        parse_pv(s, &mut PvNames::default())
    }

    #[test]
    fn simple_and_indexed_pvs() {
        assert_eq!(pv("$ru").unwrap().kind, PvKind::Ru);
        assert_eq!(pv("$rU").unwrap().kind, PvKind::RUser);
        assert_eq!(pv("$?").unwrap().kind, PvKind::RetCode);
        let h = pv("$(hdr(Via)[-1]{s.len})").unwrap();
        assert_eq!(h.kind, PvKind::Hdr("Via".into()));
        assert_eq!(h.index, Some(-1));
        assert_eq!(h.trans, vec![Transform::Len]);
        let t = pv("$(ru{uri.user}{s.substr,1,0}{s.select,0,.})").unwrap();
        assert_eq!(
            t.trans,
            vec![
                Transform::UriUser,
                Transform::Substr(1, 0),
                Transform::Select(0, b'.')
            ]
        );
        assert!(pv("$ru").unwrap().is_writable());
        assert!(!pv("$ci").unwrap().is_writable());
    }

    #[test]
    fn var_and_avp_slots_are_shared_by_name() {
        let mut n = PvNames::default();
        let a = parse_pv("$var(a)", &mut n).unwrap();
        let b = parse_pv("$var(b)", &mut n).unwrap();
        let a2 = parse_pv("$var(a)", &mut n).unwrap();
        assert_eq!(a.kind, a2.kind);
        assert_ne!(a.kind, b.kind);
        assert_eq!(parse_pv("$avp(s:x)", &mut n).unwrap().kind, PvKind::Avp(0));
        let all = parse_pv("$(avp(x)[*])", &mut n).unwrap();
        assert_eq!((all.kind, all.index), (PvKind::Avp(0), Some(INDEX_ALL)));
        assert!(parse_pv("$(hdr(Via)[*])", &mut n).is_err());
    }

    #[test]
    fn unsupported_and_invalid_are_distinguished() {
        assert_eq!(pv("$sht(a=>b)"), Err(PvError::Unsupported("$sht".into())));
        assert!(matches!(pv("$nope"), Err(PvError::Invalid(_))));
        assert!(matches!(pv("$(ru{s.frob})"), Err(PvError::Invalid(_))));
        assert!(matches!(pv("$var($x)"), Err(PvError::Invalid(_))));
    }

    #[test]
    fn transaction_message_pvs() {
        let mut n = PvNames::default();
        let r = parse_pv("$T_req($hdr(X-Caller))", &mut n).unwrap();
        assert_eq!(
            r.kind,
            PvKind::TReq(Box::new(PvRef {
                kind: PvKind::Hdr("X-Caller".into()),
                index: None,
                trans: Vec::new(),
            }))
        );
        assert!(n.t_msgs);
        let r = pv("$(T_rpl($rs){s.len})").unwrap();
        assert!(matches!(&r.kind, PvKind::TRpl(i) if i.kind == PvKind::Rs));
        assert_eq!(r.trans, vec![Transform::Len]);
        let r = pv("$T_rpl($(hdr(Via)[1]))").unwrap();
        assert!(matches!(&r.kind, PvKind::TRpl(i) if i.index == Some(1)));
        assert!(!r.is_writable());
        assert!(matches!(pv("$T_req"), Err(PvError::Invalid(_))));
        assert!(matches!(pv("$T_req($nope)"), Err(PvError::Invalid(_))));
        assert!(matches!(
            pv("$T_req($T_rpl($rs))"),
            Err(PvError::Invalid(_))
        ));
        let f = parse_fmt("by $T_req($hdr(X-Caller)) now", &mut n).unwrap();
        assert_eq!(f.parts.len(), 3, "{:?}", f.parts);
    }

    #[test]
    fn format_strings() {
        let mut n = PvNames::default();
        let f = parse_fmt("Got $rs from $si:$sp cost $$5 $(ru{s.len})!", &mut n).unwrap();
        assert_eq!(f.parts.len(), 9, "{:?}", f.parts);
        assert_eq!(f.parts[0], FmtPart::Lit("Got ".into()));
        assert_eq!(f.parts[6], FmtPart::Lit(" cost $5 ".into()));
        assert_eq!(
            parse_fmt("plain", &mut n).unwrap().as_const(),
            Some("plain")
        );
        assert_eq!(parse_fmt("100$", &mut n).unwrap().as_const(), Some("100$"));
    }
}
