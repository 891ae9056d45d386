//! Runs `ipsec/tests/interop/esp_interop.py`: `sipshard esp` against scapy's
//! ESP and tshark's dissector. Without scapy the test is skipped with a loud
//! message, unless `CI` is set: then a missing scapy or tshark fails it.

use std::path::Path;
use std::process::Command;

#[test]
fn sipshard_esp_interoperates_with_scapy_and_tshark() {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ipsec/tests/interop/esp_interop.py");
    let has_scapy = Command::new("python3")
        .args(["-c", "import scapy.layers.ipsec, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_scapy {
        assert!(
            !ci,
            "CI is set but python3 with scapy and cryptography is missing: pip install scapy cryptography"
        );
        eprintln!(
            "\n*** SKIPPED esp_interop: python3 scapy/cryptography not installed \
             (pip install scapy cryptography; apt-get install -y tshark) ***\n"
        );
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(["--sipshard", env!("CARGO_BIN_EXE_sipshard")]);
    if ci {
        cmd.arg("--require-tshark");
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "interop script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
    if stdout.contains("SKIP") {
        eprintln!("\n*** esp_interop: tshark part SKIPPED (apt-get install -y tshark) ***\n");
    }
}
