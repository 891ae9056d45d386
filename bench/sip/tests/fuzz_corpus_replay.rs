//! Replays the `bench_scan` fuzz target's inputs through its code: its own
//! seeds (`fuzz/corpus/bench_scan/`), the parser's torture corpus
//! (`fuzz/corpus/parse_message/`, RFC 4475 / 5118), any crash artifacts,
//! and every 7-byte prefix of each (truncated datagrams).

use std::path::PathBuf;

use sipshard_bench_sip::exercise::exercise_datagram;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in [root.join("corpus").join(target), root.join("artifacts").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            out.push(std::fs::read(e.path()).expect("readable corpus file"));
        }
    }
    out
}

#[test]
fn bench_scan_corpus_and_torture_messages() {
    let own = inputs("bench_scan");
    assert!(own.len() >= 4, "bench_scan seed corpus missing: {} files", own.len());
    let torture = inputs("parse_message");
    assert!(torture.len() >= 61, "parse_message corpus missing: {} files", torture.len());
    for data in own.iter().chain(&torture) {
        exercise_datagram(data);
        for cut in (0..data.len()).step_by(7) {
            exercise_datagram(&data[..cut]);
        }
    }
}

#[test]
fn seeds_scan_as_the_harness_expects() {
    let scanned = inputs("bench_scan")
        .iter()
        .filter(|d| sipshard_bench_sip::scan::scan(d).is_ok())
        .count();
    assert!(scanned >= 4, "the seeds are real harness traffic and must scan: {scanned}");
}
