#!/usr/bin/env bash
# Installs what the test suite talks to: sipp (sip-tester), Kamailio for the
# side-by-side checks, tshark and scapy for the ESP interop tests, iproute2
# for the network-namespace test hosts. Idempotent; needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=()
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || need_apt+=(kamailio)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${need_apt[@]}"
fi

if ! python3 -c 'import scapy, cryptography, prometheus_client' >/dev/null 2>&1; then
  echo "installing: scapy cryptography prometheus_client (pip)"
  python3 -m pip install -q scapy cryptography prometheus_client
fi
