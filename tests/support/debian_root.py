"""Cached Debian root filesystems, one per suite, to run that suite's haproxy under chroot.

The version matrix runs trixie's and sid's real haproxy packages on this machine. A chroot
(not a container) is the point: the chrooted haproxy shares our pid namespace and, with its
workdir bind-mounted at the same path, our socket paths, so `lbcheck haproxy` on the host
judges it exactly as it would on the box.

A root is built once with debootstrap (about a minute) and kept in ``ROOTS``: built into
``SUITE.tmp``, renamed when complete (a root is there whole or not at all), under a lock file
so two pytest processes never build the same suite twice. Mounts into a root only ever come
from the context managers here, which always unmount, lazily if they must.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOTS = Path(os.environ.get("LBCHECK_ROOTS", "/var/tmp/lbcheck-roots"))
MIRROR = os.environ.get("LBCHECK_MIRROR", "http://deb.debian.org/debian")
PACKAGES = "haproxy,keepalived"
BUILD_TIMEOUT = 600.0  # measured: 53 s on a 2-core machine; ten times that is a hung mirror
HAPROXY = "/usr/sbin/haproxy"  # inside a root: what proves a build complete, and what we run
# What haproxy opens under /dev (strace of 2.6, 3.0 and 3.2 starting, serving and reloading):
# /dev/null (the worker's stdio) and /dev/urandom. /dev/shm is a plain directory in the root,
# which serves 3.0's startup-log file as well. /proc and /sys are read (cpuinfo, cpu/online,
# overcommit_memory) but every version falls back quietly when they are missing, so neither
# is mounted: nothing of the host's kernel state leaks into a root that outlives the test.
DEVICES = ("null", "urandom")


class RootUnavailable(RuntimeError):
    """No root for this suite: no debootstrap, no network, not root, or the build failed."""


def root(suite: str, *, base: Path = ROOTS, mirror: str = MIRROR,
         timeout: float = BUILD_TIMEOUT, debootstrap: str = "debootstrap") -> Path:
    """``base/suite``, built with debootstrap first when missing; raises RootUnavailable."""
    target = base / suite
    if _complete(target):
        return target
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / f"{suite}.lock", timeout + 60):
        if not _complete(target):  # another process may have built it while we waited
            _build(suite, target, mirror, timeout, debootstrap)
    return target


def roots(suites: Iterable[str], **options: object) -> dict[str, Path | RootUnavailable]:
    """Several suites at once: two debootstraps in parallel take a minute, not two."""
    suites = list(suites)

    def one(suite: str) -> Path | RootUnavailable:
        try:
            return root(suite, **options)  # type: ignore[arg-type]
        except RootUnavailable as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(suites))) as pool:
        return dict(zip(suites, pool.map(one, suites), strict=True))


def haproxy_version(root_dir: Path | None = None) -> str:
    """``haproxy -v``'s version (``3.2.26-1``) on the host, or inside ``root_dir``; "" if none."""
    argv = ["haproxy", "-v"] if root_dir is None else ["chroot", str(root_dir), HAPROXY, "-v"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"HA-?Proxy version (\S+)", out)
    return match[1] if match else ""


def _complete(target: Path) -> bool:
    if not target.exists():
        return False
    if not (target / HAPROXY.lstrip("/")).is_file():
        # Never delete a tree we did not just build: someone may have made it by hand.
        raise RootUnavailable(f"{target} exists but has no {HAPROXY}: remove it to rebuild")
    return True


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive flock on ``path``, waited for at most ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise RootUnavailable(f"{path} stayed locked for {timeout:g} s (another "
                                          "build hung?)") from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # releases the lock, also when the build failed


def _build(suite: str, target: Path, mirror: str, timeout: float, debootstrap: str) -> None:
    if shutil.which(debootstrap) is None:
        raise RootUnavailable(f"{debootstrap} is not installed (bin/setup installs it)")
    if os.geteuid() != 0:
        raise RootUnavailable("building a Debian root needs root")
    tmp = target.with_name(target.name + ".tmp")
    remove_tree(tmp)  # left by a build that was killed outright
    log_path = target.with_name(f"{target.name}.log")
    argv = [debootstrap, "--variant=minbase", f"--include={PACKAGES}", suite, str(tmp), mirror]
    started = time.monotonic()
    with open(log_path, "wb") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # debootstrap, and dpkg under it
            proc.wait(timeout=30)
        took = time.monotonic() - started
        log.write(f"# exit {code} after {took:.1f} s\n".encode())
    if code != 0 or not (tmp / HAPROXY.lstrip("/")).is_file():
        remove_tree(tmp)
        why = f"timed out after {timeout:g} s" if code is None else f"failed (exit {code})"
        raise RootUnavailable(f"debootstrap {suite} from {mirror} {why}: "
                              f"{_tail(log_path)} (log: {log_path})")
    os.rename(tmp, target)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line for line in text[-lines:] if not line.startswith("# exit"))


def remove_tree(path: Path) -> None:
    """Delete a half-built root, first unmounting what a killed debootstrap left mounted.

    debootstrap mounts /proc and /sys (inside a container, even /dev nodes) into its target;
    a recursive delete across such a mount would delete the host's files. So: unmount, refuse
    if anything is still mounted, then delete without crossing file systems.
    """
    if not path.exists():
        return
    for mount_point in sorted(mounts_under(path), key=len, reverse=True):
        unmount(Path(mount_point))
    if mounts_under(path):
        raise RootUnavailable(f"{path} still has mounts under it: {mounts_under(path)}")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True, timeout=120)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, from /proc/self/mountinfo (octal escapes decoded)."""
    prefix = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as 3-digit octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def unmount(point: Path) -> None:
    """umount, and when something still holds the mount (EBUSY), detach it lazily."""
    plain = subprocess.run(["umount", str(point)], capture_output=True, timeout=30, check=False)
    if plain.returncode != 0 and str(os.path.realpath(point)) in mounts_under(point):
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, timeout=30,
                       check=True)


@contextlib.contextmanager
def bind(root_dir: Path, host_dir: Path) -> Iterator[Path]:
    """``host_dir`` visible at the same path inside ``root_dir`` for the block's duration.

    Unmounted whatever happens in the block, and the mount point directories this created are
    removed again (``rmdir`` only: never a recursive delete next to a mount).
    """
    host_dir = Path(os.path.realpath(host_dir))
    inside = root_dir / str(host_dir).lstrip("/")
    created = _makedirs(inside)
    try:
        subprocess.run(["mount", "--bind", str(host_dir), str(inside)], check=True,
                       capture_output=True, timeout=30)
        yield inside
    finally:
        try:
            if str(os.path.realpath(inside)) in mounts_under(inside):
                unmount(inside)
        finally:
            for directory in reversed(created):
                with contextlib.suppress(OSError):  # another test's mount point may sit below
                    directory.rmdir()


@contextlib.contextmanager
def devices(root_dir: Path) -> Iterator[list[Path]]:
    """The /dev nodes haproxy opens, bind-mounted from the host where the root lacks them.

    debootstrap creates real device nodes when it runs as root outside a container, so on such
    a root this mounts nothing; a root built where mknod was refused gets the host's nodes,
    mounted over empty files and unmounted (and the files removed) afterwards.
    """
    mounted: list[Path] = []
    made: list[Path] = []
    try:
        for name in DEVICES:
            node = root_dir / "dev" / name
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISCHR(node.lstat().st_mode):
                    continue
            if not node.exists():
                node.parent.mkdir(parents=True, exist_ok=True)
                node.touch()
                made.append(node)
            subprocess.run(["mount", "--bind", f"/dev/{name}", str(node)], check=True,
                           capture_output=True, timeout=30)
            mounted.append(node)
        yield mounted
    finally:
        for node in reversed(mounted):
            unmount(node)
        for node in made:
            with contextlib.suppress(OSError):
                node.unlink()


@contextlib.contextmanager
def chroot_mounts(root_dir: Path, host_dir: Path) -> Iterator[Path]:
    """What a chrooted haproxy needs: its workdir at the same path, and its /dev nodes."""
    with devices(root_dir), bind(root_dir, host_dir) as inside:
        yield inside


def processes_in(root_dir: Path, mentioning: str = "") -> list[int]:
    """Pids whose root directory is ``root_dir`` (and whose argv mentions ``mentioning``):
    what a chroot left running. The roots are shared by every test run on the machine, so a
    test asks about the processes of its own workdir."""
    wanted = os.path.realpath(root_dir)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/root") == wanted and (
                        mentioning.encode() in Path(f"/proc/{entry}/cmdline").read_bytes()):
                    found.append(int(entry))
    return found


def _makedirs(path: Path) -> list[Path]:
    """``mkdir -p``, returning the directories it created, outermost first."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
    return list(reversed(missing))
