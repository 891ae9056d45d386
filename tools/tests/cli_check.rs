//! `sipshard check` and `sipshard run` on configs with problems: every
//! problem named by file:line:column, a non-zero exit, `-A` defines, and
//! the migration report for Kamailio's own default config.

mod common;

use std::process::Command;

use common::*;

fn check(cfg: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(sipshard_bin())
        .arg("check")
        .arg("-f")
        .arg(cfg)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_error_is_listed_with_file_line_and_column() {
    let dir = TestDir::new("check-errors");
    let cfg = dir.write(
        "bad.cfg",
        "loadmodule \"sl.so\"\n\
         request_route {\n\
         \tsl_send_reply(\"200\", \"OK\")\n\
         \tif ($rm == ) { exit; }\n\
         \tno_such_function();\n\
         }\n",
    );
    let (code, text) = check(&cfg, &[]);
    assert_ne!(code, 0, "{text}");
    let name = cfg.display().to_string();
    // The missing `;` after line 3 is found where the next token starts.
    assert!(text.contains(&format!("{name}:4:")), "{text}");
    assert!(text.contains("expected"), "{text}");
    assert!(text.contains("no_such_function"), "{text}");
}

#[test]
fn a_module_sipshard_lacks_is_named_with_its_line() {
    let dir = TestDir::new("check-module");
    let cfg = dir.write(
        "mod.cfg",
        "loadmodule \"sl.so\"\nloadmodule \"nosuchmod.so\"\nrequest_route { exit; }\n",
    );
    let (code, text) = check(&cfg, &[]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{}:2:", cfg.display())) && text.contains("nosuchmod"),
        "{text}"
    );
    // `run` refuses the same config with the same message.
    let out = Command::new(sipshard_bin())
        .arg("run")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchmod"));
}

#[test]
fn defines_from_the_command_line_select_branches() {
    let dir = TestDir::new("check-define");
    let cfg = dir.write(
        "def.cfg",
        "loadmodule \"sl.so\"\n\
         #!ifdef WITH_BROKEN\n\
         request_route { broken syntax here }\n\
         #!else\n\
         request_route { sl_send_reply(\"200\", \"OK\"); }\n\
         #!endif\n",
    );
    assert_eq!(check(&cfg, &[]).0, 0);
    let (code, text) = check(&cfg, &["-A", "WITH_BROKEN"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains(&format!("{}:3:", cfg.display())), "{text}");
}

#[test]
fn the_built_in_default_config_checks_clean() {
    let cfg = format!(
        "{}/../docs/examples/default.cfg",
        env!("CARGO_MANIFEST_DIR")
    );
    let (code, text) = check(std::path::Path::new(&cfg), &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn migration_report_for_debians_default_kamailio_cfg() {
    let path = std::path::Path::new("/etc/kamailio/kamailio.cfg");
    if !path.exists() {
        if std::env::var("CI").is_ok() {
            panic!("kamailio is not installed (apt-get install -y kamailio); CI must have it");
        }
        eprintln!("SKIPPED: /etc/kamailio/kamailio.cfg not found");
        return;
    }
    let (code, text) = check(path, &[]);
    // Until tmx exists the report is not empty, so check fails; each
    // unsupported function is listed once, with its line.
    assert_ne!(code, 0, "{text}");
    let pre: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("`t_precheck_trans`"))
        .collect();
    assert_eq!(pre.len(), 1, "{text}");
    assert!(pre[0].contains("/etc/kamailio/kamailio.cfg:"), "{text}");
    // registrar, usrloc, auth and auth_db are provided now.
    assert!(
        !text.contains("`save`") && !text.contains("`www_authorize`"),
        "{text}"
    );
    // tm (t_relay, t_on_reply) and rr are provided now.
    assert!(!text.contains("`t_relay`"), "{text}");
    assert!(
        !text.contains(": error:"),
        "the default config has no syntax error:\n{text}"
    );
}
