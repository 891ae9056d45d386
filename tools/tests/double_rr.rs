//! Double Record-Routing on the wire, side by side with Kamailio 5.6: a
//! sipp caller over UDP reaches a sipp callee over TCP through the proxy
//! (`add_rr_param(";p=v")`, `record_route()`, `$du` with
//! `;transport=tcp`, `t_relay()`; in dialog `is_direction()` and
//! `check_route_param()` written into an `X-Dir` header, then
//! `loose_route()`), the same config run by sipshard and by kamailio, the
//! same sipp scenarios.
//!
//! The callee checks the INVITE carries two Record-Routes exactly as
//! Kamailio writes them (the TCP socket's on top, the UDP one below, each
//! `;r2=on;lr;ftag=..;p=v`, then the proxy's TCP Via) and the ACK arrives
//! with both Route entries removed and `X-Dir: down p=v`; it hangs up over
//! TCP along that route set, and the caller checks the BYE reaches it over
//! UDP with no Route header left, `X-Dir: up p=v`, and the proxy's UDP Via
//! above the callee's TCP one.

mod common;

use std::time::Duration;

use common::side_by_side::*;
use common::*;

const HOST: &str = "127.0.0.1";

fn config(port: u16, callee: u16) -> String {
    format!(
        r#"#!KAMAILIO
debug=1
children=1
listen=udp:{HOST}:{port}
listen=tcp:{HOST}:{port}
loadmodule "pv.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {{
    if (is_method("OPTIONS")) {{
        sl_send_reply("200", "alive");
        exit;
    }}
    if (has_totag()) {{
        $var(d) = "up";
        if (is_direction("downstream")) {{
            $var(d) = "down";
        }}
        if (check_route_param("p=v")) {{
            $var(d) = $var(d) + " p=v";
        }}
        append_hf("X-Dir: $var(d)\r\n");
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (!is_method("INVITE")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    add_rr_param(";p=v");
    record_route();
    $du = "sip:{HOST}:{callee};transport=tcp";
    t_relay();
}}
"#
    )
}

/// Writes scenario `name` with the proxy's and the callee's ports in.
fn scenario_for(dir: &TestDir, name: &str, proxy: u16, callee: u16) -> String {
    let text = std::fs::read_to_string(scenario(name))
        .unwrap()
        .replace("[proxy_port]", &proxy.to_string())
        .replace("[callee_port]", &callee.to_string());
    dir.write(name, &text).to_str().unwrap().to_string()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn udp_caller_tcp_callee_two_record_routes_and_bye_back() {
    on_each_server("double-rr", |server, dir| {
        let proxy = free_port();
        let callee = free_tcp_port();
        let mut p = start(server, dir, proxy, &config(proxy, callee));
        let uas = scenario_for(dir, "uas_double_rr.xml", proxy, callee);
        let uac = scenario_for(dir, "uac_double_rr.xml", proxy, callee);
        let callee_args = args(&[
            "-sf",
            &uas,
            "-t",
            "t1",
            "-i",
            HOST,
            "-p",
            &callee.to_string(),
            "-m",
            "1",
        ]);
        // The test's TestDir removes the directory; this copy must not.
        let uas_dir = std::mem::ManuallyDrop::new(TestDir(dir.0.clone()));
        let uas_run = std::thread::spawn(move || {
            run_sipp(&uas_dir, "callee", &callee_args, Duration::from_secs(20))
        });
        std::thread::sleep(Duration::from_millis(300));
        let caller = run_sipp(
            dir,
            "caller",
            &args(&[
                "-sf",
                &uac,
                &format!("{HOST}:{proxy}"),
                "-s",
                "bob",
                "-i",
                HOST,
                "-p",
                &free_port().to_string(),
                "-m",
                "1",
            ]),
            Duration::from_secs(20),
        );
        let callee_r = uas_run.join().unwrap();
        assert!(p.alive(), "{server:?} died");
        assert_eq!(
            (callee_r.successful, callee_r.failed),
            (1, 0),
            "{server:?}: the callee saw another INVITE/ACK or its BYE failed: {callee_r:?}"
        );
        assert_eq!(
            (caller.successful, caller.failed),
            (1, 0),
            "{server:?}: the caller's call or the BYE it got was wrong: {caller:?}"
        );
    });
}
