#!/usr/bin/env python3
"""Interop of `sipshard esp` with scapy's ESP (an implementation no one here
wrote) and tshark's ESP dissector.

For every integrity x encryption pair, IPv4 and IPv6, plain and RFC 3948
UDP-encapsulated ESP:
  * what scapy encrypts, `sipshard esp decrypt` decrypts to the same bytes
    (whole packets, and --esp-only payloads);
  * what `sipshard esp encrypt` builds, scapy decrypts to the original;
  * tampered ICV, tampered ciphertext, wrong SPI, a replay and a too-old
    sequence number are rejected with the documented exit status.
Then tshark dissects sipshard's output as valid ESP (ICV good) carrying SIP.

usage: esp_interop.py --sipshard PATH [--require-tshark]
Exit status: 0 all passed, 1 a check failed, 77 scapy missing.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

try:
    from scapy.all import IP, IPv6, UDP, TCP, Raw, Ether, wrpcap
    from scapy.layers.ipsec import ESP, SecurityAssociation, IPSecIntegrityError
except ImportError:  # pragma: no cover - reported to the Rust driver
    print("scapy is not installed: pip install scapy cryptography", file=sys.stderr)
    sys.exit(77)

# TS 35.208 Milenage test set 1.
IK = bytes.fromhex("f769bcd751044604127672711c6d3441")
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")

ALGS = {"hmac-sha-1-96": "HMAC-SHA1-96", "hmac-md5-96": "HMAC-MD5-96"}
EALGS = {"aes-cbc": "AES-CBC", "des-ede3-cbc": "3DES", "null": "NULL"}
IV_LEN = {"aes-cbc": 16, "des-ede3-cbc": 8, "null": 0}
TSHARK_ALG = {"hmac-sha-1-96": "HMAC-SHA-1-96 [RFC2404]", "hmac-md5-96": "HMAC-MD5-96 [RFC2403]"}
TSHARK_EALG = {"aes-cbc": "AES-CBC [RFC3602]", "des-ede3-cbc": "TripleDES-CBC [RFC2451]", "null": "NULL"}

EXIT_REJECTED = 2
EXIT_WRONG_SPI = 3

SIP = (
    b"REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.201.0.2:31800;branch=z9hG4bK-interop\r\n"
    b"From: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;tag=1\r\n"
    b"To: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>\r\n"
    b"Call-ID: interop-1\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n"
)

failures = []
passes = 0


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL", what, flush=True)


def esp_keys(alg, ealg):
    auth = IK + b"\x00" * 4 if alg == "hmac-sha-1-96" else IK
    enc = {"aes-cbc": CK, "des-ede3-cbc": CK + CK[:8], "null": b""}[ealg]
    return auth, enc


def scapy_sa(spi, alg, ealg, encap):
    auth, enc = esp_keys(alg, ealg)
    return SecurityAssociation(
        ESP, spi=spi, crypt_algo=EALGS[ealg], crypt_key=enc or None,
        auth_algo=ALGS[alg], auth_key=auth,
        nat_t_header=UDP(sport=4500, dport=4500) if encap else None,
    )


class Sipshard:
    def __init__(self, path):
        self.path = path

    def run(self, verb, spi, alg, ealg, *extra, ims_keys=True):
        cmd = [self.path, "esp", verb, "--spi", hex(spi), "--alg", alg, "--ealg", ealg]
        if ims_keys:
            cmd += ["--ik", IK.hex()]
            if ealg != "null":
                cmd += ["--ck", CK.hex()]
        else:
            auth, enc = esp_keys(alg, ealg)
            cmd += ["--auth-key", auth.hex()]
            if enc:
                cmd += ["--enc-key", enc.hex()]
        cmd += list(extra)
        p = subprocess.run(cmd, capture_output=True, text=True)
        return p.returncode, p.stdout.split(), p.stderr.strip()


def inner_packet(version, transport, size=0, sport=31800):
    body = SIP + b"x" * size
    if version == 4:
        ip = IP(src="10.201.0.2", dst="10.201.0.1", id=7)
    else:
        ip = IPv6(src="fd00:201::2", dst="fd00:201::1")
    l4 = UDP(sport=sport, dport=6100) if transport == "udp" else TCP(sport=sport, dport=6100, flags="PA", seq=1, ack=1)
    return ip.__class__(bytes(ip / l4 / Raw(body)))


def esp_part(wire, encap):
    """The bytes from the SPI on (or from the UDP payload with encap)."""
    pkt = wire.__class__(bytes(wire))
    if encap:
        return bytes(pkt[UDP].payload)
    return bytes(pkt[ESP])


def case(sip, alg, ealg, version, encap, transport):
    name = f"{alg}/{ealg}/v{version}/{'udp-encap' if encap else 'esp'}/{transport}"
    spi = 0x1001
    sa = scapy_sa(spi, alg, ealg, encap)
    inner = inner_packet(version, transport, size=37)
    encap_flag = ["--udp-encap"] if encap else []
    iv = bytes(range(IV_LEN[ealg]))

    # scapy encrypts -> sipshard decrypts to the same bytes.
    wire = sa.encrypt(inner, seq_num=1, iv=iv or None)
    rc, out, err = sip.run("decrypt", spi, alg, ealg, *encap_flag, bytes(wire).hex())
    check(rc == 0 and out == [bytes(inner).hex()], f"{name}: scapy->sipshard decrypt ({rc} {err})")

    # --esp-only gives the L4 segment, with the ESP keys instead of IK/CK.
    rc, out, err = sip.run("decrypt", spi, alg, ealg, "--esp-only", *encap_flag,
                           esp_part(wire, encap).hex(), ims_keys=False)
    l4 = bytes(inner.payload)
    check(rc == 0 and out == [l4.hex()], f"{name}: scapy->sipshard --esp-only ({rc} {err})")

    # sipshard encrypts -> scapy decrypts to the original.
    rc, out, err = sip.run("encrypt", spi, alg, ealg, "--seq", "9", *encap_flag,
                           *(["--iv", iv.hex()] if iv else []), bytes(inner).hex())
    check(rc == 0 and len(out) == 1, f"{name}: sipshard encrypt ({rc} {err})")
    if rc != 0:
        return
    ours = bytes.fromhex(out[0])
    outer = inner.__class__(ours)
    check(ESP in outer and outer[ESP].seq == 9 and outer[ESP].spi == spi, f"{name}: ESP header of sipshard output")
    try:
        back = sa.decrypt(outer)
        check(bytes(back) == bytes(inner), f"{name}: sipshard->scapy decrypt gives the original")
    except Exception as e:  # noqa: BLE001 - any scapy failure is a failure here
        check(False, f"{name}: sipshard->scapy decrypt raised {e!r}")
    # Byte-identical to scapy with the same IV and sequence number.
    if not encap or version == 4:
        same = sa.encrypt(inner, seq_num=9, iv=iv or None)
        check(bytes(same) == ours, f"{name}: sipshard output is byte-identical to scapy's")

    # scapy rejects a tampered sipshard packet too.
    tampered = bytearray(ours)
    tampered[-1] ^= 0x01
    try:
        sa.decrypt(inner.__class__(bytes(tampered)))
        check(False, f"{name}: scapy accepted a tampered sipshard ICV")
    except IPSecIntegrityError:
        check(True, "")

    # Rejections by sipshard.
    bad_icv = bytearray(wire_bytes := bytes(wire))
    bad_icv[-1] ^= 0x80
    rc, _, err = sip.run("decrypt", spi, alg, ealg, *encap_flag, bytes(bad_icv).hex())
    check(rc == EXIT_REJECTED and "ICV" in err, f"{name}: tampered ICV rejected ({rc} {err})")
    bad_ct = bytearray(wire_bytes)
    bad_ct[len(bad_ct) - 20] ^= 0x04
    rc, _, err = sip.run("decrypt", spi, alg, ealg, *encap_flag, bytes(bad_ct).hex())
    check(rc == EXIT_REJECTED, f"{name}: tampered ciphertext rejected ({rc} {err})")
    rc, _, err = sip.run("decrypt", spi + 1, alg, ealg, *encap_flag, wire_bytes.hex())
    check(rc == EXIT_WRONG_SPI and "SPI" in err, f"{name}: wrong SPI rejected ({rc} {err})")
    rc, out, err = sip.run("decrypt", spi, alg, ealg, *encap_flag, wire_bytes.hex(), wire_bytes.hex())
    check(rc == EXIT_REJECTED and len(out) == 1 and "replay" in err, f"{name}: replay rejected ({rc} {err})")
    new = sa.encrypt(inner, seq_num=300, iv=iv or None)
    old = sa.encrypt(inner, seq_num=100, iv=iv or None)
    rc, out, err = sip.run("decrypt", spi, alg, ealg, *encap_flag, bytes(new).hex(), bytes(old).hex())
    check(rc == EXIT_REJECTED and len(out) == 1 and "too old" in err, f"{name}: too-old rejected ({rc} {err})")
    print("ok  ", name, flush=True)


def tshark_check(sip, require):
    tshark = shutil.which("tshark")
    if tshark is None:
        msg = "tshark is not installed: apt-get install -y tshark"
        if require:
            check(False, msg)
        else:
            print("SKIP", msg, flush=True)
        return
    frames, sas, expect = [], [], []
    spi = 0x2000
    for alg in ALGS:
        for ealg in EALGS:
            for version in (4, 6):
                for transport in ("udp", "tcp"):
                    spi += 1
                    # A port per packet: tshark must not take them for one TCP stream.
                    inner = inner_packet(version, transport, sport=30000 + spi % 1000)
                    iv = bytes(range(IV_LEN[ealg]))
                    rc, out, err = sip.run("encrypt", spi, alg, ealg, "--seq", "1",
                                           *(["--iv", iv.hex()] if iv else []), bytes(inner).hex())
                    check(rc == 0, f"tshark input {alg}/{ealg}: encrypt ({err})")
                    if rc != 0:
                        continue
                    ip = inner.__class__(bytes.fromhex(out[0]))
                    frames.append(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / ip)
                    auth, enc = esp_keys(alg, ealg)
                    proto = "IPv4" if version == 4 else "IPv6"
                    sas.append(f'"{proto}","*","*","0x{spi:08x}","{TSHARK_EALG[ealg]}",'
                               f'"0x{enc.hex()}","{TSHARK_ALG[alg]}","0x{auth.hex()}"')
                    expect.append(f"{alg}/{ealg}/v{version}/{transport}")
    with tempfile.TemporaryDirectory() as d:
        pcap = os.path.join(d, "sipshard-esp.pcap")
        wrpcap(pcap, frames)
        cmd = [tshark, "-r", pcap,
               "-o", "esp.enable_encryption_decode:TRUE",
               "-o", "esp.enable_authentication_check:TRUE"]
        for s in sas:
            cmd += ["-o", f"uat:esp_sa:{s}"]
        # TCP segments carrying SIP on a non-5060 port: let SIP claim 6100.
        cmd += ["-d", "tcp.port==6100,sip", "-d", "udp.port==6100,sip"]
        cmd += ["-T", "fields", "-E", "separator=;", "-e", "frame.number", "-e", "esp.spi",
                "-e", "esp.icv_good", "-e", "esp.icv_bad", "-e", "sip.Method", "-e", "esp.pad_len"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        check(p.returncode == 0, f"tshark ran ({p.stderr.strip()})")
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        check(len(lines) == len(expect), f"tshark printed {len(lines)} frames, expected {len(expect)}")
        for line, name in zip(lines, expect):
            f = line.split(";")
            good = f[2] == "1" and f[3] in ("", "0") and "REGISTER" in f[4]
            check(good, f"tshark {name}: ICV good and SIP REGISTER dissected (got {f})")
            if good:
                print("ok   tshark", name, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sipshard", required=True)
    ap.add_argument("--require-tshark", action="store_true")
    args = ap.parse_args()
    sip = Sipshard(args.sipshard)
    for alg in ALGS:
        for ealg in EALGS:
            for version in (4, 6):
                for encap in (False, True):
                    for transport in ("udp", "tcp"):
                        case(sip, alg, ealg, version, encap, transport)
    tshark_check(sip, args.require_tshark)
    print(f"{passes} checks passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
