"""Benchmark: sealing and opening bundles (run by hand; prints figures).

    .venv/bin/python tests/bench/bench_bundle.py [--small 10000] [--large-mib 512]
        [--no-nncp] [--nncp-small 1000]

Measures, on this machine, in one run:
  * small: N bundles (default 10,000) of one ~4 KiB item record each, sealed to files, then
    opened, verified and applied through ``Receiver(home).receive(files, now)`` — the real
    import path (batches, seen-set). Bundles/s each way; target ≥ 3,000/s verified and applied;
  * large: one attachment file of random bytes (default 512 MiB) sealed with
    ``seal(..., attachments=[(sha, path)])`` to an fsync'd bundle file, then opened with
    ``opened_stream(..., staging=dir)`` and kept with ``Attachments.keep``. MiB/s each way next
    to the machine's limit for the same bytes — the slower of raw ChaCha20-Poly1305 over them
    (at the bundle's chunk size) and an fsync'd write of them; targets ≥ 0.5× that limit. The
    seal and the open each run in a fresh subprocess, which reports its own peak RSS
    (``ru_maxrss``; the subprocess is started by a bare interpreter, as Linux carries a
    parent's ``ru_maxrss`` across fork and exec); target ≤ 64 MiB;
  * NNCP (Debian package ``nncp``, fetched into ``.cache/nncp`` by ``nncp_side``): the same
    attachment file, and the same ~4 KiB record payloads, through ``nncp-file`` + ``nncp-xfer``
    + ``nncp-toss``. NNCP runs one process per file, so the small run sends ``--nncp-small``
    payloads (default 1,000) and its rates are per second over those. Target for the large
    payload: our seal + open ≥ 2× NNCP's ``nncp-file`` + ``nncp-toss`` (its carrying step,
    ``nncp-xfer``, has no counterpart here and is shown but left out of the ratio).
Everything lives in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from schema.attachment import Attachments
from schema.desk import item_record
from schema.itemfile import parse_item
from schema.node import NodeConfig, NodeHome
from schema.record import Item
from schema.vocabulary import Tier
from syncd import enrolment
from syncd.bundle import Limits, new_header, opened_stream, seal
from syncd.home import init_node
from syncd.keys import NodeKeys, load_keys
from syncd.proof import sign
from syncd.receive import Receiver

try:
    from tests.bench.nncp_side import nncp_available, nncp_binaries, nncp_transfer
    from tests.bench.texts import body as report_body
except ImportError:  # run as a script: tests/bench is on sys.path, the repository root is not
    from nncp_side import nncp_available, nncp_binaries, nncp_transfer  # type: ignore[no-redef]
    from texts import body as report_body  # type: ignore[no-redef]

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
MIB = 1 << 20
BLOCK = MIB  # the large attachment is written, read and copied in blocks of this size
RSS_TARGET_MIB = 64
SMALL_TARGET = 3_000


def rss_mib() -> float:
    """Peak resident set size of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def network(root: Path) -> tuple[NodeHome, NodeHome]:
    province, city = NodeHome(root / "140000"), NodeHome(root / "140200")
    init_node(province, NodeConfig("140000", "省", Tier.PROVINCE), "b", NOW)
    init_node(city, NodeConfig("140200", "市", Tier.CITY, "140000"), "b", NOW)
    _, pem = enrolment.issue_for(province, enrolment.request(city), NOW)
    enrolment.install(city, pem, NOW)
    return province, city


def small_records(i: int, keys: NodeKeys | None = None) -> list[dict[str, Any]]:
    """About 4 KiB of item record, with a unique id; signed by the city when its ``keys``
    are given (as the daemon seals records, ``syncd/proof.py``)."""
    body = report_body(i)  # report wording: a thousand distinct shingles, as desks write
    d = parse_item(
        {
            "title": f"第{i}条 新荣区多措并举保障困难群众温暖过冬",
            "body": body,
            "category": "经验做法",
            "author": "张三",
        }
    )
    item = Item(
        id=f"140200-2026-{i:06d}",
        seq=i,
        origin="140200",
        revision=1,
        draft=d,
        created_at=NOW,
        updated_at=NOW,
        signer="王某",
        signed_at=NOW,
    )
    record = item_record(item, "140200", ("140000",))
    plain = {
        "id": record.id,
        "kind": record.kind,
        "version": record.version,
        "origin": record.origin,
        "payload": record.payload,
    }
    return [sign(plain, ("140000",), keys) if keys is not None else plain]


# ----------------------------------------------------------------------------- small bundles


def bench_small(province: NodeHome, city: NodeHome, count: int, folder: Path) -> dict[str, float]:
    """Seal ``count`` bundles to files, then receive them all; prints and returns the figures."""
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    public = enrolment.encryption_keys(city)
    records = [small_records(i, keys) for i in range(count)]  # built before the clock starts
    plain = sum(len(json.dumps(r, ensure_ascii=False).encode()) for r in records) / count
    paths = [folder / f"{i:06d}.xbb" for i in range(count)]
    start = time.perf_counter()
    for path, batch in zip(paths, records, strict=True):
        with open(path, "wb") as out:
            seal(new_header("140200", ["140000"], NOW), batch, keys, chain, public, out)
    sealed_s = time.perf_counter() - start
    size = sum(p.stat().st_size for p in paths) / count
    with Receiver(province) as receiver:
        start = time.perf_counter()
        report = receiver.receive(paths, NOW)
        received_s = time.perf_counter() - start
    if len(report.applied) != count or report.quarantined or report.records != count:
        raise RuntimeError(
            f"receive: {len(report.applied)} applied, {report.records} records, "
            f"{len(report.duplicate)} duplicate, quarantined {report.quarantined[:3]}"
        )
    seal_rate, open_rate = count / sealed_s, count / received_s
    print(f"small bundles: {count:,}, one item record each ({plain / 1024:.1f} KiB as JSON)")
    print(f"  bundle file {size / 1024:.1f} KiB (records are zlib-compressed)")
    print(f"  seal to files               {seal_rate:8,.0f} bundles/s   ({sealed_s:.2f} s)")
    print(
        f"  receive (open+verify+apply) {open_rate:8,.0f} bundles/s   ({received_s:.2f} s)  "
        f"target ≥ {SMALL_TARGET:,}  {verdict(open_rate >= SMALL_TARGET)}"
    )
    return {"seal_s": sealed_s / count, "open_s": received_s / count}


# ----------------------------------------------------------------------------- large payload


def make_attachment(path: Path, total: int) -> str:
    """``total`` random bytes written once in 1 MiB blocks and fsync'd; their SHA-256 hex."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = total
        while left:
            block = os.urandom(min(BLOCK, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def machine_limit(source: Path, folder: Path) -> tuple[float, float]:
    """MiB/s of raw ChaCha20-Poly1305 over the file's bytes and of an fsync'd write of them.

    The file is read in 1 MiB blocks outside the clock; AEAD runs at the bundle's chunk size.
    """
    total = source.stat().st_size
    chunk = Limits.load().chunk_bytes
    aead = ChaCha20Poly1305(ChaCha20Poly1305.generate_key())
    nonce, aad = bytes(12), b"x" * 40
    crypt_s = 0.0
    with open(source, "rb") as fh:
        while block := fh.read(BLOCK):
            pieces = [block[i : i + chunk] for i in range(0, len(block), chunk)]
            start = time.perf_counter()
            for piece in pieces:
                aead.encrypt(nonce, piece, aad)
            crypt_s += time.perf_counter() - start
    target = folder / "raw-write"
    write_s = 0.0
    with open(source, "rb") as fh, open(target, "wb") as out:
        while block := fh.read(BLOCK):
            start = time.perf_counter()
            out.write(block)
            write_s += time.perf_counter() - start
        start = time.perf_counter()
        out.flush()
        os.fsync(out.fileno())
        write_s += time.perf_counter() - start
    target.unlink()
    return total / MIB / crypt_s, total / MIB / write_s


def _child(step: str, spec: dict[str, str]) -> dict[str, Any]:
    """One large seal or open, in a fresh process: its time and its own peak RSS."""
    at_start = rss_mib()
    result: dict[str, Any] = {}
    bundle = Path(spec["bundle"])
    if step == "seal":
        city = NodeHome(Path(spec["city"]))
        keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
        public = enrolment.encryption_keys(city)
        attachment = (spec["sha"], Path(spec["source"]))
        start = time.perf_counter()
        with open(bundle, "wb") as out:
            header = new_header("140200", ["140000"], NOW)
            seal(header, [], keys, chain, public, out, attachments=[attachment])
            out.flush()
            os.fsync(out.fileno())
        result["seconds"] = time.perf_counter() - start
    elif step == "open":
        province = NodeHome(Path(spec["province"]))
        keys, root = load_keys(province.path, None), enrolment.load_root(province)
        assert root is not None
        kept = Attachments(province.attachments_path)
        kept.root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with (
            open(bundle, "rb") as fh,
            opened_stream(fh, "140000", keys, root, NOW, staging=kept.root) as opened,
        ):
            records = sum(1 for _ in opened.records)
            for staged in opened.attachments:
                kept.keep(staged.sha256, staged.path)
            found = [(a.sha256, a.size) for a in opened.attachments]
        result["seconds"] = time.perf_counter() - start
        result["records"], result["attachments"] = records, found
    else:
        raise ValueError(step)
    result["rss_start_mib"], result["rss_peak_mib"] = at_start, rss_mib()
    result["vm_hwm_mib"] = vm_hwm_mib()
    return result


def vm_hwm_mib() -> float | None:
    """This process's own peak RSS per ``/proc/self/status`` (VmHWM), MiB; None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# Linux keeps ru_maxrss across fork and exec: a child started straight from this (large)
# process would report this process's peak. A bare interpreter in between starts it instead.
_LAUNCH = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def run_child(step: str, spec: dict[str, str]) -> dict[str, Any]:
    """Run :func:`_child` in a fresh interpreter, started by a bare one (see ``_LAUNCH``)."""
    script = str(Path(__file__).resolve())
    child = [sys.executable, script, "--child", step, json.dumps(spec)]
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCH, *child],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{step} child exited {proc.returncode}: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench_large(province: NodeHome, city: NodeHome, mib: int, folder: Path) -> dict[str, float]:
    """Seal and open one ``mib`` MiB attachment; prints and returns the figures."""
    total = mib * MIB
    source = folder / "attachment.bin"
    sha = make_attachment(source, total)
    crypt, write = machine_limit(source, folder)
    limit = min(crypt, write)
    bundle = folder / "large.xbb"
    spec = {
        "city": str(city.path),
        "province": str(province.path),
        "source": str(source),
        "sha": sha,
        "bundle": str(bundle),
    }
    sealed = run_child("seal", spec)
    size = bundle.stat().st_size
    opened = run_child("open", spec)
    if opened["attachments"] != [[sha, total]]:
        raise RuntimeError(f"open gave {opened['attachments']}, not [{sha}, {total}]")
    kept = Attachments(province.attachments_path).path(sha)
    if kept.stat().st_size != total:
        raise RuntimeError(f"{kept} holds {kept.stat().st_size} bytes, not {total}")
    kept.unlink()
    bundle.unlink()
    seal_rate = mib / sealed["seconds"]
    open_rate = mib / opened["seconds"]
    print(f"large payload: one {mib:,} MiB attachment of random bytes")
    print(f"  bundle file {size / MIB:,.2f} MiB")
    print(
        f"  machine limit {limit:8,.1f} MiB/s = min(ChaCha20-Poly1305 {crypt:,.1f} MiB/s "
        f"at {Limits.load().chunk_bytes // 1024} KiB chunks, fsync'd write {write:,.1f} MiB/s)"
    )
    rows = (
        ("seal (to fsync'd bundle)", seal_rate, sealed["seconds"]),
        ("open + keep (fsync'd)", open_rate, opened["seconds"]),
    )
    for name, rate, seconds in rows:
        ratio = rate / limit
        print(
            f"  {name:26} {rate:8,.1f} MiB/s ({seconds:5.2f} s) = {ratio:4.2f}× limit  "
            f"target ≥ 0.5×  {verdict(ratio >= 0.5)}"
        )
    for name, child in (("seal", sealed), ("open", opened)):
        peak = child["rss_peak_mib"]
        hwm = child["vm_hwm_mib"]
        print(
            f"  peak RSS {name}  {peak:6,.1f} MiB  target ≤ {RSS_TARGET_MIB} MiB  "
            f"{verdict(peak <= RSS_TARGET_MIB)}   (fresh process: {child['rss_start_mib']:.1f} "
            f"MiB after imports; VmHWM {'n/a' if hwm is None else f'{hwm:.1f} MiB'})"
        )
    return {"seal_s": sealed["seconds"], "open_s": opened["seconds"]}


# ----------------------------------------------------------------------------- NNCP side by side


def bench_nncp(
    small: dict[str, float] | None,
    small_payloads: int,
    large: dict[str, float] | None,
    mib: int,
    folder: Path,
) -> None:
    if not nncp_available():
        print("nncp: not available (not on PATH, $NNCP_BIN unset, apt-get download nncp failed)")
        return
    bindir = nncp_binaries()
    assert bindir is not None
    said = subprocess.run(
        [str(bindir / "nncp-file"), "-version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    print(f"nncp: {said[0] if said else 'unknown version'} ({bindir})")
    if large is not None:
        source = folder / "attachment.bin"
        nn = nncp_transfer([source], folder / "nncp-large")
        shutil.rmtree(folder / "nncp-large")
        ends = nn["file_s"] + nn["toss_s"]
        ours = large["seal_s"] + large["open_s"]
        print(f"  large: the same {mib:,} MiB file")
        print(
            f"    nncp-file {mib / nn['file_s']:7,.1f} MiB/s   nncp-xfer {mib / nn['xfer_s']:7,.1f}"
            f" MiB/s   nncp-toss {mib / nn['toss_s']:7,.1f} MiB/s   all three "
            f"{mib / nn['total_s']:7,.1f} MiB/s"
        )
        ratio = (mib / ours) / (mib / ends)
        print(
            f"    ours seal + open {mib / ours:7,.1f} MiB/s vs nncp-file + nncp-toss "
            f"{mib / ends:7,.1f} MiB/s = {ratio:4.2f}×  target ≥ 2×  {verdict(ratio >= 2)}"
        )
        print(
            f"    (seal {large['seal_s'] / nn['file_s']:.2f}× nncp-file's time, "
            f"open {large['open_s'] / nn['toss_s']:.2f}× nncp-toss's time; "
            f"vs all three steps {(mib / ours) / (mib / nn['total_s']):.2f}×)"
        )
    if small is not None and small_payloads:
        payloads = [
            json.dumps(r, ensure_ascii=False).encode()
            for i in range(small_payloads)
            for r in small_records(i)
        ]
        nn = nncp_transfer(payloads, folder / "nncp-small")
        shutil.rmtree(folder / "nncp-small")
        n = nn["count"]
        ends = (nn["file_s"] + nn["toss_s"]) / n
        ours = small["seal_s"] + small["open_s"]
        print(
            f"  small: {int(n):,} of the same ~{nn['bytes'] / n / 1024:.1f} KiB record payloads "
            f"(one nncp-file process per file; rates are per second over these {int(n):,})"
        )
        print(
            f"    nncp-file {n / nn['file_s']:7,.0f} files/s   nncp-xfer {n / nn['xfer_s']:7,.0f}"
            f" files/s   nncp-toss {n / nn['toss_s']:7,.0f} files/s   all three "
            f"{n / nn['total_s']:7,.0f} files/s"
        )
        print(
            f"    ours seal + receive {1 / ours:7,.0f} bundles/s vs nncp-file + nncp-toss "
            f"{1 / ends:7,.0f} files/s = {ends / ours:.2f}×"
        )


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=10_000, help="small bundles (0: skip)")
    parser.add_argument("--large-mib", type=int, default=512, help="attachment MiB (0: skip)")
    parser.add_argument("--no-nncp", action="store_true", help="skip the NNCP comparison")
    parser.add_argument(
        "--nncp-small", type=int, default=1_000, help="small payloads sent through NNCP"
    )
    parser.add_argument("--child", nargs=2, metavar=("STEP", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], json.loads(args.child[1]))))
        return 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu, load average {load}")
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        root = Path(tmp)
        province, city = network(root)
        small = large = None
        if args.small:
            (root / "small").mkdir()
            small = bench_small(province, city, args.small, root / "small")
            shutil.rmtree(root / "small")
        if args.large_mib:
            large = bench_large(province, city, args.large_mib, root)
        if args.no_nncp:
            print("nncp: skipped (--no-nncp)")
        else:
            bench_nncp(small, min(args.nncp_small, args.small), large, args.large_mib, root)
    print(f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
