"""The benchmark's observer, in a process of its own (so the attack's client threads, which hold the
benchmark's GIL while they send hundreds of megabytes, never delay a probe): ``/api/v1/health`` every 50 ms,
and an honest client checking a marked JPEG every 0.5 s from another loopback address (127.0.0.2), as a
different person would. Prints ``h <ms> <ok>`` and ``c <status> <ms>`` lines until terminated."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import httpx


def main(url: str, honest_file: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    honest = Path(honest_file).read_bytes()
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def health() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    ok = client.get(url + "/api/v1/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                say(f"h {(time.perf_counter() - t) * 1000:.2f} {int(ok)}")
                stop.wait(0.05)

    def checks() -> None:
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(timeout=120, transport=transport) as client:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    status = client.post(
                        url + "/api/v1/check", content=honest, headers={"Content-Type": "image/jpeg"}
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                say(f"c {status} {(time.perf_counter() - t) * 1000:.1f}")
                stop.wait(0.5)

    threads = [threading.Thread(target=f, daemon=True) for f in (health, checks)]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.1)
    for t in threads:
        t.join(130)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
