//! Replays the fuzz seed corpus (and any crash artifacts kept under
//! `fuzz/artifacts/`) through the same code the fuzz targets run, so CI
//! catches regressions without a nightly toolchain or libFuzzer.

use std::path::{Path, PathBuf};

use sipshard_core::sip::exercise::{exercise_message, exercise_uri};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let mut n = 0;
    for sub in ["corpus", "artifacts"] {
        for path in files(&fuzz_dir().join(sub).join(target)) {
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| f(&data));
            assert!(r.is_ok(), "{} panics", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn parse_message_corpus() {
    let n = replay("parse_message", exercise_message);
    assert!(n >= 61, "seed corpus missing: {n} files");
}

#[test]
fn parse_uri_corpus() {
    let n = replay("parse_uri", exercise_uri);
    assert!(n >= 20, "seed corpus missing: {n} files");
}

/// Every torture message, and every prefix of one, goes through the
/// message target (truncated datagrams, partial stream reads).
#[test]
fn torture_prefixes() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for dir in ["rfc4475", "rfc5118"] {
        for path in files(&data.join(dir)) {
            let bytes = std::fs::read(&path).unwrap();
            for end in (0..=bytes.len()).step_by(7) {
                exercise_message(&bytes[..end]);
            }
        }
    }
}
