//! What a [`super::table::Table`] counts, for `tm.stats` and `/metrics`.
//! Plain integers: the table belongs to one shard, which copies them where
//! other threads can read them.

/// Upper bounds of the transaction-latency buckets, in milliseconds
/// (`+Inf` implied): request in to final response out.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 10_000, 30_000,
];

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    /// Transactions created (`t_newtran`, `t_relay`).
    pub created: u64,
    /// Transactions freed.
    pub freed: u64,
    /// Transactions whose final response went upstream.
    pub completed: u64,
    /// Of those, freed since (the rest are waiting: Kamailio's `waiting`).
    pub completed_freed: u64,
    /// Final responses sent upstream that the script or the table
    /// generated (`t_reply`, 408 on timeout, 503 when full), not relayed.
    pub replied_locally: u64,
    /// Final responses sent upstream by class: index 0 is 1xx (unused),
    /// 1 is 2xx ... 5 is 6xx.
    pub final_replies: [u64; 6],
    /// Request retransmissions absorbed by a transaction.
    pub retransmissions_received: u64,
    /// Retransmissions the timers sent (A, E, G).
    pub retransmissions_sent: u64,
    /// Transaction latency histogram: a count per bucket (not cumulative),
    /// then the sum of milliseconds.
    pub latency_buckets: [u64; LATENCY_BUCKETS_MS.len() + 1],
    pub latency_sum_ms: u64,
}

impl TableStats {
    /// A final response `code` went upstream `ms` after the request came in.
    pub fn final_reply(&mut self, code: u16, ms: u64) {
        self.completed += 1;
        let class = usize::from(code / 100).clamp(1, 6) - 1;
        self.final_replies[class] += 1;
        let i = LATENCY_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency_buckets[i] += 1;
        self.latency_sum_ms += ms;
    }

    /// Transactions waiting to be freed after their final response.
    pub fn waiting(&self) -> u64 {
        self.completed.saturating_sub(self.completed_freed)
    }
}

/// The status code of a response's first line (`SIP/2.0 200 OK`).
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"SIP/2.0 ")?;
    let d = rest.get(..3)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0u16, |a, c| a * 10 + u16::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_final_replies() {
        let mut s = TableStats::default();
        s.final_reply(200, 0);
        s.final_reply(486, 7);
        assert_eq!(s.final_replies, [0, 1, 0, 1, 0, 0]);
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[2], 1);
        assert_eq!((s.completed, s.latency_sum_ms), (2, 7));
        assert_eq!(status_of(b"SIP/2.0 183 x"), Some(183));
        assert_eq!(status_of(b"INVITE sip:x SIP/2.0"), None);
    }
}
