//! `load` sends its requests as UDP GSO batches, and the far end still gets
//! every request as its own datagram. sipp's `uas` is the far end: it counts
//! a call only if its INVITE, ACK and BYE each arrived as one parseable
//! datagram, so its count of completed calls is the receiver's side. tshark
//! on lo is the wire's side: the loopback device carries a GSO batch as one
//! packet (it is cut into datagrams only at the receiving socket), so the
//! capture must show fewer packets than requests, packets carrying several
//! requests back to back, and every request of the run somewhere in them.
//! Needs sipp and tshark (a failure under CI=true if absent).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Occurrences of `needle` in `hay`.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn gso_batches_reach_sipp_as_separate_datagrams() {
    if !have_tool("sipp") || !have_tool("tshark") {
        return;
    }
    let dir = temp_dir("gso-wire");
    let port = free_port(27600);
    let pcap = dir.join("lo.pcap");
    // Requests towards the far end only (its answers are plain sendto's).
    let capture = Running(Some(
        Command::new("tshark")
            .args(["-i", "lo", "-q", "-f", &format!("udp and dst port {port}"), "-w"])
            .arg(&pcap)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let uas = Running(Some(spawn_sipp_uas(&dir, port)));
    wait_bound(port);
    // Let the capture start before the first packet.
    std::thread::sleep(Duration::from_millis(1500));
    let load_json = dir.join("load.json");
    // 2 000 calls/s on one socket: two or more calls per 1-ms tick, so
    // INVITEs (and ACKs, and BYEs) of one tick share a GSO send.
    let status = Command::new(harness())
        .args(["load", "--target", &format!("127.0.0.1:{port}"), "--scenario", "call"])
        .args(["--rate", "2000", "--duration", "2", "--sockets", "1"])
        .args(["--json", &load_json.display().to_string()])
        .status()
        .unwrap();
    // sipp's uas scenario ends each call 4 s after the BYE's 200, then
    // writes its counters every second.
    std::thread::sleep(Duration::from_millis(6500));
    uas.stop();
    capture.stop();
    assert!(status.success());
    let counts = &read_json(&load_json)["points"][0]["counts"];
    assert_eq!(counts["completed"], 4000);
    assert_eq!(counts["retransmissions"], 0);
    let (gso_sends, gso_datagrams) = (counts["gso_sends"].as_u64().unwrap(), counts["gso_datagrams"].as_u64().unwrap());
    assert!(
        gso_sends > 0 && gso_datagrams > 2 * gso_sends,
        "GSO sends {gso_sends} carrying {gso_datagrams}"
    );
    // The receiver: every INVITE, ACK and BYE was a datagram of its own.
    assert_eq!(sipp_stat(&dir, "SuccessfulCall(C)"), 4000);
    assert_eq!(sipp_stat(&dir, "FailedCall(C)"), 0);
    // The wire: all 12 000 requests, in fewer packets.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-e", "udp.payload"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let packets: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| hex_bytes(l.trim()))
        .collect();
    let per_packet: Vec<usize> = packets.iter().map(|p| count(p, b" SIP/2.0\r\nVia: ")).collect();
    let requests: usize = per_packet.iter().sum();
    let methods = |m: &[u8]| packets.iter().map(|p| count(p, m)).sum::<usize>();
    assert_eq!(requests, 12_000, "every request of the run crossed lo");
    assert_eq!(
        (methods(b"INVITE sip:"), methods(b"ACK sip:"), methods(b"BYE sip:")),
        (4000, 4000, 4000)
    );
    let batched = per_packet.iter().filter(|&&n| n > 1).count();
    assert!(
        batched > 0 && packets.len() < requests,
        "{} packets for {requests} requests, {batched} with several",
        packets.len()
    );
    assert_eq!(
        per_packet.iter().filter(|&&n| n > 1).map(|&n| n as u64).sum::<u64>(),
        gso_datagrams,
        "the packets with several requests are load's GSO sends"
    );
}
