"""The NNCP side of the bundle benchmark: time Debian's ``nncp`` tools on the same payloads.

    .venv/bin/python -m tests.bench.nncp_side

``nncp_binaries()`` finds the NNCP programs (``$NNCP_BIN``, then ``PATH``, then
``.cache/nncp/root/usr/bin``) and, when they are nowhere, fetches the Debian package into
``.cache/nncp`` with ``apt-get download nncp`` and unpacks it with ``dpkg -x`` — no root and no
change to the system: if the machine's apt lists are missing, a private copy of them is made
inside the cache. ``nncp_transfer()`` makes a sender and a receiver node, queues every payload
with ``nncp-file``, carries the packets across a shared directory with ``nncp-xfer`` (out on the
sender, in on the receiver), unpacks them with ``nncp-toss`` and checks the received files byte
for byte.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "nncp"
CACHED_BIN = CACHE / "root" / "usr" / "bin"
FETCH_TIMEOUT_S = 120.0
# Generous per-command limits: a Go start-up is milliseconds, 64 MiB takes well under a second.
CMD_TIMEOUT_S = 60.0
BULK_TIMEOUT_S = 600.0
NEEDED = ("nncp-cfgnew", "nncp-file", "nncp-xfer", "nncp-toss")
KEY_FIELDS = ("id", "exchpub", "exchprv", "signpub", "signprv", "noisepub", "noiseprv")


def _has_tools(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in NEEDED)


def _run(
    args: list[str], timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one command, capture its output, fail loudly on a non-zero exit."""
    proc = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        said = proc.stderr.strip() or proc.stdout.strip()
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {said}")
    return proc


def _apt_private_options(state: Path) -> list[str]:
    """apt options that keep lists and caches inside ``state`` and take no system lock."""
    for sub in ("lists/partial", "cache/archives/partial"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    opts = {
        "Dir::State::Lists": str(state / "lists"),
        "Dir::Cache": str(state / "cache"),
        "Dir::Cache::pkgcache": "",
        "Dir::Cache::srcpkgcache": "",
        "Debug::NoLocking": "1",
    }
    if os.geteuid() == 0:
        # As root apt would hand the download to the _apt user, who cannot write here.
        opts["APT::Sandbox::User"] = "root"
    return [arg for key, value in opts.items() for arg in ("-o", f"{key}={value}")]


def _download_deb(deadline: float) -> Path | None:
    """``apt-get download nncp`` into the cache; a private list update if the first try fails."""
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for private in (False, True):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            opts = _apt_private_options(CACHE / "apt") if private else []
            if opts:
                _run(["apt-get", *opts, "-qq", "update"], timeout=left)
                left = deadline - time.monotonic()
            _run(["apt-get", *opts, "-qq", "download", "nncp"], timeout=max(left, 1.0), cwd=debs)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            continue
        found = sorted(debs.glob("nncp_*.deb"))
        if found:
            return found[-1]
    return None


def _unpack_deb(deb: Path, target: Path, timeout: float) -> None:
    """``dpkg -x``, or (without dpkg) read the ar archive and its data tarball directly."""
    if shutil.which("dpkg") is not None:
        _run(["dpkg", "-x", str(deb), str(target)], timeout=timeout)
        return
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise RuntimeError(f"{deb} is not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body_start = pos + 60
        if name.startswith("data.tar"):
            member = target.parent / name
            member.write_bytes(data[body_start : body_start + size])
            with tarfile.open(member) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(target, filter="data")
                else:  # Python 3.11 before 3.11.4 has no extraction filters.
                    tar.extractall(target)
            member.unlink()
            return
        pos = body_start + size + (size % 2)
    raise RuntimeError(f"{deb} has no data.tar member")


def nncp_binaries() -> Path | None:
    """The directory holding the NNCP programs, fetched into ``.cache/nncp`` if need be."""
    env = os.environ.get("NNCP_BIN")
    if env and _has_tools(Path(env)):
        return Path(env)
    on_path = shutil.which("nncp-file")
    if on_path is not None and _has_tools(Path(on_path).parent):
        return Path(on_path).parent
    if _has_tools(CACHED_BIN):
        return CACHED_BIN
    if shutil.which("apt-get") is None:
        return None
    deadline = time.monotonic() + FETCH_TIMEOUT_S
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        deb = _download_deb(deadline)
        if deb is None:
            return None
        staging = Path(tempfile.mkdtemp(prefix="root-", dir=CACHE))
        try:
            _unpack_deb(deb, staging, timeout=max(deadline - time.monotonic(), 1.0))
            # Publish the tree in one rename so a half-unpacked tree is never picked up.
            if not _has_tools(CACHED_BIN):
                shutil.rmtree(CACHE / "root", ignore_errors=True)
                staging.rename(CACHE / "root")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, tarfile.TarError, ValueError):
        return None
    return CACHED_BIN if _has_tools(CACHED_BIN) else None


def nncp_available() -> bool:
    """Whether the NNCP programs can be had on this machine (fetching them if need be)."""
    return nncp_binaries() is not None


def _new_node(bindir: Path, home: Path) -> dict[str, str]:
    """``nncp-cfgnew`` for a fresh node; returns its self keys as generated."""
    out = _run([str(bindir / "nncp-cfgnew"), "-nocomments"], timeout=CMD_TIMEOUT_S).stdout
    block = re.search(r"\bself:\s*\{(.*?)\}", out, re.DOTALL)
    if block is None:
        raise RuntimeError("nncp-cfgnew printed no self block")
    keys = dict(re.findall(r"^\s*(\w+):\s*\"?([A-Z2-7]+)\"?\s*$", block.group(1), re.MULTILINE))
    missing = [name for name in KEY_FIELDS if name not in keys]
    if missing:
        raise RuntimeError(f"nncp-cfgnew output lacks {missing}")
    home.mkdir(parents=True)
    (home / "spool").mkdir()
    return {name: keys[name] for name in KEY_FIELDS}


def _public(keys: dict[str, str]) -> dict[str, str]:
    return {name: keys[name] for name in ("id", "exchpub", "signpub", "noisepub")}


def _write_config(
    home: Path, keys: dict[str, str], peer_name: str, peer: dict[str, str], incoming: Path | None
) -> Path:
    """The node's configuration (Hjson is a superset of JSON): itself and its one neighbour."""
    neighbour: dict[str, str] = _public(peer)
    if incoming is not None:
        neighbour["incoming"] = str(incoming)
    config = {
        "spool": str(home / "spool"),
        "log": str(home / "log"),
        "noprogress": True,
        "self": keys,
        "neigh": {"self": _public(keys), peer_name: neighbour},
    }
    path = home / "nncp.hjson"
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def _materialise(payloads: list[bytes] | list[Path], srcdir: Path) -> list[tuple[Path, str]]:
    """(source file, name at the receiver) for every payload; bytes are written to ``srcdir``."""
    srcdir.mkdir(parents=True)
    pairs: list[tuple[Path, str]] = []
    for index, payload in enumerate(payloads):
        if isinstance(payload, bytes):
            source = srcdir / f"payload-{index:06d}.bin"
            source.write_bytes(payload)
            pairs.append((source, source.name))
        else:
            pairs.append((Path(payload), f"{index:06d}-{Path(payload).name}"))
    return pairs


def nncp_transfer(payloads: list[bytes] | list[Path], workdir: Path) -> dict[str, float]:
    """Send ``payloads`` sender → receiver through NNCP, timing each step; figures in seconds."""
    bindir = nncp_binaries()
    if bindir is None:
        raise RuntimeError("the nncp programs are not available on this machine")
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="nncp-run-", dir=workdir))
    sender_home, receiver_home = run_dir / "sender", run_dir / "receiver"
    incoming, shared = run_dir / "incoming", run_dir / "xfer"
    incoming.mkdir()
    shared.mkdir()
    sender = _new_node(bindir, sender_home)
    receiver = _new_node(bindir, receiver_home)
    sender_cfg = _write_config(sender_home, sender, "receiver", receiver, None)
    receiver_cfg = _write_config(receiver_home, receiver, "sender", sender, incoming)
    pairs = _materialise(payloads, run_dir / "src")
    total_bytes = sum(source.stat().st_size for source, _ in pairs)

    def tool(name: str, cfg: Path, *args: str) -> list[str]:
        return [str(bindir / name), "-cfg", str(cfg), "-quiet", "-noprogress", *args]

    started = time.perf_counter()
    for source, name in pairs:
        _run(tool("nncp-file", sender_cfg, str(source), f"receiver:{name}"), BULK_TIMEOUT_S)
    file_s = time.perf_counter() - started

    started = time.perf_counter()
    _run(tool("nncp-xfer", sender_cfg, "-tx", "-mkdir", str(shared)), BULK_TIMEOUT_S)
    _run(tool("nncp-xfer", receiver_cfg, "-rx", str(shared)), BULK_TIMEOUT_S)
    xfer_s = time.perf_counter() - started

    started = time.perf_counter()
    _run(tool("nncp-toss", receiver_cfg), BULK_TIMEOUT_S)
    toss_s = time.perf_counter() - started

    for source, name in pairs:
        received = incoming / name
        if not received.is_file() or not filecmp.cmp(source, received, shallow=False):
            raise RuntimeError(f"{name} did not arrive intact in {incoming}")
    return {
        "file_s": file_s,
        "xfer_s": xfer_s,
        "toss_s": toss_s,
        "total_s": file_s + xfer_s + toss_s,
        "bytes": float(total_bytes),
        "count": float(len(pairs)),
    }


def _report(label: str, figures: dict[str, float]) -> None:
    mib = figures["bytes"] / (1 << 20)
    print(
        f"{label}: {int(figures['count'])} file(s), {mib:.2f} MiB — "
        f"nncp-file {figures['file_s']:.3f} s, nncp-xfer {figures['xfer_s']:.3f} s, "
        f"nncp-toss {figures['toss_s']:.3f} s, total {figures['total_s']:.3f} s "
        f"({figures['count'] / figures['total_s']:.1f} files/s, "
        f"{mib / figures['total_s']:.1f} MiB/s)"
    )


def main() -> int:
    bindir = nncp_binaries()
    if bindir is None:
        print("nncp: not available (apt-get download nncp failed); nothing measured")
        return 1
    version = _run([str(bindir / "nncp-file"), "-version"], CMD_TIMEOUT_S).stdout.splitlines()
    print(f"nncp: {bindir} ({version[0] if version else 'unknown version'})")
    with tempfile.TemporaryDirectory(prefix="nncp-bench-") as tmp:
        small = [os.urandom(4096) for _ in range(100)]
        _report("100 × 4 KiB", nncp_transfer(small, Path(tmp) / "small"))
        large = [os.urandom(64 << 20)]
        _report("1 × 64 MiB", nncp_transfer(large, Path(tmp) / "large"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
