"""The client: GET each VIP every 20 ms, IPv4 and IPv6 separately; one JSON line per request.

Open loop: a request starts on every tick whether or not the earlier ones have answered, each
with its own timeout. A closed-loop client (wait for the answer, then sleep) measures its own
timeout as well as the failover: while haproxy hangs, every request holds the client for the
whole timeout, so the first request to reach the new master starts up to a timeout late
(coordinated omission). Each row carries when the request started (``t``) and when it finished
(``done``); outages are measured between finishes, so a request that succeeds late (a SYN
retransmitted after the VIP moved) cannot shorten one.

Runs inside the client's namespace, stdlib only, until its duration is over or SIGTERM;
requests still in flight then are dropped, not counted as failures.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

EVERY = 0.02  # s between request starts, per family
TIMEOUT = 2.0  # s a request may take: longer than any failover the lab expects to count
NONE = "-"  # in place of a VIP: the pair has none of that family, nothing to poll


async def get(host: str, port: int, family: str, out: list[dict]) -> None:
    """One HTTP/1.0 GET; the row says whether a 200 came back and which node sent it."""
    started = time.time()
    row: dict = {"t": started, "family": family, "ok": False}
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
                reply = await reader.read()
            finally:
                writer.close()
        head, _, body = reply.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.") and head.split(b" ", 2)[1:2] == [b"200"]:
            row.update(ok=True, node=body.decode(errors="replace").strip())
    except (OSError, TimeoutError):
        pass
    row["done"] = time.time()
    out.append(row)


async def poll(host: str, port: int, family: str, until: float, stop: asyncio.Event,
               out: list[dict], pending: set[asyncio.Task]) -> None:
    """Start a request every EVERY seconds on a fixed schedule, never waiting for answers."""
    tick = time.monotonic()
    while time.time() < until and not stop.is_set():
        task = asyncio.create_task(get(host, port, family, out))
        pending.add(task)
        task.add_done_callback(pending.discard)
        tick += EVERY
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, tick - time.monotonic()))
        except TimeoutError:
            pass


async def main_async(v4: str, v6: str, duration: float, port: int = 80) -> list[dict]:
    until = time.time() + duration
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    results: list[dict] = []
    pending: set[asyncio.Task] = set()
    await asyncio.gather(*(poll(vip, port, family, until, stop, results, pending)
                           for vip, family in ((v4, "ipv4"), (v6, "ipv6")) if vip != NONE))
    if not stop.is_set() and pending:  # ran its course: let the last requests finish
        await asyncio.wait(pending, timeout=TIMEOUT + 0.5)
    return results  # anything still pending is dropped: it neither succeeded nor failed yet


def main() -> int:
    v4, v6, duration, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    results = asyncio.run(main_async(v4, v6, duration))
    with open(path, "w") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in sorted(results, key=lambda r: r["t"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
