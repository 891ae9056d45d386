//! The stateless configs of the operators' guide, run unchanged.
//!
//! They forward to 192.168.1.110 and listen on the default port, so the
//! UAS runs in a network namespace of the test's own that holds that
//! address (a test host; no traffic leaves this machine). sipp checks on
//! the wire that the INVITE carries `X-Proxied: You betcha` and that the
//! reply carries `X-Proxied: For the reply`, for a 200 and for a 404.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// The guide's request_route and onreply_route, as printed there, after
/// the `loadmodule` lines any Kamailio needs to run them.
const GUIDE_CFG: &str = r#"
loadmodule "xlog.so"
loadmodule "textops.so"

request_route {
xlog("Received $rm to $ru - Forwarding");
append_hf("X-Proxied: You betcha\r\n");
#Forward to new IP
forward("192.168.1.110");
}
onreply_route{
xlog("Got a reply $rs");
append_hf("X-Proxied: For the reply\r\n");
if($rs == 404) {
#If remote destination returns 404
xlog("Got a 404 for $rU");
#Do something about it
}
}
"#;

/// A network namespace holding 192.168.1.110, linked to the host by a
/// veth pair whose host end is 192.168.1.1. Removed when dropped.
struct TestHost {
    ns: String,
    veth: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl TestHost {
    fn create() -> Option<TestHost> {
        let ns = format!("sipshard-seed-{}", std::process::id());
        let veth = format!("vss{}", std::process::id() % 100_000);
        let peer = format!("{veth}p");
        let ok = ip(&["netns", "add", &ns])
            && ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])
            && ip(&["link", "set", &peer, "netns", &ns])
            && ip(&["addr", "add", "192.168.1.1/24", "dev", &veth])
            && ip(&["link", "set", &veth, "up"])
            && ip(&[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                "192.168.1.110/24",
                "dev",
                &peer,
            ])
            && ip(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"])
            && ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        let host = TestHost { ns, veth };
        if ok {
            Some(host)
        } else {
            None
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn uas_in_ns(dir: &TestDir, ns: &str, code: u16, reason: &str) -> SippBackground {
    // sipp checks status codes when it loads a scenario: write them in.
    let template = std::fs::read_to_string(scenario("uas_expect_xproxied.xml")).unwrap();
    let text = template
        .replace("[reply_code]", &code.to_string())
        .replace("[reply_reason]", reason);
    let sf = dir.write(&format!("uas-{code}.xml"), &text);
    let args: Vec<String> = [
        "netns",
        "exec",
        ns,
        "sipp",
        "-sf",
        sf.to_str().unwrap(),
        "-i",
        "192.168.1.110",
        "-p",
        "5060",
        "-m",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    SippBackground::start_program("ip", &args)
}

fn uac(dir: &TestDir, name: &str, code: u16) -> SippResult {
    // sipp takes no keyword in `<recv response=...>`: write the code in.
    let template = std::fs::read_to_string(scenario("uac_expect_reply_header.xml")).unwrap();
    let sf = dir.write(
        &format!("{name}.xml"),
        &template.replace("[expect_code]", &code.to_string()),
    );
    let args: Vec<String> = [
        "-sf",
        sf.to_str().unwrap(),
        "127.0.0.1:5060",
        "-s",
        "guide",
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-m",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_sipp(dir, name, &args, Duration::from_secs(20))
}

#[test]
fn guide_stateless_forward_and_onreply_route_run_unchanged() {
    if !have_sipp() {
        return;
    }
    let Some(host) = TestHost::create() else {
        if std::env::var("CI").is_ok() {
            panic!("cannot create a network namespace test host (needs root and iproute2)");
        }
        eprintln!("SKIPPED: cannot create a network namespace (needs root and iproute2)");
        return;
    };
    let dir = TestDir::new("seed-guide");
    let cfg = dir.write("guide.cfg", GUIDE_CFG);
    let out = Command::new(sipshard_bin())
        .arg("check")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut server = Sipshard::start(&cfg, &[]);

    for (code, reason) in [(200u16, "OK"), (404, "Not Found")] {
        let uas = uas_in_ns(&dir, &host.ns, code, reason);
        let r = uac(&dir, &format!("uac-{code}"), code);
        drop(uas);
        assert!(server.alive(), "sipshard exited");
        assert_eq!(
            (r.successful, r.failed, r.exit),
            (1, 0, 0),
            "call expecting {code}: {r:?}"
        );
    }
}
