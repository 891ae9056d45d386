//! Transaction matching (RFC 3261 §17.1.3, §17.2.3) and the branches we
//! generate.
//!
//! **Client side.** Our branch is Kamailio's shape with the shard put in
//! the hash-index part: `z9hG4bK<shard:4 hex><slot:8 hex>.<32 hex>.<n>`,
//! where `slot` indexes the owner's table, the 32 hex digits are a nonce
//! that must equal the slot's current occupant (so a late response to a
//! freed slot cannot reach its new occupant), and `n` is the branch index.
//! [`owner_shard`] is a pure function of the branch: a response that lands
//! on the wrong shard (the kernel spreads UDP by 4-tuple) is handed to its
//! owner without a shared lookup.
//!
//! **Server side.** [`ServerKey`] holds the matching components of a
//! request. With a `z9hG4bK` branch: top Via branch + sent-by + method, ACK
//! counting as INVITE. Without it (RFC 2543): Request-URI, From tag,
//! Call-ID, CSeq number, top Via and method. [`home_shard`] hashes the same
//! components minus the method with a fixed function, so an INVITE, its
//! retransmissions, its CANCEL and its non-2xx ACK all land on one shard
//! when the runtime steers requests by it.

use std::hash::{BuildHasher, Hash, Hasher};

use crate::sip::host::unbracket;
use crate::sip::{Message, Method};

/// The RFC 3261 magic cookie.
pub const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// The parts of a branch we generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchId {
    pub shard: u16,
    pub slot: u32,
    pub nonce: u128,
    /// Branch index within the transaction (`$T_branch_idx`).
    pub index: u8,
}

/// The longest branch we write: cookie, 4 + 8 hex, `.`, 32 hex, `.`,
/// three digits.
const PARAM_MAX: usize = 7 + 12 + 1 + 32 + 1 + 3;

/// Writes `bytes` as hex, two lowercase digits each (what `{:0Nx}` writes
/// for the big-endian number, without the formatting machinery), at
/// `out[at..]`; returns the index past them.
fn put_hex(out: &mut [u8; PARAM_MAX], at: usize, bytes: &[u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (k, &b) in bytes.iter().enumerate() {
        out[at + 2 * k] = HEX[usize::from(b >> 4)];
        out[at + 2 * k + 1] = HEX[usize::from(b & 0xf)];
    }
    at + 2 * bytes.len()
}

/// A branch written on the stack ([`BranchId::param`]).
#[derive(Debug, Clone, Copy)]
pub struct ParamBytes {
    buf: [u8; PARAM_MAX],
    len: usize,
}

impl ParamBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl BranchId {
    /// [`BranchId::to_param`] on the stack.
    pub fn param(&self) -> ParamBytes {
        let (buf, len) = self.encode();
        ParamBytes { buf, len }
    }

    /// The branch on the stack: the bytes and how many are used.
    fn encode(&self) -> ([u8; PARAM_MAX], usize) {
        let mut b = [0u8; PARAM_MAX];
        b[..7].copy_from_slice(MAGIC_COOKIE);
        let mut n = put_hex(&mut b, 7, &self.shard.to_be_bytes());
        n = put_hex(&mut b, n, &self.slot.to_be_bytes());
        b[n] = b'.';
        n = put_hex(&mut b, n + 1, &self.nonce.to_be_bytes());
        b[n] = b'.';
        n += 1;
        // Decimal, no leading zeros (u8: at most three digits).
        let i = self.index;
        if i >= 100 {
            b[n] = b'0' + i / 100;
            n += 1;
        }
        if i >= 10 {
            b[n] = b'0' + i / 10 % 10;
            n += 1;
        }
        b[n] = b'0' + i % 10;
        (b, n + 1)
    }

    /// `z9hG4bK<shard><slot>.<nonce>.<index>`.
    pub fn to_param(&self) -> String {
        // ASCII: the checked conversion never replaces anything.
        String::from_utf8_lossy(self.param().as_bytes()).into_owned()
    }

    /// True when `param` is exactly [`BranchId::to_param`] (no allocation).
    pub fn is_param(&self, param: &[u8]) -> bool {
        param == self.param().as_bytes()
    }

    /// Parses a branch of ours; None for any other shape.
    pub fn parse(branch: &[u8]) -> Option<BranchId> {
        let rest = branch.strip_prefix(MAGIC_COOKIE)?;
        if rest.len() < 12 + 1 + 32 + 2 || rest[12] != b'.' || rest[45] != b'.' {
            return None;
        }
        let shard = u16::try_from(hex(&rest[..4])?).ok()?;
        let slot = u32::try_from(hex(&rest[4..12])?).ok()?;
        let nonce = u128::from(hex(&rest[13..29])?) << 64 | u128::from(hex(&rest[29..45])?);
        // One to three decimal digits (leading zeros allowed), at most 255.
        let idx = &rest[46..];
        if idx.is_empty() || idx.len() > 3 {
            return None;
        }
        let mut index: u32 = 0;
        for &b in idx {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            index = index * 10 + u32::from(d);
        }
        let index = u8::try_from(index).ok()?;
        Some(BranchId {
            shard,
            slot,
            nonce,
            index,
        })
    }
}

/// Up to 16 lowercase hex digits.
fn hex(s: &[u8]) -> Option<u64> {
    debug_assert!(s.len() <= 16);
    let mut v: u64 = 0;
    for &b in s {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// The shard that owns the client transaction behind `branch`, if we
/// generated it.
pub fn owner_shard(branch: &[u8]) -> Option<u16> {
    BranchId::parse(branch).map(|b| b.shard)
}

/// The shard that owns the client transaction a response belongs to.
pub fn response_owner(msg: &Message) -> Option<u16> {
    owner_shard(msg.top_via()?.branch()?)
}

/// Matching components of a received request (§17.2.3).
#[derive(Debug, Clone, Copy)]
pub struct ServerKey<'a> {
    /// The top Via has a `z9hG4bK` branch.
    pub rfc3261: bool,
    pub branch: &'a [u8],
    /// Sent-by host (unbracketed; compared case-insensitively).
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// The method the transaction was created for (INVITE for an ACK).
    pub method: &'a [u8],
    // RFC 2543 components, read only when `rfc3261` is false.
    pub top_via: &'a [u8],
    pub ruri: &'a [u8],
    pub call_id: &'a [u8],
    pub from_tag: &'a [u8],
    pub cseq: u32,
}

impl<'a> ServerKey<'a> {
    /// The key of the transaction `msg` belongs to: an ACK belongs to its
    /// INVITE; a CANCEL to a CANCEL transaction (see [`ServerKey::as_invite`]).
    pub fn of(msg: &'a Message) -> Option<ServerKey<'a>> {
        let via = msg.top_via()?;
        let branch = via.branch().unwrap_or(b"");
        let method = match msg.method() {
            Method::Ack => b"INVITE".as_slice(),
            _ => msg.method_bytes(),
        };
        Some(ServerKey {
            //= RFC 3261 §17.2.3
            //# the branch parameter in the topmost Via header field of the
            //# request is examined.  If it is present and begins with the
            //# magic cookie "z9hG4bK", the request was generated by a client
            //# transaction compliant to this specification.
            rfc3261: branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE),
            branch,
            host: unbracket(via.host),
            port: via.port,
            method,
            top_via: via.raw,
            ruri: if msg.is_request() {
                msg.ruri_bytes()
            } else {
                b""
            },
            call_id: msg.call_id().unwrap_or(b""),
            from_tag: msg.from_tag().unwrap_or(b""),
            cseq: msg.cseq().map_or(0, |c| c.number),
        })
    }

    /// The key of the INVITE a CANCEL targets (§9.2: same components,
    /// method INVITE).
    pub fn as_invite(mut self) -> ServerKey<'a> {
        self.method = b"INVITE";
        self
    }

    /// Whether `self` and `other` name the same transaction.
    pub fn same(&self, other: &ServerKey<'_>) -> bool {
        if self.rfc3261 != other.rfc3261 || self.method != other.method {
            return false;
        }
        if self.rfc3261 {
            //# 1. the branch parameter in the request is equal to the one in
            //#    the top Via header field of the request that created the
            //#    transaction, and
            //# 2. the sent-by value in the top Via of the request is equal to
            //#    the one in the request that created the transaction, and
            //# 3. the method of the request matches the one that created the
            //#    transaction, except for ACK, where the method of the request
            //#    that created the transaction is INVITE.
            self.branch == other.branch
                && self.host.eq_ignore_ascii_case(other.host)
                && self.port == other.port
        } else {
            self.ruri == other.ruri
                && self.call_id == other.call_id
                && self.from_tag == other.from_tag
                && self.cseq == other.cseq
                && self.top_via == other.top_via
        }
    }

    /// A hash consistent with [`ServerKey::same`].
    pub fn hash_with(&self, s: &impl BuildHasher) -> u64 {
        let mut h = s.build_hasher();
        // The usual key in one `write` (a keyed hash pays per call):
        // branch and host length-prefixed, the host lowercased, the port,
        // the method. Equal keys have equal lengths, so they take the same
        // path; the encoding is injective.
        let mut buf = [0u8; 160];
        let need = 2 + self.branch.len() + 2 + self.host.len() + 3 + self.method.len();
        if self.rfc3261 && need <= buf.len() {
            let mut n = 0;
            let mut put = |bytes: &[u8]| {
                buf[n..n + bytes.len()].copy_from_slice(bytes);
                n += bytes.len();
            };
            // Both lengths are below `buf.len()`.
            put(&(self.branch.len() as u16).to_le_bytes());
            put(self.branch);
            put(&(self.host.len() as u16).to_le_bytes());
            put(self.host);
            let port = self.port.map_or([0, 0, 0], |p| {
                let [a, b] = p.to_le_bytes();
                [1, a, b]
            });
            put(&port);
            put(self.method);
            let host_at = 2 + self.branch.len() + 2;
            buf[host_at..host_at + self.host.len()].make_ascii_lowercase();
            h.write(&buf[..n]);
            return h.finish();
        }
        self.feed(&mut h, true);
        h.finish()
    }

    fn feed(&self, h: &mut impl Hasher, with_method: bool) {
        if self.rfc3261 {
            self.branch.hash(h);
            // The host lowercased, a few bytes per `write` (the hash sees
            // the same byte stream as one `write_u8` per byte).
            let mut lower = [0u8; 32];
            for chunk in self.host.chunks(lower.len()) {
                let lower = &mut lower[..chunk.len()];
                lower.copy_from_slice(chunk);
                lower.make_ascii_lowercase();
                h.write(lower);
            }
            self.port.hash(h);
        } else {
            self.ruri.hash(h);
            self.call_id.hash(h);
            self.from_tag.hash(h);
            self.cseq.hash(h);
            self.top_via.hash(h);
        }
        if with_method {
            self.method.hash(h);
        }
    }
}

/// FNV-1a: a fixed hash every shard computes identically.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The shard a request's server transaction lives on, out of `shards`:
/// INVITE, its retransmissions, CANCEL and non-2xx ACK agree.
pub fn home_shard(msg: &Message, shards: u16) -> u16 {
    let Some(key) = ServerKey::of(msg) else {
        return 0;
    };
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    key.feed(&mut h, false);
    u16::try_from(h.finish() % u64::from(shards.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_match_hash_alike() {
        let s = std::collections::hash_map::RandomState::new();
        let long = [b'a'; 200];
        for branch in [&b"z9hG4bKx"[..], &long[..]] {
            let a = ServerKey {
                rfc3261: true,
                branch,
                host: b"Example.COM",
                port: Some(5060),
                method: b"INVITE",
                top_via: b"",
                ruri: b"",
                call_id: b"",
                from_tag: b"",
                cseq: 1,
            };
            let b = ServerKey {
                host: b"example.com",
                ..a
            };
            assert!(a.same(&b));
            assert_eq!(a.hash_with(&s), b.hash_with(&s));
            // Keys that differ (by a 2^-64 chance only) hash apart.
            for c in [
                ServerKey { port: None, ..a },
                ServerKey {
                    port: Some(5061),
                    ..a
                },
                ServerKey {
                    method: b"BYE",
                    ..a
                },
                ServerKey {
                    host: b"example.co",
                    ..a
                },
            ] {
                assert!(!a.same(&c));
                assert_ne!(a.hash_with(&s), c.hash_with(&s));
            }
        }
    }

    #[test]
    fn branch_round_trip() {
        let b = BranchId {
            shard: 3,
            slot: 0x1234,
            nonce: 0xdead_beef,
            index: 11,
        };
        let p = b.to_param();
        assert_eq!(p, "z9hG4bK000300001234.000000000000000000000000deadbeef.11");
        assert_eq!(BranchId::parse(p.as_bytes()), Some(b));
        assert_eq!(owner_shard(p.as_bytes()), Some(3));
        assert_eq!(owner_shard(b"z9hG4bK776asdhds"), None);
        assert_eq!(owner_shard(&p.as_bytes()[..p.len() - 3]), None);
        let head = &p[..p.len() - 2];
        let with = |idx: &str| BranchId::parse(format!("{head}{idx}").as_bytes());
        assert_eq!(with("011").map(|b| b.index), Some(11));
        assert_eq!(with("255").map(|b| b.index), Some(255));
        assert_eq!(with("256"), None);
        assert_eq!(with("1a"), None);
        assert_eq!(with("1000"), None);
        assert_eq!(BranchId::parse(p.to_uppercase().as_bytes()), None);
    }

    #[test]
    fn branch_param_is_what_the_format_string_wrote() {
        for (shard, slot, nonce, index) in [
            (0u16, 0u32, 0u128, 0u8),
            (u16::MAX, u32::MAX, u128::MAX, u8::MAX),
            (0xa, 0xbeef, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, 9),
            (7, 1, 1 << 127, 10),
            (7, 1, 5, 99),
            (7, 1, 5, 100),
        ] {
            let b = BranchId {
                shard,
                slot,
                nonce,
                index,
            };
            let want = format!("z9hG4bK{shard:04x}{slot:08x}.{nonce:032x}.{index}");
            assert_eq!(b.to_param(), want);
            assert!(b.is_param(want.as_bytes()));
            assert!(!b.is_param(&want.as_bytes()[..want.len() - 1]));
            assert!(!b.is_param(format!("{want}0").as_bytes()));
            assert_eq!(BranchId::parse(want.as_bytes()), Some(b));
        }
    }
}
