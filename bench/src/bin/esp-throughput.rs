//! `esp-throughput`: ESP encrypt (outbound: seal) and decrypt (inbound:
//! replay check + ICV verify + decrypt) throughput on one core, for 200, 600
//! and 1400-byte payloads, beside the raw primitives it is built from
//! (HMAC-SHA-1 with both backends, AES-128-CBC each way).
//!
//! Run: `cargo run --release -p sipshard-bench --bin esp-throughput [seconds]`
//! and compare with `openssl speed -evp aes-128-cbc` / `openssl speed -evp sha1`
//! (docs/benchmarks-esp.md).

use std::hint::black_box;
use std::time::{Duration, Instant};

use sipshard_ipsec::crypto::{CipherKey, IntegrityKey, IvGenerator, Sha1Backend};
use sipshard_ipsec::{Direction, EncryptionAlgorithm, IntegrityAlgorithm, SaParams, SecurityAssociation};

const SIZES: [usize; 3] = [200, 600, 1400];
/// Packets prepared per inbound round (each is opened once: replay window).
const BATCH: u32 = 4096;

fn params(direction: Direction, integrity: IntegrityAlgorithm, encryption: EncryptionAlgorithm) -> SaParams {
    SaParams {
        spi: 0x1001,
        direction,
        local: "10.0.0.1:6100".parse().expect("literal"),
        remote: "10.0.0.2:31800".parse().expect("literal"),
        integrity,
        auth_key: vec![0x11; integrity.key_len()],
        encryption,
        enc_key: vec![0x22; encryption.key_len()],
        expires_at_ms: u64::MAX,
    }
}

fn sa(direction: Direction, i: IntegrityAlgorithm, e: EncryptionAlgorithm, sha1: Sha1Backend) -> SecurityAssociation {
    SecurityAssociation::with_iv_generator(params(direction, i, e), IvGenerator::from_seed(&[7; 24]), sha1)
        .expect("benchmark keys have the right lengths")
}

/// Runs `f` (which processes `bytes_per_call` bytes) for about `budget`;
/// returns (Gbit/s, ns per call).
fn measure(budget: Duration, bytes_per_call: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        calls += 256;
    }
    let secs = start.elapsed().as_secs_f64();
    let gbit = (calls as f64 * bytes_per_call as f64 * 8.0) / secs / 1e9;
    (gbit, secs * 1e9 / calls as f64)
}

fn row(name: &str, size: usize, (gbit, ns): (f64, f64)) {
    println!("| {name:<44} | {size:>5} | {gbit:>7.2} | {:>8.0} | {ns:>8.0} |", gbit * 1e3 / 8.0);
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let sha_ni = std::is_x86_feature_detected!("sha");
    println!("CPU SHA extensions: {}", if sha_ni { "yes" } else { "no" });
    println!("| operation                                    | bytes |  Gbit/s |     MB/s | ns/op    |");
    println!("|----------------------------------------------|------:|--------:|---------:|---------:|");

    // Raw primitives on the bytes ESP hands them for a 1400-byte payload:
    // HMAC over SPI..trailer (8 + 16 + 1408 = 1432 B), CBC over 1408 B.
    let hmac_len = 1432;
    let data = vec![0x5au8; hmac_len];
    for (name, backend) in [
        ("HMAC-SHA-1 (RustCrypto sha1)", Sha1Backend::RustCrypto),
        ("HMAC-SHA-1 (ring)", Sha1Backend::Ring),
    ] {
        let key = IntegrityKey::with_sha1_backend(IntegrityAlgorithm::HmacSha196, &[1; 20], backend).expect("key");
        row(
            name,
            hmac_len,
            measure(budget, hmac_len, || {
                black_box(key.icv(black_box(&data)));
            }),
        );
    }
    let md5 = IntegrityKey::new(IntegrityAlgorithm::HmacMd596, &[1; 16]).expect("key");
    row(
        "HMAC-MD5 (RustCrypto md-5)",
        hmac_len,
        measure(budget, hmac_len, || {
            black_box(md5.icv(black_box(&data)));
        }),
    );
    let cbc_len = 1408;
    let aes = CipherKey::new(EncryptionAlgorithm::AesCbc, &[2; 16]).expect("key");
    let mut buf = vec![0u8; cbc_len];
    row(
        "AES-128-CBC encrypt",
        cbc_len,
        measure(budget, cbc_len, || {
            aes.encrypt_in_place(&[3; 16], black_box(&mut buf)).expect("aligned");
        }),
    );
    row(
        "AES-128-CBC decrypt",
        cbc_len,
        measure(budget, cbc_len, || {
            aes.decrypt_in_place(&[3; 16], black_box(&mut buf)).expect("aligned");
        }),
    );

    let suites = [
        (
            "aes-cbc + hmac-sha-1-96 (RustCrypto)",
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::AesCbc,
            Sha1Backend::RustCrypto,
        ),
        (
            "aes-cbc + hmac-sha-1-96 (ring)",
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::AesCbc,
            Sha1Backend::Ring,
        ),
        (
            "aes-cbc + hmac-md5-96",
            IntegrityAlgorithm::HmacMd596,
            EncryptionAlgorithm::AesCbc,
            Sha1Backend::RustCrypto,
        ),
        (
            "des-ede3-cbc + hmac-sha-1-96",
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::DesEde3Cbc,
            Sha1Backend::RustCrypto,
        ),
        (
            "null + hmac-sha-1-96",
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::Null,
            Sha1Backend::RustCrypto,
        ),
    ];
    for (name, i, e, backend) in suites {
        for size in SIZES {
            let payload = vec![0x42u8; size];
            let out_sa = sa(Direction::Outbound, i, e, backend);
            let mut out = Vec::with_capacity(size + 64);
            row(
                &format!("ESP out {name}"),
                size,
                measure(budget, size, || {
                    out.clear();
                    out_sa.seal(17, black_box(&payload), &mut out).expect("seal");
                }),
            );

            let sender = sa(Direction::Outbound, i, e, backend);
            let packets: Vec<Vec<u8>> = (0..BATCH)
                .map(|_| {
                    let mut p = Vec::new();
                    sender.seal(17, &payload, &mut p).expect("seal");
                    p
                })
                .collect();
            let mut in_sa = sa(Direction::Inbound, i, e, backend);
            let mut next = 0usize;
            let mut scratch = vec![0u8; packets[0].len()];
            row(
                &format!("ESP in  {name}"),
                size,
                measure(budget, size, || {
                    if next == packets.len() {
                        // Every sequence number was used: a fresh window.
                        in_sa = sa(Direction::Inbound, i, e, backend);
                        next = 0;
                    }
                    scratch.copy_from_slice(&packets[next]);
                    next += 1;
                    black_box(in_sa.open(&mut scratch).expect("open"));
                }),
            );
        }
    }
}
