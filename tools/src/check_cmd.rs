//! `sipshard check`: every problem of a config, without starting.

use std::path::PathBuf;

use sipshard_core::script;

use crate::defines::parse_define;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Config file to check (kamailio.cfg syntax).
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    file: PathBuf,
    /// Define a preprocessor symbol, as kamailio -A does.
    #[arg(short = 'A', value_name = "NAME[=VALUE]")]
    defines: Vec<String>,
}

/// Prints every diagnostic (file:line:column) and the migration report;
/// exit 0 when the config would run, 1 otherwise.
pub fn run(a: CheckArgs) -> i32 {
    let mut defs = Vec::new();
    for d in &a.defines {
        match parse_define(d) {
            Ok(d) => defs.push(d),
            Err(e) => {
                eprintln!("-A {d}: {e}");
                return 1;
            }
        }
    }
    let report = script::check_file(&a.file, &defs);
    for d in &report.diagnostics {
        println!("{d}");
    }
    if !report.migration.is_empty() {
        println!("{}", report.migration);
    }
    let errors = report.diagnostics.iter().filter(|d| d.is_error()).count();
    if report.is_clean() {
        println!("{}: ok", a.file.display());
        0
    } else {
        println!(
            "{}: {errors} error(s), {} unsupported feature(s)",
            a.file.display(),
            report.migration.items.len()
        );
        1
    }
}
