//! `sipshard-bench`: sipshard's benchmark harness.
//!
//! - `uas`: a stateless SIP responder on glommio shards;
//! - `load`: an open-loop load generator (options, message, register, call,
//!   call-cancel) with RFC 3261 retransmissions and hdrhistogram latencies;
//! - `floor`: a bare UDP relay on glommio (the cost of I/O without SIP);
//! - `compare`: the same workload through sipshard, Kamailio and the floor,
//!   with a table, JSON and an SVG plot.
//!
//! Method and figures: `docs/benchmarks.md`; usage: `bench/README.md`.

mod batch;
mod compare;
mod cpu;
mod floor;
mod gso;
mod load;
mod shards;
use sipshard_bench_sip as sip;
mod sockopt;
mod stop;
mod stream;
mod uas;

use clap::{Parser, Subcommand, ValueEnum};

/// sipshard's benchmark harness: UAS responder, open-loop load generator,
/// UDP floor relay and side-by-side comparisons with Kamailio.
#[derive(Parser, Debug)]
#[command(name = "sipshard-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Stateless SIP responder (200 to OPTIONS/REGISTER/MESSAGE/BYE, 100/180/200 to INVITE).
    Uas(uas::UasArgs),
    /// Open-loop SIP load generator with retransmissions, latency histograms and self-measured CPU.
    Load(load::LoadArgs),
    /// Bare UDP relay on glommio shards: the I/O floor under any SIP proxy.
    Floor(floor::FloorArgs),
    /// Runs one workload through sipshard, Kamailio and the floor; writes results.json and an SVG plot.
    Compare(compare::CompareArgs),
}

/// SIP transport.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Udp,
    Tcp,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Uas(a) => uas::run(&a).map(|_| ()),
        Command::Load(a) => load::run_cli(&a),
        Command::Floor(a) => floor::run(&a),
        Command::Compare(a) => compare::run(&a),
    };
    if let Err(e) = result {
        eprintln!("sipshard-bench: {e}");
        std::process::exit(1);
    }
}
