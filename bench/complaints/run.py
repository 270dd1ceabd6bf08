"""Benchmark of the complaints channel's costs, with the production parameters.

    .venv/bin/python -m bench.complaints.run [--browser] [--json]

Measures, on this machine:
- server side (PyNaCl): Argon2id receipt derivation at the default 3 passes / 64 MiB (what the no-JavaScript
  path pays per receipt), sealing and opening a complaint of 1 MB and of the 20 MB limit, a key file unlock
  at the default 256 MiB;
- the proof of work a browser must solve at the default 18 bits, in Python (a lower bound for attackers);
- with --browser, the same in headless Chromium with the vendored libsodium.js: Argon2id, sealing 20 MB, and
  solving the proof of work (what a complainant waits for).
Goals (not asserted, reported): receipt derivation under 1 s in the browser, proof of work under 5 s, sealing
the largest complaint under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from assay.complaints import crypto, keyfile
from assay.complaints.abuse import ProofOfWork, solve

STATIC = Path(__file__).parents[2] / "assay" / "web" / "static" / "complaints"


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def server_side() -> dict[str, float]:
    params = crypto.KdfParams(salt=os.urandom(16))
    _, entropy = crypto.new_receipt()
    private, public = crypto.generate_body_key()
    out = {"argon2id_receipt_s": timed(lambda: crypto.derive_receipt_keys(entropy, params))}
    for mb in (1, 20):
        blob = crypto.pack_complaint(
            crypto.ComplaintContent(
                fields={"what": "x"},
                attachments=(crypto.Attachment("a.bin", "application/octet-stream", os.urandom(mb * 1_000_000)),),
            )
        )
        sealed = crypto.seal(blob, public)
        out[f"seal_{mb}mb_s"] = timed(lambda b=blob: crypto.seal(b, public))
        out[f"open_and_parse_{mb}mb_s"] = timed(
            lambda s=sealed: crypto.unpack_complaint(crypto.open_sealed(s, private))
        )
        out[f"padding_overhead_{mb}mb_pct"] = 100.0 * (len(sealed) - len(blob)) / len(blob)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-key-{os.getpid()}.json"
    keyfile.write_key_file(path, private, "a long passphrase for the benchmark")
    out["key_file_unlock_256mib_s"] = timed(
        lambda: keyfile.load_key_file(path, "a long passphrase for the benchmark"), repeat=1
    )
    path.unlink()
    pow18 = ProofOfWork(18)
    out["pow_18_bits_python_s"] = timed(lambda: solve(pow18.challenge()), repeat=5)
    return out


def browser_side() -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        for name in (
            "vendor/libsodium.js-0.8.4/libsodium-sumo.js",
            "vendor/libsodium.js-0.8.4/libsodium-wrappers.js",
            "complaints.js",
        ):
            page.add_script_tag(path=str(STATIC / name))
        page.wait_for_function("window.sodium && window.assayComplaints")
        result = page.evaluate(
            """async () => {
                const s = await window.assayComplaints.sodiumReady();
                const A = window.assayComplaints;
                const out = {};
                let t = performance.now();
                A.deriveKeys(s, s.randombytes_buf(16), {salt: s.to_base64(s.randombytes_buf(16),
                    s.base64_variants.URLSAFE_NO_PADDING), opslimit: "3", memlimit: String(64 * 1024 * 1024)});
                out.argon2id_receipt_s = (performance.now() - t) / 1000;
                const kp = s.crypto_box_keypair();
                const big = s.randombytes_buf(20000000);
                t = performance.now();
                A.seal(s, A.packComplaint(s, "complaint", "x", {what: "x"},
                    [{name: "a", type: "application/octet-stream", data: big, metadata: "as-is"}]), kp.publicKey);
                out.pack_and_seal_20mb_s = (performance.now() - t) / 1000;
                // The proof of work as the page solves it (18 bits), without the network round trip.
                const challenge = s.randombytes_buf(41); challenge[24] = 18;
                const buf = new Uint8Array(49); buf.set(challenge); const view = new DataView(buf.buffer);
                t = performance.now();
                for (let n = 0; ; n++) {
                    view.setUint32(41, Math.floor(n / 4294967296)); view.setUint32(45, n >>> 0);
                    const h = s.crypto_hash_sha256(buf);
                    if (h[0] === 0 && h[1] === 0 && (h[2] >> 6) === 0) break;
                }
                out.pow_18_bits_browser_s = (performance.now() - t) / 1000;
                return out;
            }"""
        )
        browser.close()
    return {f"browser_{k}": v for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = server_side()
    if args.browser:
        figures.update(browser_side())
    RESULTS.write_text(markdown(figures))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for k, v in figures.items():
        print(f"{k:<36} {v:10.3f}")
    print(f"wrote {RESULTS}")


RESULTS = Path(__file__).parent / "RESULTS.md"


def markdown(figures: dict[str, float]) -> str:
    import platform
    from datetime import UTC, datetime

    lines = [
        "# Complaints benchmark results",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python -m bench.complaints.run"
        + (" --browser`" if any(k.startswith("browser_") for k in figures) else "`")
        + f": {os.cpu_count()} cores, Python {platform.python_version()}, load average (1 min) "
        f"{os.getloadavg()[0]:.1f} at the end. Medians; production parameters (Argon2id 3 passes / 64 MiB for "
        "receipts, 256 MiB for key files, an 18-bit proof of work). See docs/complaints.md for what each costs "
        "whom.",
        "",
        "| figure | value |",
        "|---|---:|",
    ]
    for k, v in figures.items():
        unit = "%" if k.endswith("_pct") else "s"
        lines.append(f"| {k} | {v:.3f} {unit} |")
    lines += [
        "",
        "Goals (reported, not asserted): receipt derivation under 1 s in the browser, proof of work under 5 s, "
        "sealing the largest complaint under 2 s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
