//! `sipshard-bench load`: the open-loop load generator. A run is one point
//! (constant rate for a duration) or a ramp of points that finds the knee:
//! the highest rate with < 0.1 % failed scenarios, no timeouts and no
//! retransmissions. Every point reports the generator's own CPU per message
//! and its socket drops, so it says whether the generator or the system under
//! test was the limit.

mod calls;
mod engine;
mod poller;
mod requests;
mod stats;
mod timers;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

pub use stats::{RunStats, Step};

use crate::Transport;

/// The scenarios.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// OPTIONS → 200.
    Options,
    /// MESSAGE (short text body) → 200.
    Message,
    /// REGISTER → 401 → REGISTER with Digest credentials → 200 (or 200 at once without a challenge).
    Register,
    /// INVITE → (100) 180 200 → ACK → BYE → 200, as sipp's uac.
    Call,
    /// INVITE → 180 → CANCEL → 200 + 487 → ACK (needs a UAS answer delay).
    CallCancel,
}

impl Scenario {
    /// Method of the single request of options/message.
    pub fn request_method(self) -> &'static [u8] {
        match self {
            Scenario::Message => b"MESSAGE",
            _ => b"OPTIONS",
        }
    }

    fn first_phase(self) -> calls::Phase {
        match self {
            Scenario::Options | Scenario::Message => calls::Phase::Request,
            Scenario::Register => calls::Phase::Register,
            Scenario::Call | Scenario::CallCancel => calls::Phase::Invite,
        }
    }

    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Options => "options",
            Scenario::Message => "message",
            Scenario::Register => "register",
            Scenario::Call => "call",
            Scenario::CallCancel => "call-cancel",
        }
    }
}

/// Default tick of the generator: 1 ms (a call starts at most 1 ms late,
/// which the schedule lag shows; sipp schedules on a 10-ms timer by default).
pub const DEFAULT_TICK_US: u64 = 1000;

/// `--tick-us` as the engine's tick (0: event mode).
pub fn tick_of(us: u64) -> Option<Duration> {
    (us > 0).then(|| Duration::from_micros(us))
}

/// Command-line flags of `load`.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Where requests are sent (the proxy, or a UAS directly).
    #[arg(long, value_name = "IP:PORT")]
    pub target: SocketAddr,
    /// What each scenario instance does.
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// Scenarios started per second (constant rate); needs --duration.
    #[arg(long, value_name = "N", requires = "duration", conflicts_with = "ramp")]
    pub rate: Option<f64>,
    /// Seconds of scheduled starts at --rate (the run then waits for the last answers).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Rising rates FROM:TO:STEP, each held --step-duration seconds; stops at the first failing step.
    #[arg(long, value_name = "FROM:TO:STEP", value_parser = parse_ramp)]
    pub ramp: Option<(f64, f64, f64)>,
    /// Seconds per ramp step.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub step_duration: f64,
    /// Transport: udp (connected sockets), or tcp (one connection per
    /// --sockets; responses are timed by the wake-up that read them).
    #[arg(long, value_enum, default_value_t = Transport::Udp)]
    pub transport: Transport,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Generator threads (each with its own sockets and share of the rate).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// CPUs to pin the threads to, comma-separated (default: unpinned).
    #[arg(long, value_name = "LIST", value_parser = crate::shards::parse_cpus)]
    pub cpus: Option<crate::shards::CpuList>,
    /// Source sockets (ports) per thread; calls are spread over them (a
    /// proxy with SO_REUSEPORT shards hashes each source port to one shard).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub sockets: usize,
    /// Tick mode: wake every N microseconds, start what fell due, drain all
    /// sockets, send everything in one batch (latency from kernel receive
    /// timestamps). 0: wake on every datagram and scheduled start instead.
    #[arg(long, default_value_t = DEFAULT_TICK_US, value_name = "US")]
    pub tick_us: u64,
    /// Send one datagram per `sendmmsg` entry instead of UDP GSO sends of
    /// equal-length datagrams (for A/B runs; GSO falls back by itself when
    /// the kernel refuses it).
    #[arg(long)]
    pub no_gso: bool,
    /// Local IP to send from.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub local_ip: IpAddr,
    /// RFC 3261 T1 in milliseconds (retransmissions at T1, 2·T1, ...; timeout 64·T1).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub t1_ms: u64,
    /// Seconds at the start whose latencies are not recorded (counts still are).
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub warmup: f64,
    /// Digest user for the register scenario.
    #[arg(long, default_value = "sipp")]
    pub user: String,
    /// Digest password for the register scenario.
    #[arg(long, default_value = "secret")]
    pub password: String,
}

fn parse_ramp(s: &str) -> Result<(f64, f64, f64), String> {
    let p: Vec<&str> = s.split(':').collect();
    let num = |x: &str| x.trim().parse::<f64>().map_err(|_| format!("ramp: {x:?} is not a number"));
    match p.as_slice() {
        [a, b, c] => {
            let (from, to, step) = (num(a)?, num(b)?, num(c)?);
            if from <= 0.0 || to < from || step <= 0.0 {
                return Err(format!("ramp {s:?}: need 0 < FROM <= TO and STEP > 0"));
            }
            Ok((from, to, step))
        }
        _ => Err(format!("ramp {s:?}: expected FROM:TO:STEP")),
    }
}

/// One measured point.
pub struct PointResult {
    pub rate: f64,
    pub duration: f64,
    pub stats: RunStats,
    pub wall: Duration,
    pub cpu: crate::cpu::CpuTime,
    pub socket_drops: u64,
    pub rcvbuf_errors: u64,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    pub tick: Option<Duration>,
}

impl PointResult {
    /// A point passes with < 0.1 % failures, no timeouts, no retransmissions.
    pub fn passed(&self) -> bool {
        let s = &self.stats;
        s.started > 0 && s.completed > 0 && (s.failed() as f64) < 0.001 * s.started as f64 && s.timed_out == 0 && s.retransmissions == 0
    }

    /// Generator CPU microseconds per message it sent or received.
    pub fn cpu_us_per_message(&self) -> f64 {
        let msgs = self.stats.messages_sent + self.stats.messages_received;
        if msgs == 0 {
            return 0.0;
        }
        self.cpu.total().as_secs_f64() * 1e6 / msgs as f64
    }

    /// Why the generator itself may have limited the run (empty: it did not).
    pub fn generator_limits(&self) -> Vec<String> {
        let mut why = Vec::new();
        // In tick mode a start waits up to one tick by design.
        let allowed = 1000 + self.tick.map_or(0, |t| t.as_micros() as u64);
        let lag_p99 = self.stats.schedule_lag.value_at_quantile(0.99);
        if lag_p99 > allowed {
            why.push(format!("schedule lag p99 {lag_p99} us > {allowed} us"));
        }
        if self.socket_drops > 0 {
            why.push(format!("{} datagrams dropped on the generator's sockets", self.socket_drops));
        }
        let busy = self.cpu.total().as_secs_f64() / self.wall.as_secs_f64().max(1e-9) / self.threads as f64;
        if busy > 0.9 {
            why.push(format!("generator threads {:.0} % busy", busy * 100.0));
        }
        why
    }

    /// The point as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "offered_rate": self.rate,
            "duration_s": self.duration,
            "achieved_rate": self.stats.completed as f64 / self.duration.max(1e-9),
            "wall_s": self.wall.as_secs_f64(),
            "passed": self.passed(),
            "counts": self.stats.to_json(),
            "generator": {
                "threads": self.threads,
                "cpus": self.cpus,
                "tick_us": self.tick.map_or(0, |t| t.as_micros() as u64),
                "cpu_user_s": self.cpu.user.as_secs_f64(),
                "cpu_system_s": self.cpu.system.as_secs_f64(),
                "cpu_us_per_message": self.cpu_us_per_message(),
                "socket_drops": self.socket_drops,
                "machine_rcvbuf_errors": self.rcvbuf_errors,
                "limited_by_generator": self.generator_limits(),
            },
        })
    }
}

/// Settings of one point, shared by `load` and `compare`.
#[derive(Debug, Clone)]
pub struct PointPlan {
    pub target: SocketAddr,
    pub scenario: Scenario,
    pub rate: f64,
    pub duration: f64,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    pub sockets: usize,
    pub local_ip: IpAddr,
    pub t1: Duration,
    pub warmup: f64,
    pub user: String,
    pub password: String,
    /// Tick mode period (None: event mode).
    pub tick: Option<Duration>,
    pub transport: Transport,
}

static RUN_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Runs one point: starts `rate × duration` scenarios on schedule and waits
/// for their outcomes.
pub fn run_point(p: &PointPlan) -> Result<PointResult, String> {
    if p.rate <= 0.0 || p.duration <= 0.0 || p.threads == 0 || p.sockets == 0 {
        return Err("load: rate, duration, threads and sockets must be positive".into());
    }
    let run = std::process::id()
        .wrapping_mul(1000)
        .wrapping_add(RUN_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let total_calls = (p.rate * p.duration).round() as u64;
    let start = Instant::now() + Duration::from_millis(50);
    let warmup_until = start + Duration::from_secs_f64(p.warmup.max(0.0));
    let (cpu0, snmp0) = (crate::cpu::own(), crate::sockopt::snmp_buffer_errors());
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(p.threads);
    for t in 0..p.threads {
        let calls = total_calls / p.threads as u64 + u64::from((t as u64) < total_calls % p.threads as u64);
        let plan = engine::ThreadPlan {
            thread: t as u32,
            run,
            scenario: p.scenario,
            target: p.target,
            local_ip: p.local_ip,
            sockets: p.sockets,
            rate: p.rate / p.threads as f64,
            calls,
            start,
            warmup_until,
            t1: p.t1,
            user: p.user.clone(),
            password: p.password.clone(),
            cpu: p.cpus.as_ref().filter(|c| !c.is_empty()).map(|c| c[t % c.len()]),
            tick: p.tick,
            transport: p.transport,
        };
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || engine::run_thread(plan))
                .map_err(|e| e.to_string())?,
        );
    }
    let mut stats = RunStats::default();
    let mut socket_drops = 0;
    for h in handles {
        let r = h.join().map_err(|_| "load: a generator thread panicked".to_string())??;
        stats.merge(&r.stats);
        socket_drops += r.socket_drops;
    }
    let wall = t0.elapsed();
    let cpu = crate::cpu::own().since(&cpu0);
    let snmp1 = crate::sockopt::snmp_buffer_errors();
    Ok(PointResult {
        rate: p.rate,
        duration: p.duration,
        stats,
        wall,
        cpu,
        socket_drops,
        rcvbuf_errors: snmp1.0.saturating_sub(snmp0.0),
        threads: p.threads,
        cpus: p.cpus.clone(),
        tick: p.tick,
    })
}

/// One human-readable line per point.
pub fn summary_line(r: &PointResult) -> String {
    let s = &r.stats;
    let h = s.histogram(Step::Whole);
    format!(
        "rate {:>8.0}/s  started {:>8}  completed {:>8}  failed {:>6}  timed-out {:>5}  retrans {:>5}  unexpected {:>4}  p50 {:>6} us  p99 {:>7} us  p99.9 {:>7} us  max {:>8} us  gen {:.2} CPU-us/msg  drops {}  {}",
        r.rate,
        s.started,
        s.completed,
        s.failed(),
        s.timed_out,
        s.retransmissions,
        s.unexpected,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        r.cpu_us_per_message(),
        r.socket_drops,
        if r.passed() { "PASS" } else { "FAIL" }
    )
}

/// `sipshard-bench load`.
pub fn run_cli(a: &LoadArgs) -> Result<(), String> {
    crate::gso::set_allowed(!a.no_gso);
    let base = PointPlan {
        target: a.target,
        scenario: a.scenario,
        rate: 0.0,
        duration: 0.0,
        threads: a.threads,
        cpus: a.cpus.clone().map(|c| c.0),
        sockets: a.sockets,
        local_ip: a.local_ip,
        t1: Duration::from_millis(a.t1_ms.max(1)),
        warmup: a.warmup,
        user: a.user.clone(),
        password: a.password.clone(),
        tick: tick_of(a.tick_us),
        transport: a.transport,
    };
    let mut points = Vec::new();
    let mut knee = None;
    match (a.rate, a.ramp) {
        (Some(rate), None) => {
            let duration = a.duration.ok_or("load: --rate needs --duration")?;
            let r = run_point(&PointPlan { rate, duration, ..base })?;
            println!("{}", summary_line(&r));
            points.push(r);
        }
        (None, Some((from, to, step))) => {
            let mut rate = from;
            while rate <= to + 1e-9 {
                let r = run_point(&PointPlan {
                    rate,
                    duration: a.step_duration,
                    ..base.clone()
                })?;
                println!("{}", summary_line(&r));
                let passed = r.passed();
                points.push(r);
                if !passed {
                    break;
                }
                knee = Some(rate);
                rate += step;
            }
            match knee {
                Some(k) => println!("knee: {k:.0} scenarios/s (highest passing rate)"),
                None => println!("knee: none (the first step already failed)"),
            }
        }
        _ => return Err("load: give either --rate N --duration SECS or --ramp FROM:TO:STEP".into()),
    }
    let doc = json!({
        "scenario": a.scenario.name(),
        "target": a.target.to_string(),
        "transport": "udp",
        "knee": knee,
        "points": points.iter().map(PointResult::to_json).collect::<Vec<_>>(),
    });
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("load: cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_syntax() {
        assert_eq!(parse_ramp("1000:5000:1000"), Ok((1000.0, 5000.0, 1000.0)));
        assert!(parse_ramp("5:1:1").is_err());
        assert!(parse_ramp("1:2").is_err());
        assert!(parse_ramp("a:2:1").is_err());
    }
}
