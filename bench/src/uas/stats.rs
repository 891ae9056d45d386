//! What the UAS saw and sent, per shard and summed; written as JSON when it
//! stops so a run's counts can be checked against the load generator's.

use serde_json::{json, Value};

/// Counters of one shard (summed across shards at the end).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UasStats {
    pub invite: u64,
    pub ack: u64,
    pub bye: u64,
    pub cancel: u64,
    pub options: u64,
    pub message: u64,
    pub register: u64,
    pub other_requests: u64,
    /// Responses received (a UAS ignores them).
    pub responses_in: u64,
    /// Datagrams that were not SIP the scanner accepts.
    pub unparsable: u64,
    /// Requests with two or more Via lines (a proxy added its own).
    pub proxied: u64,
    /// Requests whose Max-Forwards was below 70 (a proxy decremented it).
    pub max_forwards_decremented: u64,
    /// In-dialog requests (To tag present) with two or more Via lines: the
    /// ACK/BYE came through the proxy, not straight from the caller.
    pub in_dialog_proxied: u64,
    /// Requests that still carried a Route header on arrival (answered all
    /// the same; a loose-routing proxy normally removes its own entry).
    pub with_route: u64,
    pub sent_100: u64,
    pub sent_180: u64,
    pub sent_200: u64,
    pub sent_487: u64,
    /// Final failure responses sent (the configured code).
    pub sent_failure: u64,
    /// Datagrams the kernel refused to send.
    pub send_errors: u64,
    /// UDP GSO sends (each two or more answers) and the answers in them.
    pub gso_sends: u64,
    pub gso_datagrams: u64,
}

impl UasStats {
    /// Adds another shard's counts.
    pub fn add(&mut self, o: &UasStats) {
        self.invite += o.invite;
        self.ack += o.ack;
        self.bye += o.bye;
        self.cancel += o.cancel;
        self.options += o.options;
        self.message += o.message;
        self.register += o.register;
        self.other_requests += o.other_requests;
        self.responses_in += o.responses_in;
        self.unparsable += o.unparsable;
        self.proxied += o.proxied;
        self.max_forwards_decremented += o.max_forwards_decremented;
        self.in_dialog_proxied += o.in_dialog_proxied;
        self.with_route += o.with_route;
        self.sent_100 += o.sent_100;
        self.sent_180 += o.sent_180;
        self.sent_200 += o.sent_200;
        self.sent_487 += o.sent_487;
        self.sent_failure += o.sent_failure;
        self.send_errors += o.send_errors;
        self.gso_sends += o.gso_sends;
        self.gso_datagrams += o.gso_datagrams;
    }

    /// The counts as a JSON object.
    pub fn to_json(self) -> Value {
        json!({
            "requests": {
                "INVITE": self.invite, "ACK": self.ack, "BYE": self.bye, "CANCEL": self.cancel,
                "OPTIONS": self.options, "MESSAGE": self.message, "REGISTER": self.register,
                "other": self.other_requests,
            },
            "responses_received": self.responses_in,
            "unparsable": self.unparsable,
            "proxied": self.proxied,
            "max_forwards_decremented": self.max_forwards_decremented,
            "in_dialog_proxied": self.in_dialog_proxied,
            "with_route": self.with_route,
            "sent": {
                "100": self.sent_100, "180": self.sent_180, "200": self.sent_200,
                "487": self.sent_487, "failure": self.sent_failure,
            },
            "send_errors": self.send_errors,
            "gso_sends": self.gso_sends,
            "gso_datagrams": self.gso_datagrams,
        })
    }
}
