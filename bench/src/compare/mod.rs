//! `sipshard-bench compare` (being written).
use clap::Args;
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {}
pub fn run(_: &CompareArgs) -> Result<(), String> {
    Err("compare: not yet".into())
}
