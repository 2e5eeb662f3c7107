"""The client: GET each VIP every 50 ms, IPv4 and IPv6 separately; one JSON line per try.

Runs inside the client's namespace, stdlib only, until its duration is over or SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import urllib.request

STOP = threading.Event()


def poll(family: str, url: str, until: float, out: list[dict]) -> None:
    while time.time() < until and not STOP.is_set():
        started = time.time()
        try:
            with urllib.request.urlopen(url, timeout=0.25) as response:
                node = response.read().decode().strip()
            out.append({"t": started, "family": family, "ok": True, "node": node})
        except OSError:
            out.append({"t": started, "family": family, "ok": False})
        time.sleep(max(0.0, 0.05 - (time.time() - started)))


def main() -> int:
    v4, v6, duration, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    until = time.time() + duration
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())  # stop early, still write results
    results: list[dict] = []
    threads = [threading.Thread(target=poll, args=(f, u, until, results))
               for f, u in (("ipv4", f"http://{v4}/"), ("ipv6", f"http://[{v6}]/"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(path, "w") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in sorted(results, key=lambda r: r["t"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
