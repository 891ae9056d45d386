//! `check` mode and diagnostics: positions in original files, collected
//! errors, the migration report.

#[path = "script_common.rs"]
mod common;

use common::*;
use sipshard_core::script::{
    check_file, check_str, compile_file, compile_str, Define, MigrationKind, Severity,
};

fn errors(text: &str) -> Vec<String> {
    match compile_str("t.cfg", text, &[]) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.to_string())
            .collect(),
    }
}

#[test]
fn error_inside_included_file_names_that_file() {
    let e = compile_file(&cfg_path("main_with_include.cfg"), &[]).unwrap_err();
    let errs: Vec<_> = e.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errs.len(), 1, "{e:?}");
    assert!(errs[0].pos.file.ends_with("inc/routes.cfg"), "{}", errs[0]);
    assert_eq!((errs[0].pos.line, errs[0].pos.col), (4, 2));
    assert!(errs[0]
        .message
        .contains("unknown function `this_is_not_a_function`"));
}

#[test]
fn positions_after_a_skipped_ifdef_block_are_original_lines() {
    let text = "#!ifdef NOPE\nline2\nline3\n#!endif\nrequest_route {\n  bogus();\n}\n";
    let e = errors(text);
    assert_eq!(e, vec!["t.cfg:6:3: error: unknown function `bogus`"]);
    // With the block taken, its garbage is reported at its own line.
    let e = compile_str("t.cfg", text, &[Define::parse("NOPE")]).unwrap_err();
    assert_eq!(e[0].pos.line, 2);
}

#[test]
fn include_cycles_are_reported() {
    let e = compile_file(&cfg_path("cycle_a.cfg"), &[]).unwrap_err();
    assert!(
        e.iter().any(|d| d.message.contains("include cycle")),
        "{e:?}"
    );
}

#[test]
fn several_errors_are_collected() {
    let e = errors(
        "listen=udp:127.0.0.1:5060\nloadmodule \"dialog.so\"\nloadmodule \"nosuch.so\"\nfrobnicate=1\nrequest_route {\n  dlg_manage();\n  append_hf(\"X: y\\r\\n\");\n  sl_send_reply(\"200\");\n  route(MISSING);\n  $ci = 1;\n}\n",
    );
    let want = [
        "t.cfg:2:1: error: module `dialog` is not supported by sipshard",
        "t.cfg:3:1: error: unknown module `nosuch` (from loadmodule \"nosuch.so\")",
        "t.cfg:4:1: error: unknown global parameter `frobnicate`",
        "t.cfg:6:3: error: function `dlg_manage` (module `dialog`) is not supported by sipshard",
        "t.cfg:7:3: error: function `append_hf` is in module `textops`, which is not loaded (add `loadmodule \"textops.so\"`)",
        "t.cfg:8:3: error: function `sl_send_reply` is in module `sl`, which is not loaded (add `loadmodule \"sl.so\"`)",
        "t.cfg:8:3: error: found 1 arguments to `sl_send_reply`, expected 2",
        "t.cfg:9:9: error: route(`MISSING`) calls a route that is not defined",
        "t.cfg:10:3: error: `$ci` is read-only (assignable: $ru $rU $rd $rp $du $var(...) $avp(...))",
    ];
    assert_eq!(e, want);
}

#[test]
fn route_types_are_checked_through_sub_routes() {
    let e = errors(
        "loadmodule \"sl.so\"\nlisten=udp:127.0.0.1:5060\nrequest_route { route(R); }\nreply_route { route(R); }\nroute[R] { sl_send_reply(\"404\", \"x\"); }\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "t.cfg:5:12: error: function `sl_send_reply` cannot be used in onreply_route"
        ),
        "{}",
        e[0]
    );
}

#[test]
fn syntax_error_says_found_and_expected() {
    let e = errors("request_route {\n  if ($rU == \"a\") {\n    exit\n  }\n}\n");
    assert_eq!(
        e,
        Vec::<String>::new(),
        "a closing brace may end the last statement"
    );
    let e = errors("request_route {\n  $var(a) = 1\n  exit;\n}\n");
    assert_eq!(e, vec!["t.cfg:3:3: error: found `exit`, expected `;`"]);
    let e = errors("request_route {\n  if ($var(a) == ) { exit; }\n}\n");
    assert_eq!(
        e,
        vec!["t.cfg:2:18: error: found `)`, expected an expression"]
    );
    let e = errors("request_route { x = 1; }");
    assert_eq!(e, vec!["t.cfg:1:17: error: found `x =`, expected a pseudo-variable to assign to (`$var(x) = ...`)"]);
    let e = errors("request_route { if (FLAG) exit; }");
    assert_eq!(e, vec!["t.cfg:1:21: error: found `FLAG`, expected an expression (is `FLAG` an undefined #!define?)"]);
}

#[test]
fn check_mode_collects_unsupported_features_once() {
    let r = check_str(
        "k.cfg",
        "loadmodule \"dialog.so\"\nloadmodule \"sl.so\"\nrequest_route {\n  dlg_manage();\n  if (!dlg_manage()) sl_reply_error();\n  $var(x) = $sht(a=>b);\n  set_dlg_profile(\"p\");\n}\n",
        &[],
    );
    let names: Vec<_> = r
        .migration
        .items
        .iter()
        .map(|i| (i.kind, i.name.as_str(), i.uses))
        .collect();
    assert_eq!(
        names,
        vec![
            (MigrationKind::Module, "dialog", 1),
            (MigrationKind::Function, "dlg_manage", 2),
            (MigrationKind::PseudoVariable, "$sht", 1),
            (MigrationKind::Function, "set_dlg_profile", 1),
        ]
    );
    assert_eq!(r.migration.items[1].first.line, 4);
    assert!(!r.is_clean());
    // The same config in run mode is rejected.
    assert!(compile_str("k.cfg", "loadmodule \"dialog.so\"\n", &[]).is_err());
}

#[test]
fn debian_default_config_checks_without_syntax_errors() {
    let path = std::path::Path::new("/etc/kamailio/kamailio.cfg");
    if !path.exists() {
        eprintln!("skipped: {} not installed", path.display());
        return;
    }
    let r = check_file(path, &[]);
    let errs: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(errs.is_empty(), "{errs:#?}");
    assert!(!r
        .migration
        .items
        .iter()
        .any(|i| i.name == "save" || i.name == "lookup"));
    assert!(!r.migration.items.iter().any(|i| i.name == "t_relay"));
}

/// Prints the check report of Debian's kamailio.cfg in the shape of
/// docs/migration-report.md:
/// `cargo test -p sipshard-core --test script_check -- --ignored --nocapture print_debian_report`
#[test]
#[ignore]
fn print_debian_report() {
    let path = std::path::Path::new("/etc/kamailio/kamailio.cfg");
    let r = check_file(path, &[]);
    println!("## Diagnostics\n\n```");
    for d in &r.diagnostics {
        println!("{d}");
    }
    println!("```\n\n## Migration report\n");
    print!("{}", r.migration);
}
