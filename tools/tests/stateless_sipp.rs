//! sipp's built-in uac → sipshard (stateless `forward()`) → sipp's uas:
//! 10 000 calls at a steady rate with none failed, over UDP, over TCP, and
//! once over IPv6 loopback.

mod common;

use std::time::Duration;

use common::*;

fn forward_cfg(host: &str, port: u16, uas_port: u16, func: &str) -> String {
    format!(
        r#"
listen=udp:{host}:{port}
listen=tcp:{host}:{port}
shards=2
debug=1
loadmodule "sl.so"
loadmodule "maxfwd.so"
request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    {func}("{host}", {uas_port});
}}
"#
    )
}

fn run_calls(
    name: &str,
    ip: &str,
    bracketed: &str,
    transport: &str,
    func: &str,
    calls: u64,
    rate: u64,
) {
    if !have_sipp() {
        return;
    }
    let dir = TestDir::new(name);
    let proxy = free_port();
    let uas = free_port();
    let uac = free_port();
    let cfg = dir.write("sipshard.cfg", &forward_cfg(bracketed, proxy, uas, func));
    let mut server = Sipshard::start(&cfg, &[]);
    let t = ["-t".to_string(), transport.to_string()];
    let _uas = SippBackground::start(
        &[
            vec![
                "-sn".into(),
                "uas".into(),
                "-i".into(),
                ip.into(),
                "-p".into(),
                uas.to_string(),
            ],
            t.to_vec(),
        ]
        .concat(),
    );
    let args: Vec<String> = [
        vec![
            "-sn".into(),
            "uac".into(),
            format!("{bracketed}:{proxy}"),
            "-s".into(),
            "service".into(),
            "-i".into(),
            ip.into(),
            "-p".into(),
            uac.to_string(),
            "-m".into(),
            calls.to_string(),
            "-r".into(),
            rate.to_string(),
            "-l".into(),
            (rate * 2).to_string(),
        ],
        t.to_vec(),
    ]
    .concat();
    let limit = Duration::from_secs(calls / rate + 60);
    let r = run_sipp(&dir, "uac", &args, limit);
    assert!(server.alive(), "sipshard exited during the run");
    assert_eq!(r.successful, calls, "successful calls: {r:?}");
    assert_eq!(r.failed, 0, "failed calls: {r:?}");
    assert_eq!(r.exit, 0, "sipp exit code: {r:?}");
}

#[test]
fn udp_10000_calls_no_failure() {
    run_calls(
        "stateless-udp",
        "127.0.0.1",
        "127.0.0.1",
        "u1",
        "forward",
        10_000,
        1000,
    );
}

#[test]
fn tcp_10000_calls_no_failure() {
    run_calls(
        "stateless-tcp",
        "127.0.0.1",
        "127.0.0.1",
        "t1",
        "forward_tcp",
        10_000,
        1000,
    );
}

#[test]
fn ipv6_udp_calls_no_failure() {
    run_calls(
        "stateless-ipv6",
        "::1",
        "[::1]",
        "u1",
        "forward",
        2_000,
        500,
    );
}
