//! Choosing the response to send upstream (RFC 3261 §16.7 step 6).
//!
//! 2xx responses never compete: they are forwarded as they come. Among
//! final non-2xx responses: any 6xx wins; otherwise the lowest class; within
//! 4xx, 401, 407, 415, 420 and 484 are preferred because they let the
//! caller retry; otherwise the first one received stays. A local 408 or 503
//! competes like a received one (Kamailio `faked_reply_prio` = 0).

//= RFC 3261 §16.7
//# The proxy MUST choose from amongst the final responses stored in the
//# response context.  ... If there are any 6xx responses, the proxy SHOULD
//# choose the lowest class response ... it SHOULD give preference to 401,
//# 407, 415, 420, and 484 if the 4xx class is chosen.
fn rank(code: u16) -> (u8, u8) {
    let class = u8::try_from(code / 100).unwrap_or(9);
    let class_rank = if class == 6 { 0 } else { class };
    let pref = u8::from(!matches!(code, 401 | 407 | 415 | 420 | 484));
    (class_rank, pref)
}

/// Whether a final response `new` replaces `current` as the best.
pub fn better(new: u16, current: Option<u16>) -> bool {
    match current {
        None => true,
        Some(cur) => rank(new) < rank(cur),
    }
}

/// Whether `code` carries authentication challenges to merge (§16.7 step 7).
pub fn is_challenge(code: u16) -> bool {
    matches!(code, 401 | 407)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixxx_wins_then_lowest_class_then_first() {
        assert!(better(603, Some(302)));
        assert!(!better(302, Some(603)));
        assert!(better(302, Some(486)));
        assert!(better(486, Some(503)));
        assert!(!better(480, Some(486)));
        assert!(better(407, Some(486)));
        assert!(!better(401, Some(407)));
    }
}
