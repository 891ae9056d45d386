//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760),
//! sans-IO: parsing `Authorization` / `Proxy-Authorization`, building
//! challenges, nonces that any shard can verify without shared state, the
//! replay check, and the response computation.
//!
//! A nonce is `<8 hex: generation time><8 hex: index><24 hex: tag>`, the
//! tag being 96 bits of two SipHash-2-4 of both numbers under keys derived
//! from the process secret: it expires (`nonce_expire`), a nonce this
//! process did not make fails the tag, and its index names one slot of a
//! lock-free table holding the highest `nc` seen, so a replayed
//! `Authorization` (same nonce, same or lower `nc`) is refused.

mod siphash;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use ring::digest;
use ring::rand::SecureRandom;

use siphash::SipKey;

/// Digest algorithms sipshard verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// From the `algorithm=` token (absent: MD5). `-sess` variants and
    /// others are not supported.
    pub fn from_token(t: &[u8]) -> Option<Algorithm> {
        if t.eq_ignore_ascii_case(b"MD5") {
            Some(Algorithm::Md5)
        } else if t.eq_ignore_ascii_case(b"SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `parts` joined by `:`.
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        String::from_utf8_lossy(self.hash(parts).as_bytes()).into_owned()
    }

    /// [`Algorithm::hash_hex`] without a heap allocation.
    pub fn hash(self, parts: &[&[u8]]) -> Hex {
        match self {
            Algorithm::Md5 => {
                use md5::Digest;
                let mut h = md5::Md5::new();
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        h.update(b":");
                    }
                    h.update(p);
                }
                Hex::of(&h.finalize())
            }
            Algorithm::Sha256 => {
                let mut h = digest::Context::new(&digest::SHA256);
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        h.update(b":");
                    }
                    h.update(p);
                }
                Hex::of(h.finish().as_ref())
            }
        }
    }

    /// Length of a hex digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }
}

/// A hash in lower-case hex, on the stack (MD5: 32, SHA-256: 64 digits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex {
    buf: [u8; 64],
    len: usize,
}

impl std::fmt::Debug for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl Hex {
    const EMPTY: Hex = Hex {
        buf: [0; 64],
        len: 0,
    };

    fn of(b: &[u8]) -> Hex {
        const H: &[u8; 16] = b"0123456789abcdef";
        let mut h = Hex {
            buf: [0; 64],
            len: 0,
        };
        for &x in b.iter().take(32) {
            h.buf[h.len] = H[(x >> 4) as usize];
            h.buf[h.len + 1] = H[(x & 15) as usize];
            h.len += 2;
        }
        h
    }

    /// Lower-cased copy of stored hex digits (None when too long).
    fn lower(b: &[u8]) -> Option<Hex> {
        let mut h = Hex {
            buf: [0; 64],
            len: b.len(),
        };
        h.buf.get_mut(..b.len())?.copy_from_slice(b);
        h.buf[..b.len()].make_ascii_lowercase();
        Some(h)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The parameters of a `Digest` credentials header, borrowed from it
/// (copied only when a quoted value has `\` escapes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub username: Cow<'a, [u8]>,
    pub realm: Cow<'a, [u8]>,
    pub nonce: Cow<'a, [u8]>,
    pub uri: Cow<'a, [u8]>,
    pub response: Cow<'a, [u8]>,
    pub algorithm: Option<Cow<'a, [u8]>>,
    pub cnonce: Option<Cow<'a, [u8]>>,
    pub opaque: Option<Cow<'a, [u8]>>,
    pub qop: Option<Cow<'a, [u8]>>,
    pub nc: Option<Cow<'a, [u8]>>,
}

/// Parses `Digest k=v, k="v", ...`. None when it is not a Digest header
/// or a mandatory parameter (username, realm, nonce, uri, response) is
/// missing.
pub fn parse_credentials(value: &[u8]) -> Option<Credentials<'_>> {
    let v = trim(value);
    if v.len() < 7 || !v[..6].eq_ignore_ascii_case(b"Digest") || !v[6].is_ascii_whitespace() {
        return None;
    }
    let mut rest = &v[7..];
    let mut c = Credentials::default();
    let (mut has_user, mut has_realm, mut has_nonce, mut has_uri, mut has_resp) =
        (false, false, false, false, false);
    loop {
        rest = trim_start_commas(rest);
        if rest.is_empty() {
            break;
        }
        let eq = memchr::memchr(b'=', rest)?;
        let name = trim(&rest[..eq]);
        rest = trim(&rest[eq + 1..]);
        let val: Cow<'_, [u8]>;
        if rest.first() == Some(&b'"') {
            let close = memchr::memchr2(b'"', b'\\', &rest[1..])? + 1;
            if rest[close] == b'"' {
                val = Cow::Borrowed(&rest[1..close]);
                rest = &rest[close + 1..];
            } else {
                let mut out = rest[1..close].to_vec();
                let mut i = close;
                loop {
                    match rest.get(i) {
                        None => return None,
                        Some(b'\\') => {
                            out.push(*rest.get(i + 1)?);
                            i += 2;
                        }
                        Some(b'"') => break,
                        Some(&b) => {
                            out.push(b);
                            i += 1;
                        }
                    }
                }
                val = Cow::Owned(out);
                rest = &rest[i + 1..];
            }
        } else {
            let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
            val = Cow::Borrowed(trim(&rest[..end]));
            rest = &rest[end..];
        }
        // by length first: one comparison per parameter, not ten
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        match name.len() {
            8 if is(b"username") => {
                c.username = val;
                has_user = true;
            }
            5 if is(b"realm") => {
                c.realm = val;
                has_realm = true;
            }
            5 if is(b"nonce") => {
                c.nonce = val;
                has_nonce = true;
            }
            3 if is(b"uri") => {
                c.uri = val;
                has_uri = true;
            }
            8 if is(b"response") => {
                c.response = val;
                has_resp = true;
            }
            9 if is(b"algorithm") => c.algorithm = Some(val),
            6 if is(b"cnonce") => c.cnonce = Some(val),
            6 if is(b"opaque") => c.opaque = Some(val),
            3 if is(b"qop") => c.qop = Some(val),
            2 if is(b"nc") => c.nc = Some(val),
            _ => {}
        }
    }
    (has_user && has_realm && has_nonce && has_uri && has_resp).then_some(c)
}

fn trim(s: &[u8]) -> &[u8] {
    let s = match s.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &s[i..],
        None => return &[],
    };
    let e = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    &s[..=e]
}

fn trim_start_commas(s: &[u8]) -> &[u8] {
    let i = s
        .iter()
        .position(|&b| b != b',' && !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[i..]
}

/// Verdicts of [`Verifier::check`], numbered as Kamailio's auth return
/// codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated (1).
    Ok,
    /// Malformed credentials or unsupported algorithm/qop (-1).
    Error,
    /// Wrong password (-2).
    InvalidPassword,
    /// No such user (-3).
    UserUnknown,
    /// Nonce expired or not ours (-4): challenge again with `stale=true`.
    NonceExpired,
    /// No credentials for the realm (-5).
    NoCredentials,
    /// `nc` not above the last one seen for this nonce (-6).
    NonceReused,
}

impl Verdict {
    pub fn code(self) -> i32 {
        match self {
            Verdict::Ok => 1,
            Verdict::Error => -1,
            Verdict::InvalidPassword => -2,
            Verdict::UserUnknown => -3,
            Verdict::NonceExpired => -4,
            Verdict::NoCredentials => -5,
            Verdict::NonceReused => -6,
        }
    }
}

/// What the subscriber store knows of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// Clear-text password (`password` column), may be empty.
    pub password: Vec<u8>,
    /// MD5 HA1 (`ha1` column), may be empty.
    pub ha1: Vec<u8>,
    /// The HA1 computed from the password the first time, with the user
    /// and realm it was for.
    pub memo: Ha1Memo,
}

impl Secret {
    /// A secret from the `password` and `ha1` columns.
    pub fn new(password: Vec<u8>, ha1: Vec<u8>) -> Secret {
        Secret {
            password,
            ha1,
            memo: Ha1Memo::default(),
        }
    }

    /// HA1 for `alg`: computed from the password when there is one,
    /// else the stored `ha1` when it has the right length.
    pub fn ha1(&self, alg: Algorithm, user: &[u8], realm: &[u8]) -> Option<Hex> {
        if !self.password.is_empty() {
            return Some(self.memo.get_or_hash(alg, user, realm, &self.password));
        }
        if self.ha1.len() != alg.hex_len() {
            return None;
        }
        Hex::lower(&self.ha1)
    }
}

/// The first HA1 a [`Secret`] computed from its password, kept: a
/// subscriber authenticates with the same user name and realm every time,
/// so later checks skip that hash. Another user name or realm is hashed
/// afresh. Not part of the secret's equality.
#[derive(Debug, Clone, Default)]
pub struct Ha1Memo(OnceLock<Kept>);

/// A hash kept with its algorithm and the two inputs it was made of.
#[derive(Debug, Clone)]
struct Kept {
    alg: Option<Algorithm>,
    a: Vec<u8>,
    b: Vec<u8>,
    hex: Hex,
}

impl Kept {
    const NONE: Kept = Kept {
        alg: None,
        a: Vec::new(),
        b: Vec::new(),
        hex: Hex::EMPTY,
    };

    fn is(&self, alg: Algorithm, a: &[u8], b: &[u8]) -> bool {
        self.alg == Some(alg) && self.a == a && self.b == b
    }
}

impl PartialEq for Ha1Memo {
    fn eq(&self, _: &Ha1Memo) -> bool {
        true
    }
}

impl Eq for Ha1Memo {}

impl Ha1Memo {
    fn get_or_hash(&self, alg: Algorithm, user: &[u8], realm: &[u8], password: &[u8]) -> Hex {
        if let Some(k) = self.0.get() {
            if k.is(alg, user, realm) {
                return k.hex;
            }
            return alg.hash(&[user, realm, password]);
        }
        let hex = alg.hash(&[user, realm, password]);
        let _ = self.0.set(Kept {
            alg: Some(alg),
            a: user.to_vec(),
            b: realm.to_vec(),
            hex,
        });
        hex
    }
}

/// Whether `a` equals `b`, in a time that depends only on their lengths:
/// every byte pair is folded into one difference, with no early exit.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let d = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(d) == 0
}

/// Length of a nonce: 40 hex digits.
pub const NONCE_LEN: usize = 40;

/// The `N` bytes whose hex digits (either case) are `s`; None unless `s`
/// is exactly `2 * N` hex digits.
fn unhex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Slots of the `nc` table (a power of two).
const NC_SLOTS: usize = 1 << 18;

/// Nonce maker and checker: one per process (the HMAC secret and the `nc`
/// table are shared by every shard; neither takes a lock).
pub struct Verifier {
    /// The two keys of a nonce's tag.
    keys: [SipKey; 2],
    /// Nonce lifetime, seconds.
    pub expire_s: u32,
    next_index: AtomicU32,
    /// Per slot: `index << 32 | highest nc` seen.
    nc: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("expire_s", &self.expire_s)
            .finish()
    }
}

impl Verifier {
    /// A verifier with `secret` (auth `secret` modparam), or a random one.
    pub fn new(secret: Option<&[u8]>, expire_s: u32) -> Verifier {
        // 32 key bytes: SHA-256 of the configured secret, else random
        let mut k = [0u8; 32];
        match secret {
            Some(s) => {
                let mut h = digest::Context::new(&digest::SHA256);
                h.update(b"sipshard nonce key\0");
                h.update(s);
                k.copy_from_slice(h.finish().as_ref());
            }
            None => ring::rand::SystemRandom::new()
                .fill(&mut k)
                .expect("system random source"),
        }
        let half = |i: usize| {
            let mut h = [0u8; 16];
            h.copy_from_slice(&k[i * 16..i * 16 + 16]);
            SipKey::new(&h)
        };
        let mut nc = Vec::with_capacity(NC_SLOTS);
        nc.resize_with(NC_SLOTS, || AtomicU64::new(u64::MAX));
        Verifier {
            keys: [half(0), half(1)],
            expire_s,
            next_index: AtomicU32::new(1),
            nc: nc.into_boxed_slice(),
        }
    }

    /// The process-wide verifier, created on first use with the first
    /// caller's parameters.
    pub fn global(secret: Option<&[u8]>, expire_s: u32) -> &'static Verifier {
        static V: OnceLock<Verifier> = OnceLock::new();
        V.get_or_init(|| Verifier::new(secret, expire_s))
    }

    /// The 96-bit tag of the nonce (`ts`, `idx`).
    fn tag(&self, ts: u32, idx: u32) -> [u8; 12] {
        let mut m = [0u8; 8];
        m[..4].copy_from_slice(&ts.to_be_bytes());
        m[4..].copy_from_slice(&idx.to_be_bytes());
        let a = self.keys[0].hash(&m).to_be_bytes();
        let b = self.keys[1].hash(&m).to_be_bytes();
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&a);
        out[8..].copy_from_slice(&b[..4]);
        out
    }

    /// A fresh nonce made at `now` (unix seconds): 40 lower-case hex
    /// digits.
    pub fn nonce_bytes(&self, now: u64) -> [u8; NONCE_LEN] {
        let idx = self.next_index.fetch_add(1, Ordering::Relaxed);
        let ts = now as u32;
        let slot = &self.nc[idx as usize & (NC_SLOTS - 1)];
        slot.store((idx as u64) << 32, Ordering::Relaxed);
        let mut raw = [0u8; NONCE_LEN / 2];
        raw[..4].copy_from_slice(&ts.to_be_bytes());
        raw[4..8].copy_from_slice(&idx.to_be_bytes());
        raw[8..].copy_from_slice(&self.tag(ts, idx));
        let mut out = [0u8; NONCE_LEN];
        out.copy_from_slice(Hex::of(&raw).as_bytes());
        out
    }

    /// [`Verifier::nonce_bytes`] as text.
    pub fn nonce(&self, now: u64) -> String {
        String::from_utf8_lossy(&self.nonce_bytes(now)).into_owned()
    }

    /// Whether `nonce` is ours and not older than `expire_s` at `now`;
    /// returns its index.
    fn nonce_index(&self, nonce: &[u8], now: u64) -> Option<u32> {
        let raw = unhex::<{ NONCE_LEN / 2 }>(nonce)?;
        let ts = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let idx = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
        if !same_bytes(&self.tag(ts, idx), &raw[8..]) {
            return None;
        }
        let age = (now as u32).wrapping_sub(ts);
        // a nonce from the future (clock step) is accepted for 3 s, as
        // Kamailio's nonce_auth_max_drift
        if age > self.expire_s && age < u32::MAX - 3 {
            return None;
        }
        Some(idx)
    }

    /// Records `nc` for the nonce `idx`: false when it is not above the
    /// last one seen (a replay) or the slot was reused by a newer nonce.
    fn take_nc(&self, idx: u32, nc: u32) -> bool {
        let slot = &self.nc[idx as usize & (NC_SLOTS - 1)];
        let mut cur = slot.load(Ordering::Acquire);
        loop {
            if cur >> 32 != idx as u64 || (cur & 0xffff_ffff) as u32 >= nc {
                return false;
            }
            let new = ((idx as u64) << 32) | nc as u64;
            match slot.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Checks credentials for `method` at `now` against `secret` (None:
    /// unknown user; the work done is the same so timing does not tell).
    /// Without `qop` a nonce is good once (it counts as `nc=1`).
    pub fn check(
        &self,
        c: &Credentials<'_>,
        method: &[u8],
        secret: Option<&Secret>,
        now: u64,
    ) -> Verdict {
        let alg = match &c.algorithm {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::from_token(a) {
                Some(a) => a,
                None => return Verdict::Error,
            },
        };
        let qop_auth = match &c.qop {
            None => false,
            Some(q) if q.eq_ignore_ascii_case(b"auth") => true,
            Some(_) => return Verdict::Error,
        };
        let nc = if qop_auth {
            let (Some(nc), Some(_)) = (&c.nc, &c.cnonce) else {
                return Verdict::Error;
            };
            match std::str::from_utf8(nc)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
            {
                Some(n) if n > 0 && nc.len() == 8 => n,
                _ => return Verdict::Error,
            }
        } else {
            1
        };
        let Some(idx) = self.nonce_index(&c.nonce, now) else {
            return Verdict::NonceExpired;
        };
        // an unknown user costs the same work, so timing does not tell
        let ha1 = match secret {
            Some(s) => s.ha1(alg, &c.username, &c.realm),
            None => Some(alg.hash(&[&c.username, &c.realm, b"\0unknown-user\0"])),
        };
        let Some(ha1) = ha1 else {
            return Verdict::InvalidPassword;
        };
        let ha2 = ha2_of(alg, method, &c.uri);
        let expected = if qop_auth {
            alg.hash(&[
                ha1.as_bytes(),
                &c.nonce,
                c.nc.as_deref().unwrap_or_default(),
                c.cnonce.as_deref().unwrap_or_default(),
                b"auth",
                ha2.as_bytes(),
            ])
        } else {
            alg.hash(&[ha1.as_bytes(), &c.nonce, ha2.as_bytes()])
        };
        let good = Hex::lower(&c.response)
            .is_some_and(|resp| same_bytes(expected.as_bytes(), resp.as_bytes()));
        if secret.is_none() {
            return Verdict::UserUnknown;
        }
        if !good {
            return Verdict::InvalidPassword;
        }
        if !self.take_nc(idx, nc) {
            return Verdict::NonceReused;
        }
        Verdict::Ok
    }
}

thread_local! {
    /// The last HA2 this thread computed and its algorithm, method and
    /// digest URI: clients of one registrar send the same `uri`, so most
    /// checks reuse it.
    static LAST_HA2: std::cell::RefCell<Kept> = const { std::cell::RefCell::new(Kept::NONE) };
}

/// HA2 of `method` and `uri` (RFC 2617 qop=auth or none).
fn ha2_of(alg: Algorithm, method: &[u8], uri: &[u8]) -> Hex {
    LAST_HA2.with(|l| {
        let mut l = l.borrow_mut();
        if l.is(alg, method, uri) {
            return l.hex;
        }
        let hex = alg.hash(&[method, uri]);
        l.alg = Some(alg);
        l.a.clear();
        l.a.extend_from_slice(method);
        l.b.clear();
        l.b.extend_from_slice(uri);
        l.hex = hex;
        hex
    })
}

/// What a `WWW-Authenticate` / `Proxy-Authenticate` header says.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    /// `Proxy-Authenticate` (407) rather than `WWW-Authenticate` (401).
    pub proxy: bool,
    pub realm: &'a [u8],
    pub nonce: &'a [u8],
    /// `algorithm=` (None: not said, MD5).
    pub alg: Option<Algorithm>,
    /// `qop="auth"`.
    pub qop: bool,
    /// `stale=true`.
    pub stale: bool,
}

impl Challenge<'_> {
    /// Appends the header line (CRLF included) to `out`.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        out.reserve(self.realm.len() + self.nonce.len() + 96);
        out.extend_from_slice(if self.proxy {
            b"Proxy-Authenticate: Digest realm=\""
        } else {
            b"WWW-Authenticate: Digest realm=\""
        });
        out.extend_from_slice(self.realm);
        out.extend_from_slice(b"\", nonce=\"");
        out.extend_from_slice(self.nonce);
        out.push(b'"');
        if self.qop {
            out.extend_from_slice(b", qop=\"auth\"");
        }
        if self.stale {
            out.extend_from_slice(b", stale=true");
        }
        if let Some(a) = self.alg {
            out.extend_from_slice(b", algorithm=");
            out.extend_from_slice(a.name().as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(
        v: &Verifier,
        alg: Algorithm,
        pass: &[u8],
        nonce: &str,
        nc: &str,
        now: u64,
    ) -> Credentials<'static> {
        let ha1 = alg.hash_hex(&[b"alice", b"example.com", pass]);
        let ha2 = alg.hash_hex(&[b"REGISTER", b"sip:example.com"]);
        let resp = alg.hash_hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            b"c0ffee",
            b"auth",
            ha2.as_bytes(),
        ]);
        let _ = (v, now);
        let hdr = format!(
            "Digest username=\"alice\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"sip:example.com\", response=\"{resp}\", algorithm={}, cnonce=\"c0ffee\", qop=auth, nc={nc}",
            alg.name()
        );
        let c = parse_credentials(hdr.as_bytes()).unwrap();
        Credentials {
            username: Cow::Owned(c.username.into_owned()),
            realm: Cow::Owned(c.realm.into_owned()),
            nonce: Cow::Owned(c.nonce.into_owned()),
            uri: Cow::Owned(c.uri.into_owned()),
            response: Cow::Owned(c.response.into_owned()),
            algorithm: c.algorithm.map(|a| Cow::Owned(a.into_owned())),
            cnonce: c.cnonce.map(|a| Cow::Owned(a.into_owned())),
            opaque: c.opaque.map(|a| Cow::Owned(a.into_owned())),
            qop: c.qop.map(|a| Cow::Owned(a.into_owned())),
            nc: c.nc.map(|a| Cow::Owned(a.into_owned())),
        }
    }

    #[test]
    fn rfc2617_md5_vector() {
        // RFC 2617 §3.5 example (HTTP, qop=auth)
        let ha1 = Algorithm::Md5.hash_hex(&[b"Mufasa", b"testrealm@host.com", b"Circle Of Life"]);
        let ha2 = Algorithm::Md5.hash_hex(&[b"GET", b"/dir/index.html"]);
        let r = Algorithm::Md5.hash_hex(&[
            ha1.as_bytes(),
            b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            b"00000001",
            b"0a4f113b",
            b"auth",
            ha2.as_bytes(),
        ]);
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn verify_and_replay() {
        let v = Verifier::new(Some(b"k"), 300);
        let secret = Secret::new(b"secret".to_vec(), vec![]);
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let n = v.nonce(1000);
            let c = creds(&v, alg, b"secret", &n, "00000001", 1000);
            assert_eq!(v.check(&c, b"REGISTER", Some(&secret), 1001), Verdict::Ok);
            assert_eq!(
                v.check(&c, b"REGISTER", Some(&secret), 1001),
                Verdict::NonceReused
            );
            let c2 = creds(&v, alg, b"secret", &n, "00000002", 1000);
            assert_eq!(v.check(&c2, b"REGISTER", Some(&secret), 1002), Verdict::Ok);
            let bad = creds(&v, alg, b"wrong", &n, "00000003", 1000);
            assert_eq!(
                v.check(&bad, b"REGISTER", Some(&secret), 1002),
                Verdict::InvalidPassword
            );
            assert_eq!(v.check(&bad, b"REGISTER", None, 1002), Verdict::UserUnknown);
            let c3 = creds(&v, alg, b"secret", &n, "00000004", 1000);
            assert_eq!(
                v.check(&c3, b"REGISTER", Some(&secret), 1400),
                Verdict::NonceExpired
            );
        }
        let other = Verifier::new(Some(b"other"), 300);
        let n = other.nonce(1000);
        let c = creds(&v, Algorithm::Md5, b"secret", &n, "00000001", 1000);
        assert_eq!(
            v.check(&c, b"REGISTER", Some(&secret), 1001),
            Verdict::NonceExpired
        );
    }

    #[test]
    fn forged_and_malformed_nonces_are_expired() {
        let v = Verifier::new(Some(b"k"), 300);
        let secret = Secret::new(b"secret".to_vec(), vec![]);
        let n = v.nonce(1000);
        assert_eq!(n.len(), NONCE_LEN);
        assert!(n
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        // each digit of the tag changed, the time changed, the index
        // changed, a digit that is not hex, one digit short
        let mut forged: Vec<String> = (16..NONCE_LEN)
            .map(|i| {
                let mut b = n.clone().into_bytes();
                b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                String::from_utf8(b).unwrap()
            })
            .collect();
        forged.push(format!("{:08x}{}", 1001, &n[8..]));
        forged.push(format!("{}{:08x}{}", &n[..8], 7777, &n[16..]));
        forged.push(format!("{}g", &n[..NONCE_LEN - 1]));
        forged.push(n[..NONCE_LEN - 1].to_string());
        for f in forged {
            let c = creds(&v, Algorithm::Md5, b"secret", &f, "00000001", 1000);
            assert_eq!(
                v.check(&c, b"REGISTER", Some(&secret), 1001),
                Verdict::NonceExpired,
                "{f}"
            );
        }
        let c = creds(&v, Algorithm::Md5, b"secret", &n, "00000001", 1000);
        assert_eq!(v.check(&c, b"REGISTER", Some(&secret), 1001), Verdict::Ok);
    }

    #[test]
    fn password_hashed_for_each_realm_and_method() {
        let v = Verifier::new(Some(b"k"), 300);
        let secret = Secret::new(b"pw".to_vec(), vec![]);
        let answer = |realm: &str, method: &str, pass: &str| {
            let n = v.nonce(10);
            let ha1 = Algorithm::Md5.hash_hex(&[b"alice", realm.as_bytes(), pass.as_bytes()]);
            let ha2 = Algorithm::Md5.hash_hex(&[method.as_bytes(), b"sip:x"]);
            let resp = Algorithm::Md5.hash_hex(&[ha1.as_bytes(), n.as_bytes(), ha2.as_bytes()]);
            let hdr = format!(
                "Digest username=\"alice\", realm=\"{realm}\", nonce=\"{n}\", uri=\"sip:x\", response=\"{resp}\""
            );
            let c = parse_credentials(hdr.as_bytes()).unwrap();
            v.check(&c, method.as_bytes(), Some(&secret), 10)
        };
        // the first realm's HA1 is kept; another realm, another method or
        // a wrong password is still told apart
        assert_eq!(answer("a.example", "REGISTER", "pw"), Verdict::Ok);
        assert_eq!(answer("a.example", "REGISTER", "pw"), Verdict::Ok);
        assert_eq!(answer("b.example", "REGISTER", "pw"), Verdict::Ok);
        assert_eq!(answer("a.example", "INVITE", "pw"), Verdict::Ok);
        assert_eq!(
            answer("a.example", "REGISTER", "bad"),
            Verdict::InvalidPassword
        );
        assert_eq!(
            answer("b.example", "INVITE", "bad"),
            Verdict::InvalidPassword
        );
        assert_eq!(answer("b.example", "INVITE", "pw"), Verdict::Ok);
        assert_eq!(answer("a.example", "REGISTER", "pw"), Verdict::Ok);
    }

    #[test]
    fn credentials_parsed_with_escapes_spaces_and_unknown_params() {
        let c = parse_credentials(
            b"Digest  USERNAME = \"al\\\"ice\" ,Realm=\"a.b\",nonce=\"n1\", x-y=\"q,r\", \
              uri=\"sip:a.b\",response=\"abc\", ALGORITHM=MD5 , nc=00000001,cnonce=\"c\",qop=auth,opaque=\"o\"",
        )
        .unwrap();
        assert_eq!(&*c.username, b"al\"ice");
        assert_eq!(&*c.realm, b"a.b");
        assert_eq!(&*c.nonce, b"n1");
        assert_eq!(&*c.uri, b"sip:a.b");
        assert_eq!(&*c.response, b"abc");
        assert_eq!(c.algorithm.as_deref(), Some(&b"MD5"[..]));
        assert_eq!(c.nc.as_deref(), Some(&b"00000001"[..]));
        assert_eq!(c.cnonce.as_deref(), Some(&b"c"[..]));
        assert_eq!(c.qop.as_deref(), Some(&b"auth"[..]));
        assert_eq!(c.opaque.as_deref(), Some(&b"o"[..]));
        // a mandatory parameter missing, another scheme, no `=`, an
        // unterminated quote
        for bad in [
            &b"Digest username=\"a\", realm=\"b\", nonce=\"n\", uri=\"u\""[..],
            b"Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            b"Digest username",
            b"Digest username=\"a, realm=\"b\", nonce=\"n\", uri=\"u\", response=\"r\"",
        ] {
            assert_eq!(
                parse_credentials(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn same_bytes_is_equality() {
        assert!(same_bytes(b"", b""));
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"Abc"));
        assert!(!same_bytes(b"abc", b"abcd"));
    }

    #[test]
    fn challenge_headers() {
        let mut out = Vec::new();
        let mut c = Challenge {
            proxy: false,
            realm: b"example.com",
            nonce: b"0123",
            alg: None,
            qop: false,
            stale: false,
        };
        c.write_header(&mut out);
        c.proxy = true;
        c.qop = true;
        c.stale = true;
        c.alg = Some(Algorithm::Sha256);
        c.write_header(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"0123\"\r\n\
             Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"0123\", qop=\"auth\", \
             stale=true, algorithm=SHA-256\r\n"
        );
    }

    #[test]
    fn ha1_column() {
        let v = Verifier::new(Some(b"k"), 300);
        let secret = Secret::new(
            vec![],
            Algorithm::Md5
                .hash_hex(&[b"alice", b"example.com", b"pw"])
                .into_bytes(),
        );
        let n = v.nonce(10);
        let c = creds(&v, Algorithm::Md5, b"pw", &n, "00000001", 10);
        assert_eq!(v.check(&c, b"REGISTER", Some(&secret), 10), Verdict::Ok);
    }
}
