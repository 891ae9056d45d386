//! Security-Client, Security-Server and Security-Verify header values
//! (RFC 3329 §2.2) and the `ipsec-3gpp` mechanism's parameters (TS 33.203
//! Annex H):
//!
//! ```text
//! sec-mechanism   = mechanism-name *(SEMI mech-parameters)
//! mech-parameters = preference / digest-algorithm / digest-qop / digest-verify / extension
//! ipsec-3gpp      = "ipsec-3gpp" ;alg= ;ealg= ;spi-c= ;spi-s= ;port-c= ;port-s= [;prot=] [;mod=] [;q=]
//! ```
//!
//! One header value may carry several mechanisms separated by commas.

use std::fmt;

/// A mechanism with its parameters, in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecMechanism {
    /// Mechanism name, e.g. `ipsec-3gpp`, `digest`, `tls`.
    pub name: String,
    /// Parameters: name and value (unquoted), or name alone.
    pub params: Vec<(String, Option<String>)>,
}

impl SecMechanism {
    /// The value of parameter `name` (case-insensitive); `None` if absent
    /// or valueless.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// RFC 3329 §2.3.1 comparison for Security-Verify: same mechanism and
    /// the same parameters, ignoring case and parameter order.
    pub fn same_as(&self, other: &SecMechanism) -> bool {
        let norm = |m: &SecMechanism| {
            let mut p: Vec<(String, Option<String>)> = m
                .params
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_ascii_lowercase(),
                        v.as_ref().map(|v| v.to_ascii_lowercase()),
                    )
                })
                .collect();
            p.sort();
            p
        };
        self.name.eq_ignore_ascii_case(&other.name) && norm(self) == norm(other)
    }
}

impl fmt::Display for SecMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (n, v) in &self.params {
            match v {
                Some(v) if v.bytes().all(is_token_byte) && !v.is_empty() => write!(f, ";{n}={v}")?,
                Some(v) => write!(
                    f,
                    ";{n}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// Whether a Security-Verify value lists exactly the mechanisms of the
/// Security-Server the P-CSCF sent (RFC 3329 §2.3.1 downgrade protection).
pub fn verify_matches(verify: &[SecMechanism], server: &[SecMechanism]) -> bool {
    verify.len() == server.len() && server.iter().all(|s| verify.iter().any(|v| v.same_as(s)))
}

/// What is wrong with a Security-* header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecHeaderError {
    /// No mechanism at all.
    Empty,
    /// A comma with nothing (or only parameters) before it.
    MissingMechanism { index: usize },
    /// A name or unquoted value with a character RFC 3261 `token` forbids.
    BadToken { index: usize, text: String },
    /// A quoted string without its closing quote.
    UnterminatedQuote,
    /// `;=value` or `;;`.
    EmptyParameter { index: usize },
    /// An `ipsec-3gpp` mechanism lacks a parameter it needs.
    MissingParameter { name: &'static str },
    /// A numeric parameter is not a number in range.
    BadNumber { name: &'static str, value: String },
}

impl fmt::Display for SecHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty security header: no mechanism"),
            Self::MissingMechanism { index } => write!(f, "mechanism {index} has no name"),
            Self::BadToken { index, text } => {
                write!(f, "mechanism {index}: `{text}` is not a valid token")
            }
            Self::UnterminatedQuote => f.write_str("unterminated quoted string"),
            Self::EmptyParameter { index } => write!(f, "mechanism {index}: empty parameter"),
            Self::MissingParameter { name } => write!(f, "ipsec-3gpp offer without `{name}`"),
            Self::BadNumber { name, value } => write!(f, "`{name}={value}` is not a valid number"),
        }
    }
}

impl std::error::Error for SecHeaderError {}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Splits `s` at `sep` bytes that are not inside a quoted string.
fn split_outside_quotes(s: &str, sep: u8) -> Result<Vec<&str>, SecHeaderError> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i, mut quoted) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b if b == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err(SecHeaderError::UnterminatedQuote);
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn unquote(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

fn token(index: usize, text: &str) -> Result<String, SecHeaderError> {
    if !text.is_empty() && text.bytes().all(is_token_byte) {
        Ok(text.to_owned())
    } else {
        Err(SecHeaderError::BadToken {
            index,
            text: text.to_owned(),
        })
    }
}

/// Parses one Security-Client / Security-Server / Security-Verify value.
/// Several header lines of the same name may be joined with commas first.
pub fn parse_sec_header(value: &str) -> Result<Vec<SecMechanism>, SecHeaderError> {
    if value.trim().is_empty() {
        return Err(SecHeaderError::Empty);
    }
    let mut mechanisms = Vec::new();
    for (index, mech) in split_outside_quotes(value, b',')?.into_iter().enumerate() {
        let mut parts = split_outside_quotes(mech, b';')?.into_iter();
        let name = parts.next().unwrap_or("").trim();
        if name.is_empty() {
            return Err(SecHeaderError::MissingMechanism { index });
        }
        let name = token(index, name)?;
        let mut params = Vec::new();
        for p in parts {
            let (n, v) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (p.trim(), None),
            };
            if n.is_empty() {
                return Err(SecHeaderError::EmptyParameter { index });
            }
            let value = match v {
                None => None,
                Some(v) if v.starts_with('"') => {
                    Some(unquote(v).ok_or(SecHeaderError::UnterminatedQuote)?)
                }
                Some(v) => Some(token(index, v)?),
            };
            params.push((token(index, n)?, value));
        }
        mechanisms.push(SecMechanism { name, params });
    }
    Ok(mechanisms)
}

/// The parameters of one `ipsec-3gpp` offer (TS 33.203 Annex H).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipsec3gppOffer {
    /// `alg`: integrity algorithm token, as sent.
    pub alg: String,
    /// `ealg`: encryption token; absent means `null` (TS 33.203 Annex H).
    pub ealg: String,
    /// `prot`, default `esp`.
    pub prot: String,
    /// `mod`, default `trans`.
    pub mode: String,
    /// `spi-c`: the sender's SPI for its protected client port.
    pub spi_c: u32,
    /// `spi-s`: the sender's SPI for its protected server port.
    pub spi_s: u32,
    /// `port-c`: the sender's protected client port.
    pub port_c: u16,
    /// `port-s`: the sender's protected server port.
    pub port_s: u16,
}

impl Ipsec3gppOffer {
    /// The name of the mechanism.
    pub const MECHANISM: &'static str = "ipsec-3gpp";

    /// Reads an `ipsec-3gpp` mechanism; `Ok(None)` for other mechanisms.
    pub fn from_mechanism(m: &SecMechanism) -> Result<Option<Self>, SecHeaderError> {
        if !m.name.eq_ignore_ascii_case(Self::MECHANISM) {
            return Ok(None);
        }
        let required = |name: &'static str| {
            m.param(name)
                .ok_or(SecHeaderError::MissingParameter { name })
        };
        let number = |name: &'static str| -> Result<u64, SecHeaderError> {
            let v = required(name)?;
            v.parse().map_err(|_| SecHeaderError::BadNumber {
                name,
                value: v.to_owned(),
            })
        };
        let spi = |name: &'static str| {
            u32::try_from(number(name)?).map_err(|_| SecHeaderError::BadNumber {
                name,
                value: required(name).unwrap_or_default().to_owned(),
            })
        };
        let port = |name: &'static str| {
            u16::try_from(number(name)?).map_err(|_| SecHeaderError::BadNumber {
                name,
                value: required(name).unwrap_or_default().to_owned(),
            })
        };
        Ok(Some(Self {
            alg: required("alg")?.to_owned(),
            ealg: m.param("ealg").unwrap_or("null").to_owned(),
            prot: m.param("prot").unwrap_or("esp").to_owned(),
            mode: m.param("mod").unwrap_or("trans").to_owned(),
            spi_c: spi("spi-c")?,
            spi_s: spi("spi-s")?,
            port_c: port("port-c")?,
            port_s: port("port-s")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real UE's Security-Client (ims-ipsec.md §1.2), shortened to three offers.
    const UE: &str = "ipsec-3gpp;prot=esp;mod=trans;spi-c=54900;spi-s=54901;port-c=6902;port-s=6900;alg=hmac-md5-96;ealg=des-ede3-cbc, \
        ipsec-3gpp;prot=esp;mod=trans;spi-c=54900;spi-s=54901;port-c=6902;port-s=6900;alg=hmac-sha-1-96;ealg=aes-cbc,\r\n ipsec-3gpp;alg=hmac-sha-1-96;spi-c=54900;spi-s=54901;port-c=6902;port-s=6900";

    #[test]
    fn parses_a_real_security_client() {
        let m = parse_sec_header(UE).unwrap();
        assert_eq!(m.len(), 3);
        let offers: Vec<_> = m
            .iter()
            .map(|m| Ipsec3gppOffer::from_mechanism(m).unwrap().unwrap())
            .collect();
        assert_eq!(offers[0].alg, "hmac-md5-96");
        assert_eq!(offers[1].ealg, "aes-cbc");
        assert_eq!(offers[2].ealg, "null", "a missing ealg means null");
        assert_eq!(
            (offers[2].prot.as_str(), offers[2].mode.as_str()),
            ("esp", "trans")
        );
        assert_eq!(
            (
                offers[1].spi_c,
                offers[1].spi_s,
                offers[1].port_c,
                offers[1].port_s
            ),
            (54900, 54901, 6902, 6900)
        );
    }

    #[test]
    fn quoted_values_and_other_mechanisms() {
        let m =
            parse_sec_header(r#"digest;d-alg=md5;d-ver="0123, \"x\"";q=0.1, tls;q=0.2"#).unwrap();
        assert_eq!(m[0].param("D-VER"), Some(r#"0123, "x""#));
        assert_eq!(m[1].name, "tls");
        assert_eq!(Ipsec3gppOffer::from_mechanism(&m[0]), Ok(None));
        // Display quotes what is not a token, and parses back the same.
        assert_eq!(parse_sec_header(&m[0].to_string()).unwrap()[0], m[0]);
    }

    #[test]
    fn malformed_values() {
        assert_eq!(parse_sec_header("  "), Err(SecHeaderError::Empty));
        assert_eq!(
            parse_sec_header("ipsec-3gpp, ;alg=x"),
            Err(SecHeaderError::MissingMechanism { index: 1 })
        );
        assert!(matches!(
            parse_sec_header("ips ec;a=b"),
            Err(SecHeaderError::BadToken { .. })
        ));
        assert_eq!(
            parse_sec_header("x;d=\"abc"),
            Err(SecHeaderError::UnterminatedQuote)
        );
        assert_eq!(
            parse_sec_header("x;=1"),
            Err(SecHeaderError::EmptyParameter { index: 0 })
        );
        let m =
            parse_sec_header("ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=70000;port-s=1")
                .unwrap();
        assert!(matches!(
            Ipsec3gppOffer::from_mechanism(&m[0]),
            Err(SecHeaderError::BadNumber { name: "port-c", .. })
        ));
        let m = parse_sec_header("ipsec-3gpp;alg=hmac-md5-96;spi-c=1;port-c=7;port-s=1").unwrap();
        assert_eq!(
            Ipsec3gppOffer::from_mechanism(&m[0]),
            Err(SecHeaderError::MissingParameter { name: "spi-s" })
        );
    }

    #[test]
    fn security_verify_comparison_ignores_case_space_and_order() {
        let server = parse_sec_header("ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c=1000;spi-s=1001;port-c=5100;port-s=6100;alg=hmac-sha-1-96;ealg=aes-cbc").unwrap();
        let verify = parse_sec_header("IPSEC-3GPP; alg=HMAC-SHA-1-96 ;ealg=aes-cbc;spi-c=1000;spi-s=1001;port-c=5100;port-s=6100;prot=esp;mod=trans;q=0.1").unwrap();
        assert!(verify_matches(&verify, &server));
        let downgraded = parse_sec_header("ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c=1000;spi-s=1001;port-c=5100;port-s=6100;alg=hmac-sha-1-96;ealg=null").unwrap();
        assert!(!verify_matches(&downgraded, &server));
        assert!(!verify_matches(&[], &server));
    }
}
