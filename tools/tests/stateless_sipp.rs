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

/// One run: sipp uac → sipshard → sipp uas.
struct Run<'a> {
    name: &'a str,
    /// Loopback address as sipp takes it (`-i`) and as a URI host.
    ip: &'a str,
    host: &'a str,
    /// sipp `-t` of the caller and of the callee.
    uac_t: &'a str,
    uas_t: &'a str,
    /// The forwarding function the config calls.
    func: &'a str,
    calls: u64,
    rate: u64,
}

impl Run<'_> {
    fn check(&self) {
        if !have_sipp() {
            return;
        }
        let dir = TestDir::new(self.name);
        let (proxy, uas, uac) = (free_port(), free_port(), free_port());
        let cfg = dir.write(
            "sipshard.cfg",
            &forward_cfg(self.host, proxy, uas, self.func),
        );
        let mut server = Sipshard::start(&cfg, &[]);
        let uas_args: Vec<String> = [
            "-sn",
            "uas",
            "-i",
            self.ip,
            "-p",
            &uas.to_string(),
            "-t",
            self.uas_t,
        ]
        .map(String::from)
        .to_vec();
        let _uas = SippBackground::start(&uas_args);
        let args: Vec<String> = [
            "-sn",
            "uac",
            &format!("{}:{proxy}", self.host),
            "-s",
            "service",
            "-i",
            self.ip,
            "-p",
            &uac.to_string(),
            "-m",
            &self.calls.to_string(),
            "-r",
            &self.rate.to_string(),
            "-l",
            &(self.rate * 2).to_string(),
            "-t",
            self.uac_t,
        ]
        .map(String::from)
        .to_vec();
        let limit = Duration::from_secs(self.calls / self.rate + 60);
        let r = run_sipp(&dir, "uac", &args, limit);
        assert!(server.alive(), "sipshard exited during the run");
        assert_eq!(r.successful, self.calls, "successful calls: {r:?}");
        assert_eq!(r.failed, 0, "failed calls: {r:?}");
        assert_eq!(r.exit, 0, "sipp exit code: {r:?}");
    }
}

const V4: (&str, &str) = ("127.0.0.1", "127.0.0.1");

#[test]
fn udp_10000_calls_no_failure() {
    let (ip, host) = V4;
    Run {
        name: "stateless-udp",
        ip,
        host,
        uac_t: "u1",
        uas_t: "u1",
        func: "forward",
        calls: 10_000,
        rate: 1000,
    }
    .check();
}

#[test]
fn tcp_10000_calls_no_failure() {
    let (ip, host) = V4;
    Run {
        name: "stateless-tcp",
        ip,
        host,
        uac_t: "t1",
        uas_t: "t1",
        func: "forward_tcp",
        calls: 10_000,
        rate: 1000,
    }
    .check();
}

#[test]
fn ipv6_udp_calls_no_failure() {
    Run {
        name: "stateless-ipv6",
        ip: "::1",
        host: "[::1]",
        uac_t: "u1",
        uas_t: "u1",
        func: "forward",
        calls: 2_000,
        rate: 500,
    }
    .check();
}

#[test]
fn udp_caller_to_tcp_callee_and_back() {
    let (ip, host) = V4;
    Run {
        name: "stateless-udp-tcp",
        ip,
        host,
        uac_t: "u1",
        uas_t: "t1",
        func: "forward_tcp",
        calls: 2_000,
        rate: 500,
    }
    .check();
    Run {
        name: "stateless-tcp-udp",
        ip,
        host,
        uac_t: "t1",
        uas_t: "u1",
        func: "forward_udp",
        calls: 2_000,
        rate: 500,
    }
    .check();
}
