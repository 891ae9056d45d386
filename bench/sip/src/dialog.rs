//! The UAC side of a dialog's routing (RFC 3261 §12.1.2 and §12.2.1.1): from
//! the 2xx to an INVITE, the remote target (the Contact URI) and the route
//! set (the Record-Route entries, reversed), turned once into the
//! Request-URI and the Route header value that every later request of the
//! dialog carries (the ACK of the 2xx and the BYE).
//!
//! Loose routing when the first route entry has `;lr` (or there is no route
//! set): Request-URI = remote target, Route = the route set. Strict routing
//! otherwise: Request-URI = the first entry's URI, Route = the rest of the
//! set followed by the remote target.

use crate::scan::{param_names, trim, Scanned};
use crate::small::Small;
use crate::write::Out;

/// Longest Request-URI kept for a dialog.
pub const MAX_URI: usize = 192;
/// Longest Route header value kept for a dialog.
pub const MAX_ROUTE: usize = 512;
/// Most route entries a dialog may have.
const MAX_ENTRIES: usize = 16;

/// Why a 2xx gave no usable dialog route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The 2xx has no Contact (RFC 3261 §13.3.1.4 requires one).
    NoContact,
    /// The Contact or a Record-Route entry is not a usable URI.
    Malformed,
    /// The route set or target does not fit the fixed storage.
    TooLong,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::NoContact => write!(f, "2xx without Contact"),
            RouteError::Malformed => write!(f, "malformed Contact or Record-Route"),
            RouteError::TooLong => write!(f, "route set longer than {MAX_ROUTE} bytes or {MAX_ENTRIES} entries"),
        }
    }
}

/// Request-URI and Route value of a dialog's in-dialog requests.
#[derive(Clone, Copy, Default)]
pub struct DialogRoute {
    request_uri: Small<MAX_URI>,
    route: Small<MAX_ROUTE>,
}

impl DialogRoute {
    /// Request-URI of in-dialog requests.
    pub fn request_uri(&self) -> &[u8] {
        self.request_uri.get()
    }

    /// Value of their Route header (empty: send no Route).
    pub fn route(&self) -> &[u8] {
        self.route.get()
    }

    /// Sets the route from a 2xx to the dialog's INVITE.
    pub fn set_from_2xx(&mut self, msg: &Scanned<'_>) -> Result<(), RouteError> {
        let contact = msg.contact.ok_or(RouteError::NoContact)?;
        let first_contact = split_entries(contact).next().ok_or(RouteError::NoContact)?;
        let target = uri_of(first_contact).ok_or(RouteError::Malformed)?;
        if target == b"*" {
            return Err(RouteError::Malformed);
        }
        // The route set: Record-Route entries top to bottom, reversed.
        let mut entries: [&[u8]; MAX_ENTRIES] = [&[]; MAX_ENTRIES];
        let mut n = 0;
        for &line in msg.rr_lines[..msg.rr_count].iter().rev() {
            let line = msg.span(line);
            let value = line.iter().position(|&b| b == b':').map_or(&b""[..], |c| &line[c + 1..]);
            let mut in_line: [&[u8]; MAX_ENTRIES] = [&[]; MAX_ENTRIES];
            let mut k = 0;
            for e in split_entries(value) {
                *in_line.get_mut(k).ok_or(RouteError::TooLong)? = e;
                k += 1;
            }
            for e in in_line[..k].iter().rev() {
                uri_of(e).ok_or(RouteError::Malformed)?;
                *entries.get_mut(n).ok_or(RouteError::TooLong)? = e;
                n += 1;
            }
        }
        let entries = &entries[..n];
        let strict = entries
            .first()
            .is_some_and(|e| !uri_of(e).is_some_and(|u| param_names(u).any(|p| p.eq_ignore_ascii_case(b"lr"))));
        let mut uri_buf = [0u8; MAX_URI];
        let mut route_buf = [0u8; MAX_ROUTE];
        let mut uri = Out::new(&mut uri_buf);
        let mut route = Out::new(&mut route_buf);
        let rest = if strict {
            uri.put(uri_of(entries[0]).ok_or(RouteError::Malformed)?)
                .map_err(|_| RouteError::TooLong)?;
            &entries[1..]
        } else {
            uri.put(target).map_err(|_| RouteError::TooLong)?;
            entries
        };
        for (i, e) in rest.iter().enumerate() {
            if i > 0 {
                route.put(b", ").map_err(|_| RouteError::TooLong)?;
            }
            route.put(e).map_err(|_| RouteError::TooLong)?;
        }
        if strict {
            if !rest.is_empty() {
                route.put(b", ").map_err(|_| RouteError::TooLong)?;
            }
            route
                .put(b"<")
                .and_then(|o| o.put(target))
                .and_then(|o| o.put(b">"))
                .map_err(|_| RouteError::TooLong)?;
        }
        if !self.request_uri.set(uri.written()) || !self.route.set(route.written()) {
            return Err(RouteError::TooLong);
        }
        Ok(())
    }
}

/// The comma-separated entries of a header value (commas inside `<…>` or
/// quotes do not split), trimmed, empty ones skipped.
fn split_entries(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = value;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (mut angle, mut quoted) = (false, false);
        let mut end = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            match b {
                b'"' if !angle => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !angle && !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let entry = trim(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or_default();
        if !entry.is_empty() {
            return Some(entry);
        }
    })
}

/// The URI of a name-addr (`"x" <uri>;params`) or addr-spec (`uri;params`).
fn uri_of(entry: &[u8]) -> Option<&[u8]> {
    let uri = match entry.iter().position(|&b| b == b'<') {
        Some(open) => {
            let close = entry[open..].iter().position(|&b| b == b'>')? + open;
            trim(&entry[open + 1..close])
        }
        // Without angle brackets, `;…` are header parameters, not the URI's.
        None => trim(entry.split(|&b| b == b';').next().unwrap_or_default()),
    };
    (!uri.is_empty()).then_some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan;

    fn ok_with(extra: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\n{extra}From: <sip:a@b>;tag=f\r\nTo: <sip:s@h>;tag=t\r\nCall-ID: 1@c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn route_of(extra: &str) -> Result<(String, String), RouteError> {
        let bytes = ok_with(extra);
        let msg = scan(&bytes).unwrap();
        let mut r = DialogRoute::default();
        r.set_from_2xx(&msg)?;
        Ok((
            String::from_utf8(r.request_uri().to_vec()).unwrap(),
            String::from_utf8(r.route().to_vec()).unwrap(),
        ))
    }

    #[test]
    fn no_record_route_targets_the_contact() {
        let (uri, route) = route_of("Contact: \"uas\" <sip:uas@10.0.0.2:5070;transport=udp>;expires=60\r\n").unwrap();
        assert_eq!(uri, "sip:uas@10.0.0.2:5070;transport=udp");
        assert_eq!(route, "");
        let (uri, _) = route_of("m: sip:uas@10.0.0.2;expires=60\r\n").unwrap();
        assert_eq!(uri, "sip:uas@10.0.0.2", "addr-spec: parameters are the header's");
    }

    #[test]
    fn loose_route_set_is_the_record_route_reversed() {
        let rr = "Record-Route: <sip:p2;lr>, <sip:p1;lr;ftag=f>\r\nContact: <sip:uas@u>\r\nRecord-Route: <sip:p0;lr>\r\n";
        // Record-Route top to bottom: p2, p1, p0 (p0 is the proxy nearest the UAC).
        let (uri, route) = route_of(rr).unwrap();
        assert_eq!(uri, "sip:uas@u");
        assert_eq!(route, "<sip:p0;lr>, <sip:p1;lr;ftag=f>, <sip:p2;lr>");
    }

    #[test]
    fn strict_first_hop_takes_the_request_uri() {
        let (uri, route) = route_of("Record-Route: <sip:p2;lr>, <sip:p1>\r\nContact: <sip:uas@u>\r\n").unwrap();
        assert_eq!(uri, "sip:p1");
        assert_eq!(route, "<sip:p2;lr>, <sip:uas@u>");
        let (uri, route) = route_of("Record-Route: <sip:only>\r\nContact: <sip:uas@u>\r\n").unwrap();
        assert_eq!((uri.as_str(), route.as_str()), ("sip:only", "<sip:uas@u>"));
    }

    #[test]
    fn bad_dialogs_are_reported() {
        assert_eq!(route_of("").unwrap_err(), RouteError::NoContact);
        assert_eq!(route_of("Contact: *\r\n").unwrap_err(), RouteError::Malformed);
        assert_eq!(route_of("Contact: <sip:uas@u\r\n").unwrap_err(), RouteError::Malformed);
        let long = format!("Record-Route: <sip:{};lr>\r\nContact: <sip:u@h>\r\n", "p".repeat(MAX_ROUTE));
        assert_eq!(route_of(&long).unwrap_err(), RouteError::TooLong);
        let many = format!(
            "Record-Route: {}\r\nContact: <sip:u@h>\r\n",
            vec!["<sip:p;lr>"; MAX_ENTRIES + 1].join(",")
        );
        assert_eq!(route_of(&many).unwrap_err(), RouteError::TooLong);
    }
}
