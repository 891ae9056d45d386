//! The built-in default config (docs/examples/default.cfg, the file
//! `sipshard run` embeds) on the wire, run on free ports through its `-A`
//! defines (SIP_PORT, DBURL, MIN_EXPIRES): phones register with digest
//! auth and call each other by user name (the INVITE is challenged 407,
//! record-routed, reaches the callee's sipp; ACK and BYE follow the Route
//! set); an unknown user gets 404, a subscriber with no binding 480;
//! short bindings expire on time; `Contact: *` removes them all; two
//! contacts of one AOR ring in parallel (one answers, the other is
//! cancelled); a replayed Authorization is refused.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use sipshard_core::auth::Algorithm;

const HOST: &str = "127.0.0.1";

/// The `-A` defines that move the default config to `port` and `db`.
fn defines(port: u16, db: &std::path::Path, min_expires: u32) -> Vec<String> {
    [
        format!("SIP_PORT={port}"),
        format!("DBURL=\"text://{}\"", db.display()),
        format!("MIN_EXPIRES={min_expires}"),
    ]
    .iter()
    .flat_map(|d| ["-A".to_string(), d.clone()])
    .collect()
}

/// `sipshard subscriber ACTION -A ... ARGS` (no -f: the built-in config).
fn subscriber(defs: &[String], action: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sipshard_bin())
        .arg("subscriber")
        .arg(action)
        .args(defs)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// One test at a time: each runs a proxy and several sipp phones, and
/// timing assertions (expiry) should not compete with the others.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

struct Proxy {
    dir: TestDir,
    port: u16,
    sock: PathBuf,
    _server: Sipshard,
    // dropped last: the next test starts once this proxy is gone
    _one: std::sync::MutexGuard<'static, ()>,
}

/// Starts the built-in config (no -f) on a free port with its own tables,
/// subscribers alice, bob and carol.
fn start(name: &str, min_expires: u32) -> Proxy {
    let one = serial();
    let dir = TestDir::new(name);
    let db = dir.path("db");
    let port = free_port();
    let defs = defines(port, &db, min_expires);
    for (u, p) in [("alice", "a-pass"), ("bob", "b-pass"), ("carol", "c-pass")] {
        let (rc, out) = subscriber(&defs, "add", &[&format!("{u}@{HOST}"), p]);
        assert_eq!(rc, 0, "{out}");
    }
    let (rc, out) = subscriber(&defs, "list", &[]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let sock = ctl_socket(&dir);
    let mut cmd = std::process::Command::new(sipshard_bin());
    cmd.arg("run").args(&defs).arg("--ctl-socket").arg(&sock);
    let server = Sipshard::spawn(cmd);
    Proxy {
        dir,
        port,
        sock,
        _server: server,
        _one: one,
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

impl Proxy {
    fn target(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    /// Registers `user` (digest auth) with a Contact on `cport`.
    fn register(&self, name: &str, user: &str, pass: &str, cport: u16, expires: u32) -> SippResult {
        let args = strings(&[
            &self.target(),
            "-sf",
            &scenario("register_auth_exp.xml"),
            "-s",
            user,
            "-au",
            user,
            "-ap",
            pass,
            "-set",
            "cport",
            &cport.to_string(),
            "-set",
            "exp",
            &expires.to_string(),
            "-i",
            HOST,
            "-p",
            &free_port().to_string(),
            "-m",
            "1",
            "-t",
            "u1",
        ]);
        run_sipp(&self.dir, name, &args, Duration::from_secs(20))
    }

    /// `Contact: *`, `Expires: 0` for `user`.
    fn unregister_all(&self, user: &str, pass: &str) -> SippResult {
        let args = strings(&[
            &self.target(),
            "-sf",
            &scenario("register_auth_star.xml"),
            "-s",
            user,
            "-au",
            user,
            "-ap",
            pass,
            "-i",
            HOST,
            "-p",
            &free_port().to_string(),
            "-m",
            "1",
            "-t",
            "u1",
        ]);
        run_sipp(&self.dir, "unregister-all", &args, Duration::from_secs(20))
    }

    /// `calls` authenticated calls from `caller` to `callee`.
    fn call(&self, name: &str, caller: &str, pass: &str, callee: &str, calls: u64) -> SippResult {
        let args = strings(&[
            &self.target(),
            "-sf",
            &scenario("uac_auth_call.xml"),
            "-s",
            callee,
            "-set",
            "caller",
            caller,
            "-au",
            caller,
            "-ap",
            pass,
            "-i",
            HOST,
            "-p",
            &free_port().to_string(),
            "-m",
            &calls.to_string(),
            "-r",
            "20",
            "-l",
            "20",
            "-t",
            "u1",
        ]);
        run_sipp(&self.dir, name, &args, Duration::from_secs(60))
    }

    /// A sipp phone on `port` running `sc` for `calls` calls.
    fn phone(&self, name: &str, port: u16, sc: &str, calls: u64) -> JoinHandle<SippResult> {
        let args = strings(&[
            "-sf",
            &scenario(sc),
            "-i",
            HOST,
            "-p",
            &port.to_string(),
            "-m",
            &calls.to_string(),
            "-t",
            "u1",
        ]);
        let dir = TestDir(self.dir.0.clone());
        let name = name.to_string();
        let h = std::thread::spawn(move || {
            let r = run_sipp(&dir, &name, &args, Duration::from_secs(60));
            std::mem::forget(dir);
            r
        });
        std::thread::sleep(Duration::from_millis(300));
        h
    }

    /// The contacts `ul.lookup` lists for `user` (empty when none).
    fn contacts(&self, user: &str) -> String {
        let (code, out, err) = ctl(&self.sock, &["ul.lookup", "location", user]);
        if code == 0 {
            out
        } else {
            format!("(none: {err})")
        }
    }

    /// The status of a request sent from outside the domain (no auth).
    fn status_from_outside(&self, method: &str, user: &str, id: &str) -> Option<u16> {
        let user = if user.is_empty() {
            String::new()
        } else {
            format!("{user}@")
        };
        let msg = format!(
            "{method} sip:{user}{HOST}:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {HOST}:9;branch=z9hG4bK-{id};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:probe@outside.example>;tag=probe\r\n\
             To: <sip:{user}{HOST}>\r\n\
             Call-ID: {id}\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n",
            port = self.port
        );
        let to: SocketAddr = self.target().parse().unwrap();
        udp_exchange(to, msg.as_bytes(), Duration::from_secs(5))
            .as_deref()
            .and_then(status_of)
    }
}

#[test]
fn phones_register_with_auth_and_call_each_other_by_user_name() {
    if !have_sipp() {
        return;
    }
    let p = start("default-calls", 60);
    let (alice_port, bob_port) = (free_port(), free_port());
    let r = p.register("reg-alice", "alice", "a-pass", alice_port, 600);
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    let r = p.register("reg-bob", "bob", "b-pass", bob_port, 600);
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    assert!(p
        .contacts("alice")
        .contains(&format!("sip:alice@{HOST}:{alice_port}")));

    let calls = 20;
    // alice calls bob: bob's phone gets the record-routed INVITE, the ACK
    // and the BYE through the proxy
    let bob = p.phone("bob-phone", bob_port, "uas_via_proxy.xml", calls);
    let r = p.call("alice-calls-bob", "alice", "a-pass", "bob", calls);
    let b = bob.join().unwrap();
    assert_eq!((r.successful, r.failed), (calls, 0), "caller: {r:?}");
    assert_eq!((b.successful, b.failed), (calls, 0), "callee: {b:?}");
    // and bob calls alice
    let alice = p.phone("alice-phone", alice_port, "uas_via_proxy.xml", calls);
    let r = p.call("bob-calls-alice", "bob", "b-pass", "alice", calls);
    let a = alice.join().unwrap();
    assert_eq!((r.successful, r.failed), (calls, 0), "caller: {r:?}");
    assert_eq!((a.successful, a.failed), (calls, 0), "callee: {a:?}");

    // a wrong password: the call never gets past the 407
    let r = p.call("alice-wrong-pass", "alice", "nope", "bob", 1);
    assert_eq!(r.successful, 0, "{r:?}");

    // unknown user 404; a subscriber that is not registered 480
    assert_eq!(
        p.status_from_outside("OPTIONS", "nobody", "c-nobody"),
        Some(404)
    );
    assert_eq!(
        p.status_from_outside("OPTIONS", "carol", "c-carol"),
        Some(480)
    );
    // no user part: 484; OPTIONS to the proxy itself: keepalive 200
    assert_eq!(p.status_from_outside("MESSAGE", "", "c-nouser"), Some(484));
    let to: SocketAddr = p.target().parse().unwrap();
    let resp = udp_exchange(to, &options_to(to, "keepalive"), Duration::from_secs(2));
    assert_eq!(resp.as_deref().and_then(status_of), Some(200));
}

#[test]
fn short_bindings_expire_on_time_and_contact_star_removes_all() {
    if !have_sipp() {
        return;
    }
    let p = start("default-expiry", 1);
    let (c1, c2, c3) = (free_port(), free_port(), free_port());
    let r = p.register("reg-short", "alice", "a-pass", c1, 2);
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    let registered = Instant::now();
    assert!(p.contacts("alice").contains(&format!(":{c1}")));
    // gone within expires + the 1 s timer (and a little slack)
    let mut gone = None;
    while registered.elapsed() < Duration::from_secs(8) {
        if !p.contacts("alice").contains(&format!(":{c1}")) {
            gone = Some(registered.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone = gone.expect("the 2 s binding is still there after 8 s");
    // expiry times are whole seconds (as in Kamailio): a 2 s binding
    // lives between 1 and 2 s after the 200, plus the timer's second
    assert!(gone >= Duration::from_millis(900), "expired after {gone:?}");
    assert_eq!(
        p.status_from_outside("OPTIONS", "alice", "exp-2"),
        Some(480)
    );

    // two bindings, then `Contact: *` with `Expires: 0` removes both
    for (i, c) in [c2, c3].into_iter().enumerate() {
        let r = p.register(&format!("reg-{i}"), "alice", "a-pass", c, 600);
        assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    }
    let both = p.contacts("alice");
    assert!(
        both.contains(&format!(":{c2}")) && both.contains(&format!(":{c3}")),
        "{both}"
    );
    let r = p.unregister_all("alice", "a-pass");
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    let none = p.contacts("alice");
    assert!(
        !none.contains(&format!(":{c2}")) && !none.contains(&format!(":{c3}")),
        "{none}"
    );
    assert_eq!(p.status_from_outside("OPTIONS", "alice", "star"), Some(480));
}

#[test]
fn two_contacts_of_one_aor_ring_in_parallel() {
    if !have_sipp() {
        return;
    }
    let p = start("default-fork", 60);
    let (fast, slow) = (free_port(), free_port());
    for (i, c) in [fast, slow].into_iter().enumerate() {
        let r = p.register(&format!("reg-{i}"), "bob", "b-pass", c, 600);
        assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    }
    let calls = 10;
    let slow_uas = p.phone("slow", slow, "uas_cancel.xml", calls);
    let fast_uas = p.phone("fast", fast, "uas_via_proxy.xml", calls);
    let r = p.call("alice-calls-bob", "alice", "a-pass", "bob", calls);
    let f = fast_uas.join().unwrap();
    let s = slow_uas.join().unwrap();
    assert_eq!((r.successful, r.failed), (calls, 0), "caller: {r:?}");
    assert_eq!(
        (f.successful, f.failed),
        (calls, 0),
        "answering phone: {f:?}"
    );
    assert_eq!(
        (s.successful, s.failed),
        (calls, 0),
        "cancelled phone: {s:?}"
    );
}

/// Reads `name="value"` out of a challenge header.
fn param(hdr: &str, name: &str) -> String {
    let at = hdr.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
    hdr[at..].split('"').next().unwrap().to_string()
}

#[test]
fn a_replayed_authorization_is_refused() {
    let p = start("default-replay", 60);
    let sock = UdpSocket::bind((HOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let me = sock.local_addr().unwrap().port();
    let to: SocketAddr = p.target().parse().unwrap();
    let uri = format!("sip:{HOST}:{}", p.port);
    let register = |cseq: u32, auth: &str| -> (u16, String) {
        let msg = format!(
            "REGISTER {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {HOST}:{me};branch=z9hG4bK-replay{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@{HOST}>;tag=replay\r\n\
             To: <sip:alice@{HOST}>\r\n\
             Call-ID: replay-test\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:alice@{HOST}:{me}>\r\n\
             {auth}Expires: 600\r\n\
             Content-Length: 0\r\n\r\n"
        );
        sock.send_to(msg.as_bytes(), to).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("no reply");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        (status_of(text.as_bytes()).unwrap(), text)
    };
    let (code, text) = register(1, "");
    assert_eq!(code, 401, "{text}");
    let www = text
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:"))
        .expect("challenge");
    let (realm, nonce) = (param(www, "realm"), param(www, "nonce"));
    let md5 = Algorithm::Md5;
    let ha1 = md5.hash_hex(&[b"alice", realm.as_bytes(), b"a-pass"]);
    let ha2 = md5.hash_hex(&[b"REGISTER", uri.as_bytes()]);
    let resp = md5.hash_hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]);
    let auth = format!(
        "Authorization: Digest username=\"alice\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5\r\n"
    );
    let (code, text) = register(2, &auth);
    assert_eq!(code, 200, "{text}");
    // the same Authorization again (a new transaction): refused
    let (code, text) = register(3, &auth);
    assert!(code == 401 || code == 403, "{text}");
}
