//! What the UAS answers to each request, decided from the request alone:
//! the response plan (pure, unit-tested) and the per-call failure draw.

use std::time::Duration;

/// How the UAS behaves (from the command line).
#[derive(Debug, Clone)]
pub struct UasBehaviour {
    /// Delay between 180 and 200 for INVITE (zero: answer at once).
    pub answer_delay: Duration,
    /// Final code sent instead of success to a share of new requests.
    pub failure_code: u16,
    /// That share, in parts per million of Call-IDs.
    pub failure_ppm: u32,
    /// Send 100 Trying before 180 (sipp's uas does not).
    pub send_100: bool,
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Send nothing (ACK).
    Absorb,
    /// Answer an INVITE: optional 100, then either the failure code, or 180
    /// and 200 (at once, or deferred by the answer delay).
    Invite {
        trying: bool,
        failure: Option<u16>,
        defer_200: bool,
    },
    /// A CANCEL: 200 to it, and 487 to the INVITE if it is still pending.
    Cancel,
    /// One final response (200 or the failure code).
    Final(u16),
}

/// FNV-1a, used for the failure draw and the To tag: the same Call-ID always
/// gets the same answer, so retransmissions are answered consistently.
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl UasBehaviour {
    fn fails(&self, call_id: &[u8]) -> Option<u16> {
        (self.failure_ppm > 0 && (fnv64(call_id) % 1_000_000) < u64::from(self.failure_ppm)).then_some(self.failure_code)
    }

    /// The plan for a request with this method and Call-ID.
    pub fn plan(&self, method: &[u8], call_id: &[u8]) -> Plan {
        match method {
            b"ACK" => Plan::Absorb,
            b"INVITE" => Plan::Invite {
                trying: self.send_100,
                failure: self.fails(call_id),
                defer_200: !self.answer_delay.is_zero(),
            },
            b"CANCEL" => Plan::Cancel,
            b"BYE" | b"PRACK" | b"UPDATE" | b"INFO" | b"NOTIFY" => Plan::Final(200),
            _ => Plan::Final(self.fails(call_id).unwrap_or(200)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behaviour(ppm: u32, delay_ms: u64) -> UasBehaviour {
        UasBehaviour {
            answer_delay: Duration::from_millis(delay_ms),
            failure_code: 503,
            failure_ppm: ppm,
            send_100: true,
        }
    }

    #[test]
    fn plans_by_method() {
        let b = behaviour(0, 0);
        assert_eq!(b.plan(b"ACK", b"x"), Plan::Absorb);
        assert_eq!(
            b.plan(b"INVITE", b"x"),
            Plan::Invite {
                trying: true,
                failure: None,
                defer_200: false
            }
        );
        assert_eq!(b.plan(b"BYE", b"x"), Plan::Final(200));
        assert_eq!(b.plan(b"CANCEL", b"x"), Plan::Cancel);
        assert_eq!(
            behaviour(0, 5).plan(b"INVITE", b"x"),
            Plan::Invite {
                trying: true,
                failure: None,
                defer_200: true
            }
        );
    }

    #[test]
    fn failure_share_is_close_to_asked_and_stable() {
        let b = behaviour(100_000, 0);
        let failed = (0..20_000)
            .filter(|i| b.plan(b"OPTIONS", format!("{i}-1@h").as_bytes()) == Plan::Final(503))
            .count();
        assert!((1_600..2_400).contains(&failed), "{failed}");
        assert_eq!(b.plan(b"OPTIONS", b"7-1@h"), b.plan(b"OPTIONS", b"7-1@h"));
        assert_eq!(b.plan(b"BYE", b"any"), Plan::Final(200), "in-dialog requests never fail");
    }
}
