//! `sipshard esp` as an operator uses it: known answers, the key flags, and
//! the exit status of each kind of failure. No external tools needed.

use std::process::{Command, Output};

const IK: &str = "f769bcd751044604127672711c6d3441";
const CK: &str = "b40ba9a3c58b2a05bbf0d987b21bf8cb";
/// IPv4 10.0.0.2:31800 → 10.0.0.1:6100, UDP, "REGISTER sip:ims SIP/2.0\r\n\r\n".
const INNER: &str = "4500003800010000401166b20a0000020a0000017c3817d4002412885245474953544552207369703a696d73205349502f322e300d0a0d0a";
const IV: &str = "000102030405060708090a0b0c0d0e0f";

fn esp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sipshard"))
        .arg("esp")
        .args(args)
        .output()
        .expect("sipshard runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn encrypt(extra: &[&str]) -> String {
    let mut args = vec![
        "encrypt", "--spi", "0x1001", "--ik", IK, "--ck", CK, "--seq", "5",
    ];
    args.extend_from_slice(extra);
    let o = esp(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stdout(&o)
}

#[test]
fn encrypt_is_reproducible_and_decrypt_restores_the_packet() {
    let wire = encrypt(&["--iv", IV, INNER]);
    assert_eq!(wire, encrypt(&["--iv", IV, INNER]));
    // IPv4 header with protocol 50, then SPI 0x1001, seq 5 and the IV.
    assert_eq!(&wire[18..20], "32");
    assert_eq!(&wire[40..56], "0000100100000005");
    assert_eq!(&wire[56..88], IV);
    let o = esp(&["decrypt", "--spi", "4097", "--ik", IK, "--ck", CK, &wire]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), INNER);
}

#[test]
fn ims_keys_and_esp_keys_give_the_same_packet() {
    let with_ims = encrypt(&["--iv", IV, INNER]);
    let o = esp(&[
        "encrypt",
        "--spi",
        "0x1001",
        "--seq",
        "5",
        "--iv",
        IV,
        "--auth-key",
        &format!("{IK}00000000"),
        "--enc-key",
        CK,
        INNER,
    ]);
    assert_eq!(stdout(&o), with_ims);
}

#[test]
fn esp_only_prints_the_payload_after_esp() {
    let wire = encrypt(&["--iv", IV, INNER]);
    let esp_part = &wire[40..];
    let o = esp(&[
        "decrypt",
        "--spi",
        "0x1001",
        "--ik",
        IK,
        "--ck",
        CK,
        "--esp-only",
        esp_part,
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), &INNER[40..], "the UDP segment");
}

#[test]
fn failures_have_distinct_exit_codes_and_clear_messages() {
    let wire = encrypt(&["--iv", IV, INNER]);
    let mut bad_icv = wire.clone();
    let last = if bad_icv.ends_with('0') { "1" } else { "0" };
    bad_icv.replace_range(bad_icv.len() - 1.., last);
    let o = esp(&[
        "decrypt", "--spi", "0x1001", "--ik", IK, "--ck", CK, &bad_icv,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ICV check failed"));

    let o = esp(&[
        "decrypt", "--spi", "0x1001", "--ik", IK, "--ck", CK, &wire, &wire,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), INNER, "the first copy still decrypts");
    assert!(String::from_utf8_lossy(&o.stderr).contains("replayed"));

    let o = esp(&["decrypt", "--spi", "0x1002", "--ik", IK, "--ck", CK, &wire]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong SPI"));

    let o = esp(&["decrypt", "--spi", "0x1001", "--ik", IK, "--ck", CK, "zz"]);
    assert_eq!(o.status.code(), Some(1));
    let o = esp(&[
        "decrypt", "--spi", "0x1001", "--ik", IK, "--ck", "00", &wire,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("16 bytes"));
    let o = esp(&["decrypt", "--spi", "0x1001", "--ik", IK, "--ck", CK, INNER]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not ESP"));
}

#[test]
fn udp_encapsulation_and_keepalive() {
    let wire = encrypt(&["--iv", IV, "--udp-encap", INNER]);
    assert_eq!(&wire[18..20], "11", "outer protocol is UDP");
    assert_eq!(&wire[40..48], "11941194", "4500 -> 4500");
    let o = esp(&[
        "decrypt",
        "--spi",
        "0x1001",
        "--ik",
        IK,
        "--ck",
        CK,
        "--udp-encap",
        &wire,
    ]);
    assert_eq!(stdout(&o), INNER);
    let o = esp(&[
        "decrypt",
        "--spi",
        "0x1001",
        "--ik",
        IK,
        "--ck",
        CK,
        "--udp-encap",
        "--esp-only",
        "ff",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("keepalive"));
}
