//! Replays the fuzz targets' seed corpus (`ipsec/fuzz/corpus/<target>/`)
//! through the same entry points, so every `cargo test` runs them. Seeds
//! named `bad-*` are malformed on purpose; every other seed is a valid input
//! and must get all the way through (a non-zero result).

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8]) -> usize) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = fs::read(&path).expect("corpus file");
        let result = run(&data);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.starts_with("bad-") {
            assert!(result > 0, "valid seed {name} was rejected");
        }
        n += 1;
    }
    n
}

#[test]
fn esp_decapsulate_corpus() {
    assert!(replay("esp_decapsulate", sipshard_ipsec::fuzzing::esp_decapsulate) >= 5);
}

#[test]
fn security_client_corpus() {
    assert!(replay("security_client", sipshard_ipsec::fuzzing::security_client) >= 5);
}
