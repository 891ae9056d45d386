//! `sipshard`: the command line of the SIP server.
//!
//! - `sipshard run [-f FILE] [-A NAME[=VALUE]]...`: start in the foreground
//!   (no FILE: the built-in default config, `docs/examples/default.cfg`).
//! - `sipshard check -f FILE [-A ...]`: check a config without starting;
//!   every problem is listed as file:line:column, plus a migration report of
//!   the Kamailio functions and modules sipshard does not have yet.
//! - `sipshard ctl COMMAND [ARGS]...`: drive a running server (the kamcmd
//!   of sipshard): `core.uptime`, `stats.get_statistics all`, `cfg.reload`...
//! - `sipshard esp encrypt|decrypt ...`: the userspace ESP operator tool.

mod check_cmd;
mod ctl_cmd;
mod defines;
mod esp_cmd;
mod run_cmd;
mod subscriber_cmd;

use clap::{Parser, Subcommand};

/// sipshard: a Kamailio-compatible SIP proxy on a sharded io_uring dataplane.
#[derive(Parser)]
#[command(name = "sipshard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server in the foreground.
    Run(run_cmd::RunArgs),
    /// Check a configuration file without starting; exit 0 when it is
    /// usable, non-zero with every problem listed.
    Check(check_cmd::CheckArgs),
    /// Send a command to a running server (kamcmd-style: core.uptime,
    /// stats.get_statistics all, cfg.reload, corex.debug 3, ...).
    Ctl(ctl_cmd::CtlArgs),
    /// Encrypt or decrypt one ESP packet with given SA parameters.
    Esp(esp_cmd::EspArgs),
    /// Manage the subscriber table the config's auth_db db_url names.
    Subscriber(subscriber_cmd::SubscriberArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(a) => run_cmd::run(a),
        Command::Check(a) => check_cmd::run(a),
        Command::Ctl(a) => ctl_cmd::run(a),
        Command::Esp(a) => esp_cmd::run(a),
        Command::Subscriber(a) => subscriber_cmd::run(a),
    };
    std::process::exit(code);
}
