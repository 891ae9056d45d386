//! `sipshard-bench compare`: one workload (stateless forward, stateful
//! relay, registrar with auth) through sipshard, Kamailio 5.6 (`-x tlsf`,
//! 4 MiB receive buffer, one worker) and the floor relay, at the same
//! offered rates, with the same generator and UAS. Each system's CPU time is
//! read from /proc (user and system apart); the results go to a table,
//! `results.json` and `plot.svg` in `--out`.
//!
//! A system that cannot run (binary missing, does not bind, exits, or the
//! workload is not supported yet) is reported as failed with the reason, in
//! the table and the JSON, and makes `compare` exit with status 2: never a
//! silent skip, never a made-up number.

mod procs;
mod report;
mod subscriber;
mod svg;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::load::{run_point, PointPlan, Scenario};
use crate::Transport;
use procs::Running;

/// The workloads.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Stateless forward() of calls (INVITE/180/200/ACK/BYE/200).
    Stateless,
    /// Transaction-stateful t_relay() of calls.
    Stateful,
    /// REGISTER with Digest auth answered by the proxy's registrar.
    Registrar,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Stateless => "stateless",
            Workload::Stateful => "stateful",
            Workload::Registrar => "registrar",
        }
    }

    fn scenario(self) -> Scenario {
        match self {
            Workload::Registrar => Scenario::Register,
            _ => Scenario::Call,
        }
    }

    /// The offered rates of performance.md §7 (registrar: our own choice).
    fn default_rates(self) -> Vec<f64> {
        match self {
            Workload::Stateless => vec![2000.0, 8000.0, 14000.0],
            Workload::Stateful => vec![2000.0, 6000.0, 10000.0],
            Workload::Registrar => vec![1000.0, 2000.0, 4000.0],
        }
    }

    /// Seconds to wait after the load before reading CPU (tm frees its
    /// transactions after wt_timer = 5 s, which belongs to the cost).
    fn settle(self, smoke: bool) -> Duration {
        match (self, smoke) {
            (_, true) => Duration::from_millis(500),
            (Workload::Stateful, false) => Duration::from_secs(6),
            _ => Duration::from_secs(1),
        }
    }
}

/// Command-line flags of `compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// The workload.
    #[arg(long, value_enum)]
    pub scenario: Workload,
    /// A run of a few seconds (one low rate, 2 s per system) for CI.
    #[arg(long)]
    pub smoke: bool,
    /// Directory receiving results.json, plot.svg, configs and logs.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Offered rates, comma-separated (default: 2000,8000,14000 stateless; 2000,6000,10000 stateful; 1000,2000,4000 registrar).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub rates: Option<Vec<f64>>,
    /// Seconds of load per point (default 10; 2 with --smoke).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// The sipshard binary (default: `sipshard` next to this executable).
    #[arg(long, value_name = "PATH")]
    pub sipshard: Option<PathBuf>,
    /// The Kamailio binary.
    #[arg(long, value_name = "PATH", default_value = "kamailio")]
    pub kamailio: PathBuf,
    /// Directory with the kamailio-*.cfg / sipshard-*.cfg templates.
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/configs"))]
    pub configs: PathBuf,
    /// First of the UDP ports used (proxy = base, UAS = base + 10).
    #[arg(long, default_value_t = 25260, value_name = "PORT")]
    pub port_base: u16,
    /// Systems to run, comma-separated, from sipshard,kamailio,floor.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "sipshard,kamailio,floor")]
    pub systems: Vec<String>,
    /// The generator's tick in microseconds (0: wake on every datagram); see `load --tick-us`.
    #[arg(long, default_value_t = crate::load::DEFAULT_TICK_US, value_name = "US")]
    pub tick_us: u64,
    /// The generator's source sockets (ports).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub sockets: usize,
    /// SIP transport end to end: load -> system and system -> uas (tcp: the
    /// `*-WORKLOAD-tcp.cfg` configs, stateless and stateful only; the floor
    /// relay is UDP only and is listed as not run).
    #[arg(long, value_enum, default_value_t = Transport::Udp)]
    pub transport: Transport,
}

/// Why the floor has no TCP row.
const FLOOR_UDP_ONLY: &str = "the floor relay is UDP only (no TCP relay exists to measure); no figure";

/// How each side is placed on the CPUs.
#[derive(Debug, Clone)]
struct Placement {
    system_cpu: Option<usize>,
    harness_cpu: Option<usize>,
    cores: usize,
}

impl Placement {
    fn detect() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores >= 2 {
            Placement {
                system_cpu: Some(0),
                harness_cpu: Some(1),
                cores,
            }
        } else {
            Placement {
                system_cpu: None,
                harness_cpu: None,
                cores,
            }
        }
    }

    fn describe(&self, tick_us: u64, sockets: usize) -> Value {
        let mode = if tick_us > 0 {
            format!("tick {tick_us} µs, {sockets} generator sockets")
        } else {
            format!("event mode (woken per datagram), {sockets} generator sockets")
        };
        json!({
            "online_cpus": self.cores,
            "system_under_test": self.system_cpu.map_or("unpinned (shares all CPUs)".to_string(), |c| format!("1 core (CPU {c})")),
            "harness": self.harness_cpu.map_or(format!("unpinned (shares all CPUs), {mode}"), |c| format!("1 core (CPU {c}): load + uas, {mode}")),
            "tick_us": tick_us,
            "generator_sockets": sockets,
        })
    }
}

struct Setup<'a> {
    args: &'a CompareArgs,
    workload: Workload,
    place: Placement,
    me: PathBuf,
    duration: f64,
    proxy_port: u16,
    uas_port: u16,
}

/// Writes a config template with the ports filled in.
fn render_config(setup: &Setup<'_>, template: &str, dir: &Path) -> Result<PathBuf, String> {
    let src = setup.args.configs.join(template);
    let text = std::fs::read_to_string(&src).map_err(|e| match setup.args.transport {
        Transport::Tcp if !src.exists() => format!("no TCP config {} for this workload", src.display()),
        _ => format!("cannot read config {}: {e}", src.display()),
    })?;
    let mut text = text
        .replace("@PROXY_PORT@", &setup.proxy_port.to_string())
        .replace("@UAS_PORT@", &setup.uas_port.to_string());
    if text.contains("@DB_DIR@") {
        let db = subscriber::write_db(dir)?;
        text = text.replace("@DB_DIR@", &db.to_string_lossy());
    }
    let dst = dir.join(template);
    std::fs::write(&dst, text).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    Ok(dst)
}

/// Starts the system under test.
fn start_system(setup: &Setup<'_>, system: &str, dir: &Path) -> Result<Running, String> {
    let log = dir.join(format!("{system}.log"));
    let pin = setup.place.system_cpu;
    let w = match setup.args.transport {
        Transport::Udp => setup.workload.name().to_string(),
        Transport::Tcp => format!("{}-tcp", setup.workload.name()),
    };
    let mut p = match system {
        "kamailio" => {
            let cfg = render_config(setup, &format!("kamailio-{w}.cfg"), dir)?;
            let args: Vec<String> = [
                "-f",
                &cfg.to_string_lossy(),
                "-DD",
                "-E",
                "-n",
                "1",
                "-m",
                "4096",
                "-M",
                "16",
                "-x",
                "tlsf",
                "-b",
                "4194304",
                "-w",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([dir.to_string_lossy().into_owned()])
            .collect();
            Running::start("kamailio", &setup.args.kamailio, &args, &log, pin)?
        }
        "sipshard" => {
            let bin = setup.args.sipshard.clone().unwrap_or_else(|| setup.me.with_file_name("sipshard"));
            if !bin.exists() {
                return Err(format!(
                    "sipshard binary not found at {} (build it: cargo build --release -p sipshard, or pass --sipshard PATH)",
                    bin.display()
                ));
            }
            let cfg = render_config(setup, &format!("sipshard-{w}.cfg"), dir)?;
            Running::start(
                "sipshard",
                &bin,
                &["run".into(), "-f".into(), cfg.to_string_lossy().into_owned()],
                &log,
                pin,
            )?
        }
        "floor" if setup.args.transport == Transport::Tcp => return Err(FLOOR_UDP_ONLY.into()),
        "floor" => {
            let args = vec![
                "floor".to_string(),
                "--listen".into(),
                format!("127.0.0.1:{}", setup.proxy_port),
                "--upstream".into(),
                format!("127.0.0.1:{}", setup.uas_port),
                "--shards".into(),
                "1".into(),
                "--cpus".into(),
                pin.unwrap_or(0).to_string(),
            ];
            Running::start("floor", &setup.me, &args, &log, None)?
        }
        other => return Err(format!("unknown system {other:?} (expected sipshard, kamailio or floor)")),
    };
    if let Err(e) = procs::wait_bound(&mut p, setup.proxy_port, setup.args.transport, &log, Duration::from_secs(8)) {
        p.stop();
        return Err(e);
    }
    Ok(p)
}

fn start_uas(setup: &Setup<'_>, dir: &Path, stats: &Path) -> Result<Running, String> {
    let log = dir.join("uas.log");
    let mut args = vec![
        "uas".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{}", setup.uas_port),
        "--no-100".into(),
    ];
    args.extend(["--stats".into(), stats.to_string_lossy().into_owned()]);
    args.extend(["--tick-us".into(), setup.args.tick_us.to_string()]);
    if setup.args.transport == Transport::Tcp {
        args.extend(["--transport".into(), "tcp".into()]);
    }
    if let Some(c) = setup.place.harness_cpu {
        args.extend(["--cpus".into(), c.to_string()]);
    }
    let mut p = Running::start("uas", &setup.me, &args, &log, None)?;
    if let Err(e) = procs::wait_bound(&mut p, setup.uas_port, setup.args.transport, &log, Duration::from_secs(5)) {
        p.stop();
        return Err(e);
    }
    Ok(p)
}

/// One point of one system: everything measured, or why it failed.
fn run_one(setup: &Setup<'_>, system: &str, rate: f64, dir: &Path) -> Result<Value, String> {
    for port in [setup.proxy_port, setup.uas_port] {
        // The previous point's processes may still be releasing the port.
        let t = std::time::Instant::now();
        let busy = || procs::port_busy(port, setup.args.transport);
        while busy() && t.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if busy() {
            return Err(format!(
                "{:?} port {port} is already in use by another program (pick --port-base)",
                setup.args.transport
            ));
        }
    }
    let stats_file = dir.join("uas-stats.json");
    let uas = start_uas(setup, dir, &stats_file)?;
    let sys = match start_system(setup, system, dir) {
        Ok(p) => p,
        Err(e) => {
            uas.stop();
            return Err(e);
        }
    };
    let plan = PointPlan {
        target: format!("127.0.0.1:{}", setup.proxy_port).parse().expect("valid address"),
        scenario: setup.workload.scenario(),
        rate,
        duration: setup.duration,
        threads: 1,
        cpus: setup.place.harness_cpu.map(|c| vec![c]),
        sockets: setup.args.sockets,
        local_ip: "127.0.0.1".parse().expect("valid address"),
        t1: Duration::from_millis(500),
        warmup: if setup.args.smoke { 0.0 } else { 1.0 },
        user: subscriber::USER.into(),
        password: subscriber::PASSWORD.into(),
        tick: crate::load::tick_of(setup.args.tick_us),
        transport: setup.args.transport,
    };
    let before = crate::cpu::tree(sys.pid());
    let point = run_point(&plan);
    std::thread::sleep(setup.workload.settle(setup.args.smoke));
    let after = crate::cpu::tree(sys.pid());
    // Receive-queue drops exist for UDP only (TCP pushes back instead).
    let drops = match setup.args.transport {
        Transport::Udp => json!(crate::sockopt::udp_drops(&[setup.proxy_port])),
        Transport::Tcp => Value::Null,
    };
    sys.stop();
    uas.stop();
    let point = point?;
    let (Some(before), Some(after)) = (before, after) else {
        return Err(format!(
            "{system} exited during the run; log: {}",
            procs::tail(&dir.join(format!("{system}.log")))
        ));
    };
    let uas_stats: Value = std::fs::read_to_string(&stats_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| format!("uas wrote no counts to {}", stats_file.display()))?;
    let uas_sent: u64 = ["100", "180", "200", "487", "failure"]
        .iter()
        .map(|k| uas_stats["sent"][k].as_u64().unwrap_or(0))
        .sum();
    let msgs_in = point.stats.messages_sent + uas_sent;
    let cpu = after.since(&before);
    let per_msg = |d: Duration| {
        if msgs_in == 0 {
            0.0
        } else {
            d.as_secs_f64() * 1e6 / msgs_in as f64
        }
    };
    let whole = point.stats.histogram(crate::load::Step::Whole);
    Ok(json!({
        "system": system,
        "offered_rate": rate,
        "achieved_rate": point.stats.completed as f64 / setup.duration,
        "passed": point.passed(),
        "messages_into_system": msgs_in,
        "system_cpu_user_s": cpu.user.as_secs_f64(),
        "system_cpu_system_s": cpu.system.as_secs_f64(),
        "cpu_us_per_message": per_msg(cpu.total()),
        "cpu_us_per_message_user": per_msg(cpu.user),
        "cpu_us_per_message_system": per_msg(cpu.system),
        "system_socket_drops": drops,
        "latency_us": {
            "p50": whole.value_at_quantile(0.5), "p90": whole.value_at_quantile(0.9), "p99": whole.value_at_quantile(0.99),
            "p99_9": whole.value_at_quantile(0.999), "max": whole.max(),
        },
        "load": point.to_json(),
        "uas": uas_stats,
    }))
}

/// `sipshard-bench compare`.
pub fn run(args: &CompareArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("compare: cannot create {}: {e}", args.out.display()))?;
    let me = std::env::current_exe().map_err(|e| format!("compare: cannot find own executable: {e}"))?;
    let rates = match (&args.rates, args.smoke) {
        (Some(r), _) => r.clone(),
        (None, true) => vec![500.0],
        (None, false) => args.scenario.default_rates(),
    };
    let setup = Setup {
        args,
        workload: args.scenario,
        place: Placement::detect(),
        me,
        duration: args.duration.unwrap_or(if args.smoke { 2.0 } else { 10.0 }),
        proxy_port: args.port_base,
        uas_port: args.port_base + 10,
    };
    let mut systems = Vec::new();
    let mut any_failed = false;
    for system in &args.systems {
        let mut points = Vec::new();
        let mut error = None;
        if system == "floor" && args.transport == Transport::Tcp {
            eprintln!("compare: floor not run: {FLOOR_UDP_ONLY}");
            systems.push(json!({ "system": system, "points": [], "error": null, "not_run": FLOOR_UDP_ONLY }));
            continue;
        }
        for &rate in &rates {
            let dir = args.out.join(format!("{system}-{rate:.0}"));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            eprintln!("compare: {system} at {rate:.0}/s ...");
            match run_one(&setup, system, rate, &dir) {
                Ok(p) => points.push(p),
                Err(e) => {
                    eprintln!("compare: {system} FAILED: {e}");
                    error = Some(e);
                    break;
                }
            }
        }
        any_failed |= error.is_some();
        systems.push(json!({ "system": system, "points": points, "error": error }));
    }
    let doc = json!({
        "workload": args.scenario.name(),
        "scenario": args.scenario.scenario().name(),
        "transport": match args.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        },
        "smoke": args.smoke,
        "duration_s": setup.duration,
        "offered_rates": rates,
        "placement": setup.place.describe(args.tick_us, args.sockets),
        "kamailio_options": "-DD -E -n 1 -m 4096 -M 16 -x tlsf -b 4194304",
        "systems": systems,
    });
    let doc = report::add_ratios(doc);
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("compare: cannot write results.json: {e}"))?;
    std::fs::write(args.out.join("plot.svg"), svg::plot(&doc)).map_err(|e| format!("compare: cannot write plot.svg: {e}"))?;
    println!("{}", report::table(&doc));
    if any_failed {
        eprintln!("compare: at least one system FAILED (see the table and results.json); exit status 2");
        std::process::exit(2);
    }
    Ok(())
}
