"""`bin/demo`: a throw-away haproxy in a temp dir, judged healthy and then hung.

Shows, side by side, what `killall -0 haproxy` (the glue we replace) and `lbcheck haproxy`
say about the same process. Everything started here is stopped in ``finally``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.haproxy import Haproxy
from tests.support.web import WebServers

LBCHECK = str(Path(sys.executable).parent / "lbcheck")


def show(title: str, proxy: Haproxy, env: dict[str, str]) -> None:
    print(f"\n=== {title} " + "=" * (70 - len(title)))
    killall = subprocess.run(["killall", "-0", "haproxy"], capture_output=True, check=False)
    print(f"$ killall -0 haproxy   → exit {killall.returncode} "
          f"({'keepalived keeps the VIP here' if killall.returncode == 0 else 'fails over'})")
    argv = [LBCHECK, "--verbose", "haproxy", "--socket", proxy.socket, "--pidfile",
            proxy.pidfile, "--backend", "app"]
    print(f"$ lbcheck --verbose haproxy --socket {proxy.socket} --pidfile … --backend app")
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    print(result.stdout.rstrip())
    print(f"→ exit {result.returncode}")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="lbcheck-demo-"))
    env = {**os.environ, "LBCHECK_STATE_DIR": str(workdir / "state")}
    web = WebServers(2)
    proxy = Haproxy(workdir, web.ports[:1], web.ports[1:])
    try:
        proxy.start()
        show("a healthy haproxy", proxy, env)
        proxy.signal(signal.SIGSTOP)
        show("the same haproxy, hung (SIGSTOP)", proxy, env)
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        proxy.stop()
        web.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\ncleaned up: haproxy stopped, temp dir removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
