//! CK and IK in the S-CSCF's 401: the P-CSCF takes `ck="…"` and `ik="…"`
//! out of WWW-Authenticate and forwards the challenge without them (TS
//! 33.203 §7.1, TS 24.229 §5.2.2). Parsed as RFC 7235 auth-params, not with
//! a regular expression, so quoted commas and parameter order do not matter.

use std::fmt;

use super::keys::ImsKeys;

/// The challenge with CK/IK removed, and the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrippedChallenge {
    /// The WWW-Authenticate value to forward to the UE.
    pub header: String,
    /// CK and IK.
    pub keys: ImsKeys,
}

/// Why CK/IK could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CkIkError {
    /// No auth-scheme before the parameters.
    NoScheme,
    /// A quoted string is not closed.
    UnterminatedQuote,
    /// A parameter without `=`.
    MalformedParameter { text: String },
    /// `ck` or `ik` is missing.
    Missing { name: &'static str },
    /// `ck` or `ik` appears twice.
    Duplicate { name: &'static str },
    /// `ck` or `ik` is not 32 hex digits.
    BadKey { name: &'static str, value: String },
}

impl fmt::Display for CkIkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoScheme => f.write_str("WWW-Authenticate has no auth scheme"),
            Self::UnterminatedQuote => {
                f.write_str("WWW-Authenticate has an unterminated quoted string")
            }
            Self::MalformedParameter { text } => write!(f, "malformed auth-param `{text}`"),
            Self::Missing { name } => write!(f, "401 carries no `{name}` parameter"),
            Self::Duplicate { name } => write!(f, "401 carries `{name}` twice"),
            Self::BadKey { name, value } => {
                write!(f, "`{name}` must be 32 hex digits, got `{value}`")
            }
        }
    }
}

impl std::error::Error for CkIkError {}

/// Takes CK and IK out of a WWW-Authenticate value such as
/// `Digest realm="ims", nonce="…", algorithm=AKAv1-MD5, ck="…", ik="…", qop="auth"`
/// and returns the value without them. Other parameters keep their text.
pub fn take_ck_ik(value: &str) -> Result<StrippedChallenge, CkIkError> {
    let value = value.trim();
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    let scheme = &value[..scheme_end];
    if scheme.is_empty() || scheme.contains('=') {
        return Err(CkIkError::NoScheme);
    }
    let (mut ck, mut ik) = (None, None);
    let mut kept = Vec::new();
    for param in split_params(&value[scheme_end..])? {
        let (name, raw) = param
            .split_once('=')
            .ok_or_else(|| CkIkError::MalformedParameter {
                text: param.to_owned(),
            })?;
        let name = name.trim();
        let slot = if name.eq_ignore_ascii_case("ck") {
            Some(("ck", &mut ck))
        } else if name.eq_ignore_ascii_case("ik") {
            Some(("ik", &mut ik))
        } else {
            None
        };
        match slot {
            Some((key, slot)) => {
                if slot.is_some() {
                    return Err(CkIkError::Duplicate { name: key });
                }
                *slot = Some(decode_key(key, raw.trim())?);
            }
            None => kept.push(param),
        }
    }
    let ck = ck.ok_or(CkIkError::Missing { name: "ck" })?;
    let ik = ik.ok_or(CkIkError::Missing { name: "ik" })?;
    let mut header = scheme.to_owned();
    if !kept.is_empty() {
        header.push(' ');
        header.push_str(&kept.join(", "));
    }
    Ok(StrippedChallenge {
        header,
        keys: ImsKeys { ck, ik },
    })
}

/// Splits auth-params at commas outside quoted strings; trims each; drops
/// empty elements (RFC 7230 §7 list rule).
fn split_params(s: &str) -> Result<Vec<&str>, CkIkError> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut quoted) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err(CkIkError::UnterminatedQuote);
    }
    out.push(s[start..].trim());
    out.retain(|p| !p.is_empty());
    Ok(out)
}

fn decode_key(name: &'static str, raw: &str) -> Result<[u8; 16], CkIkError> {
    let text = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    let mut key = [0u8; 16];
    hex::decode_to_slice(text, &mut key).map_err(|_| CkIkError::BadKey {
        name,
        value: text.to_owned(),
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CK: &str = "b40ba9a3c58b2a05bbf0d987b21bf8cb";
    const IK: &str = "f769bcd751044604127672711c6d3441";

    #[test]
    fn takes_and_strips_kamailio_shaped_keys() {
        let v = format!(
            r#"Digest realm="ims.example", nonce="q83vEjRWeJCrze8SNFZ4kA==", algorithm=AKAv1-MD5, ck="{CK}", ik="{IK}", qop="auth""#
        );
        let s = take_ck_ik(&v).unwrap();
        assert_eq!(
            s.header,
            r#"Digest realm="ims.example", nonce="q83vEjRWeJCrze8SNFZ4kA==", algorithm=AKAv1-MD5, qop="auth""#
        );
        assert_eq!(hex::encode(s.keys.ck), CK);
        assert_eq!(hex::encode(s.keys.ik), IK);
    }

    #[test]
    fn order_case_unquoted_and_quoted_commas() {
        let v = format!(r#"Digest IK={IK},realm="a, ck=\"x\"",CK="{CK}""#);
        let s = take_ck_ik(&v).unwrap();
        assert_eq!(s.header, r#"Digest realm="a, ck=\"x\"""#);
        assert_eq!(hex::encode(s.keys.ik), IK);
    }

    #[test]
    fn errors() {
        assert_eq!(
            take_ck_ik(&format!(r#"Digest realm="x", ck="{CK}""#)),
            Err(CkIkError::Missing { name: "ik" })
        );
        assert_eq!(
            take_ck_ik(&format!(r#"Digest ck="{CK}", ik="{IK}", ck="{CK}""#)),
            Err(CkIkError::Duplicate { name: "ck" })
        );
        assert!(matches!(
            take_ck_ik(&format!(r#"Digest ck="abc", ik="{IK}""#)),
            Err(CkIkError::BadKey { name: "ck", .. })
        ));
        assert_eq!(
            take_ck_ik(r#"Digest realm="x"#),
            Err(CkIkError::UnterminatedQuote)
        );
        assert_eq!(take_ck_ik("realm=x"), Err(CkIkError::NoScheme));
        assert!(matches!(
            take_ck_ik("Digest realm"),
            Err(CkIkError::MalformedParameter { .. })
        ));
    }
}
