#!/usr/bin/env bash
# The test command: installs what the tests need, then runs formatting,
# lint and every test (unit, torture, fuzz-corpus replay, integration tests
# that start sipshard and drive it with sipp, ESP interop with scapy and
# tshark, the benchmark harness in smoke mode).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== core does not depend on a runtime"
if cargo tree -e normal -p sipshard-core | grep -Eq 'glommio|tokio'; then
  echo "sipshard-core must stay sans-IO (no glommio, no tokio)"; exit 1
fi
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --release --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite: the sum over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
