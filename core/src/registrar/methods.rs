//! A binding's accepted methods as Kamailio's method bitmask (the
//! usrloc `methods` column): read from a Contact's `;methods="..."` or the
//! REGISTER's `Allow` headers, and tested by `lookup()` when registrar's
//! `method_filtering` is on. `None` stands for Kamailio's `ALL_METHODS`
//! (no restriction, stored as NULL).

/// Kamailio's method bits (`core/parser/parse_methods.h`, 5.6).
pub const INVITE: u32 = 1;
pub const CANCEL: u32 = 1 << 1;
pub const ACK: u32 = 1 << 2;
pub const BYE: u32 = 1 << 3;
pub const INFO: u32 = 1 << 4;
pub const REGISTER: u32 = 1 << 5;
pub const SUBSCRIBE: u32 = 1 << 6;
pub const NOTIFY: u32 = 1 << 7;
pub const MESSAGE: u32 = 1 << 8;
pub const OPTIONS: u32 = 1 << 9;
pub const PRACK: u32 = 1 << 10;
pub const UPDATE: u32 = 1 << 11;
pub const REFER: u32 = 1 << 12;
pub const PUBLISH: u32 = 1 << 13;
pub const KDMQ: u32 = 1 << 14;
pub const GET: u32 = 1 << 15;
pub const POST: u32 = 1 << 16;
pub const PUT: u32 = 1 << 17;
pub const DELETE: u32 = 1 << 18;
/// Any method not named above.
pub const OTHER: u32 = 1 << 19;
/// `ALL_METHODS`: what a binding without a restriction accepts.
pub const ALL: u32 = u32::MAX;

const NAMES: &[(&str, u32)] = &[
    ("INVITE", INVITE),
    ("CANCEL", CANCEL),
    ("ACK", ACK),
    ("BYE", BYE),
    ("INFO", INFO),
    ("REGISTER", REGISTER),
    ("SUBSCRIBE", SUBSCRIBE),
    ("NOTIFY", NOTIFY),
    ("MESSAGE", MESSAGE),
    ("OPTIONS", OPTIONS),
    ("PRACK", PRACK),
    ("UPDATE", UPDATE),
    ("REFER", REFER),
    ("PUBLISH", PUBLISH),
    ("KDMQ", KDMQ),
    ("GET", GET),
    ("POST", POST),
    ("PUT", PUT),
    ("DELETE", DELETE),
];

/// The bit of a method name (case-insensitive, as Kamailio); `OTHER` for
/// any other token.
pub fn bit_of(name: &[u8]) -> u32 {
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map_or(OTHER, |(_, b)| *b)
}

/// A method list that is not `token *(, token)` (Kamailio refuses a
/// Contact's `;methods` like that, and ignores such an `Allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadMethodList;

/// RFC 3261 token characters.
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// A comma-separated method list (an `Allow` value, a `methods` param
/// without its quotes) as Kamailio's `parse_methods`: empty is 0, a
/// trailing comma ends the list, anything else that is not
/// `token *(, token)` is an error.
pub fn parse_list(body: &[u8]) -> Result<u32, BadMethodList> {
    let mut rest = body.trim_ascii_start();
    let mut mask = 0;
    while !rest.is_empty() {
        let n = rest
            .iter()
            .position(|&c| !is_token(c))
            .unwrap_or(rest.len());
        if n == 0 {
            return Err(BadMethodList);
        }
        mask |= bit_of(&rest[..n]);
        rest = rest[n..].trim_ascii_start();
        match rest.split_first() {
            None => break,
            Some((b',', r)) => rest = r.trim_ascii_start(),
            Some(_) => return Err(BadMethodList),
        }
    }
    Ok(mask)
}

/// What `save()` stores for one Contact: its `;methods` parameter
/// (`Some(None)`: the parameter without a value) if it has one, else
/// `allow`, the REGISTER's `Allow` mask. Err: the parameter does not
/// parse (Kamailio refuses the REGISTER).
pub fn of_contact(
    param: Option<Option<&[u8]>>,
    allow: Option<u32>,
) -> Result<Option<u32>, BadMethodList> {
    match param {
        None => Ok(allow),
        Some(v) => {
            let v = v.unwrap_or_default().trim_ascii();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            parse_list(v).map(Some)
        }
    }
}

/// The REGISTER's `Allow` mask from its header values: the union of
/// every line; None (no restriction) without an `Allow` header or when
/// one does not parse, as Kamailio.
pub fn of_allow<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<u32> {
    let mut mask = None;
    for l in lines {
        let m = parse_list(l).ok()?;
        mask = Some(mask.unwrap_or(0) | m);
    }
    mask
}

/// Whether a binding storing `methods` accepts a request of `method`.
pub fn accepts(methods: Option<u32>, method: &[u8]) -> bool {
    methods.unwrap_or(ALL) & bit_of(method) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_kamailios() {
        // Allow: INVITE, ACK, CANCEL, BYE -> 15 in Kamailio 5.6's db_text
        assert_eq!(parse_list(b"INVITE, ACK, CANCEL, BYE"), Ok(15));
        // methods="INVITE,MESSAGE" -> 257
        assert_eq!(parse_list(b"INVITE,MESSAGE"), Ok(257));
        assert_eq!(bit_of(b"OPTIONS"), 512);
        assert_eq!(bit_of(b"PUBLISH"), 8192);
        assert_eq!(bit_of(b"FOO"), 524288);
        assert_eq!(bit_of(b"invite"), INVITE);
    }

    #[test]
    fn lists_parse_as_kamailio() {
        assert_eq!(parse_list(b""), Ok(0));
        assert_eq!(parse_list(b"  "), Ok(0));
        assert_eq!(parse_list(b"INVITE,"), Ok(INVITE));
        assert_eq!(parse_list(b"INVITE MESSAGE"), Err(BadMethodList));
        assert_eq!(parse_list(b"INVITE,,MESSAGE"), Err(BadMethodList));
        assert_eq!(
            parse_list(b"foo, OPTIONS ,invite"),
            Ok(OTHER | OPTIONS | INVITE)
        );
    }

    #[test]
    fn allow_lines_join_and_a_bad_one_lifts_the_restriction() {
        let l: [&[u8]; 2] = [b"INVITE, ACK", b"foo, OPTIONS, invite"];
        assert_eq!(of_allow(l), Some(524805));
        assert_eq!(of_allow([] as [&[u8]; 0]), None);
        assert_eq!(of_allow([&b""[..]]), Some(0));
        assert_eq!(of_allow([&b"INVITE ,  BYE,,MESSAGE"[..]]), None);
    }

    #[test]
    fn the_contact_parameter_wins_over_allow() {
        let allow = Some(15);
        assert_eq!(of_contact(None, allow), Ok(allow));
        assert_eq!(
            of_contact(Some(Some(&b"\"INVITE,MESSAGE\""[..])), allow),
            Ok(Some(257))
        );
        assert_eq!(of_contact(Some(Some(&b"INVITE"[..])), None), Ok(Some(1)));
        assert_eq!(of_contact(Some(Some(&b"\"\""[..])), None), Ok(Some(0)));
        assert_eq!(of_contact(Some(None), None), Ok(Some(0)));
        assert_eq!(
            of_contact(Some(Some(&b"\"INVITE MESSAGE\""[..])), None),
            Err(BadMethodList)
        );
    }

    #[test]
    fn accepts_tests_the_request_methods_bit() {
        assert!(accepts(None, b"MESSAGE"));
        assert!(accepts(Some(15), b"INVITE"));
        assert!(!accepts(Some(15), b"MESSAGE"));
        assert!(!accepts(Some(0), b"INVITE"));
        assert!(!accepts(Some(15), b"FOO"));
        assert!(accepts(Some(OTHER), b"FOO"));
    }
}
