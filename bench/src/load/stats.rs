//! What a generator run counts and measures: outcomes, retransmissions,
//! anomalies, messages, and one latency histogram per step (hdrhistogram,
//! microseconds, 3 significant digits), plus the schedule lag (how late a
//! call started against its intended time).

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Latency steps measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// OPTIONS / MESSAGE → final response.
    Request,
    /// REGISTER → 401/407 (or 200 when no challenge comes).
    Register,
    /// REGISTER with credentials → 200.
    RegisterAuth,
    /// INVITE → first 180.
    InviteRinging,
    /// INVITE → 200.
    InviteOk,
    /// BYE → 200.
    ByeOk,
    /// CANCEL → 200.
    CancelOk,
    /// INVITE → 487 after CANCEL.
    InviteTerminated,
    /// Intended start of the scenario → its last response.
    Whole,
}

/// Every step, in report order.
pub const STEPS: [Step; 9] = [
    Step::Request,
    Step::Register,
    Step::RegisterAuth,
    Step::InviteRinging,
    Step::InviteOk,
    Step::ByeOk,
    Step::CancelOk,
    Step::InviteTerminated,
    Step::Whole,
];

impl Step {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Request => "request_to_final",
            Step::Register => "register_to_challenge",
            Step::RegisterAuth => "register_auth_to_200",
            Step::InviteRinging => "invite_to_180",
            Step::InviteOk => "invite_to_200",
            Step::ByeOk => "bye_to_200",
            Step::CancelOk => "cancel_to_200",
            Step::InviteTerminated => "invite_to_487",
            Step::Whole => "scenario",
        }
    }
}

/// Counters and histograms of one thread (merged across threads).
pub struct RunStats {
    pub started: u64,
    pub completed: u64,
    /// Failed scenarios by final status code (index = code).
    pub failed_by_status: Box<[u64; 700]>,
    pub timed_out: u64,
    pub retransmissions: u64,
    pub duplicate_responses: u64,
    /// Responses that fit no state of their call (e.g. a 180 after the 200).
    pub unexpected: u64,
    /// Responses to calls that already ended or to another run.
    pub stray: u64,
    pub unparsable: u64,
    /// Call-cancel scenarios where the 200 beat the CANCEL (ended with BYE).
    pub cancel_too_late: u64,
    /// Calls dropped because their 2xx had no usable Contact or Record-Route
    /// (counted as failed).
    pub bad_dialogs: u64,
    /// Requests received and answered statelessly (none in normal runs).
    pub requests_answered: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub send_errors: u64,
    /// UDP GSO sends (each two or more datagrams) and the datagrams in them.
    pub gso_sends: u64,
    pub gso_datagrams: u64,
    /// Times the generator threads woke (ticks, input, starts): with the
    /// run's duration, what its fixed cost per second is made of.
    pub wakeups: u64,
    pub latency: Vec<Histogram<u64>>,
    pub schedule_lag: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("static histogram bounds are valid")
}

impl Default for RunStats {
    fn default() -> Self {
        RunStats {
            started: 0,
            completed: 0,
            failed_by_status: Box::new([0; 700]),
            timed_out: 0,
            retransmissions: 0,
            duplicate_responses: 0,
            unexpected: 0,
            stray: 0,
            unparsable: 0,
            cancel_too_late: 0,
            bad_dialogs: 0,
            requests_answered: 0,
            messages_sent: 0,
            messages_received: 0,
            send_errors: 0,
            gso_sends: 0,
            gso_datagrams: 0,
            wakeups: 0,
            latency: STEPS.iter().map(|_| histogram()).collect(),
            schedule_lag: histogram(),
        }
    }
}

fn percentiles(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50_us": h.value_at_quantile(0.5),
        "p90_us": h.value_at_quantile(0.9),
        "p99_us": h.value_at_quantile(0.99),
        "p99_9_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
    })
}

impl RunStats {
    /// Records a latency in microseconds.
    pub fn record(&mut self, step: Step, micros: u64) {
        let i = STEPS.iter().position(|s| *s == step).expect("every step is listed");
        self.latency[i].saturating_record(micros.max(1));
    }

    /// The histogram of a step.
    pub fn histogram(&self, step: Step) -> &Histogram<u64> {
        &self.latency[STEPS.iter().position(|s| *s == step).expect("every step is listed")]
    }

    /// Failed scenarios, all codes.
    pub fn failed(&self) -> u64 {
        self.failed_by_status.iter().sum::<u64>() + self.bad_dialogs
    }

    /// Adds another thread's figures.
    pub fn merge(&mut self, o: &RunStats) {
        self.started += o.started;
        self.completed += o.completed;
        for (a, b) in self.failed_by_status.iter_mut().zip(o.failed_by_status.iter()) {
            *a += b;
        }
        self.timed_out += o.timed_out;
        self.retransmissions += o.retransmissions;
        self.duplicate_responses += o.duplicate_responses;
        self.unexpected += o.unexpected;
        self.stray += o.stray;
        self.unparsable += o.unparsable;
        self.cancel_too_late += o.cancel_too_late;
        self.bad_dialogs += o.bad_dialogs;
        self.requests_answered += o.requests_answered;
        self.messages_sent += o.messages_sent;
        self.messages_received += o.messages_received;
        self.send_errors += o.send_errors;
        self.gso_sends += o.gso_sends;
        self.gso_datagrams += o.gso_datagrams;
        self.wakeups += o.wakeups;
        for (a, b) in self.latency.iter_mut().zip(&o.latency) {
            let _ = a.add(b);
        }
        let _ = self.schedule_lag.add(&o.schedule_lag);
    }

    /// Counts and histograms as JSON.
    pub fn to_json(&self) -> Value {
        let mut failed = Map::new();
        for (code, n) in self.failed_by_status.iter().enumerate().filter(|(_, n)| **n > 0) {
            failed.insert(code.to_string(), json!(n));
        }
        let mut latency = Map::new();
        for (step, h) in STEPS.iter().zip(&self.latency).filter(|(_, h)| !h.is_empty()) {
            latency.insert(step.name().to_string(), percentiles(h));
        }
        json!({
            "started": self.started,
            "completed": self.completed,
            "failed": self.failed(),
            "failed_by_status": failed,
            "timed_out": self.timed_out,
            "retransmissions": self.retransmissions,
            "duplicate_responses": self.duplicate_responses,
            "unexpected": self.unexpected,
            "stray": self.stray,
            "unparsable": self.unparsable,
            "cancel_too_late": self.cancel_too_late,
            "bad_dialogs": self.bad_dialogs,
            "requests_answered": self.requests_answered,
            "messages_sent": self.messages_sent,
            "messages_received": self.messages_received,
            "send_errors": self.send_errors,
            "gso_sends": self.gso_sends,
            "gso_datagrams": self.gso_datagrams,
            "wakeups": self.wakeups,
            "latency": latency,
            "schedule_lag": percentiles(&self.schedule_lag),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_counts_and_histograms() {
        let mut a = RunStats::default();
        let mut b = RunStats::default();
        a.completed = 2;
        b.completed = 3;
        b.failed_by_status[503] = 4;
        a.record(Step::InviteOk, 100);
        b.record(Step::InviteOk, 300);
        a.merge(&b);
        assert_eq!((a.completed, a.failed()), (5, 4));
        assert_eq!(a.histogram(Step::InviteOk).len(), 2);
        let j = a.to_json();
        assert_eq!(j["failed_by_status"]["503"], 4);
        assert_eq!(j["latency"]["invite_to_200"]["count"], 2);
        assert!(j["latency"].get("bye_to_200").is_none());
    }
}
