"""Attachments in bundles (syncd/bundle.py, DESIGN.md §2): round trips, malformed attachment
sections from a legitimate sender, staging, and a 1 GiB attachment streamed in flat memory.

The network is test_bundle.py's (imported, built once for this module); raw payloads are
sealed with its ``seal_raw(..., sections=False)``, so every section is written here byte by
byte (``u8 kind · u64 length · body``) and the reader under test sees exactly that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from syncd import bundle as bx
from syncd.bundle import ATTACHMENT, END, RECORDS, BundleError, Limits, new_header, opened_stream
from syncd.error import SyncError
from tests.syncd import test_bundle
from tests.syncd.test_bundle import (
    CITY,
    COUNTY_A,
    COUNTY_B,
    DEFAULTS,
    IDS,
    MIB,
    NOW,
    PROVINCE,
    Net,
    _sender,
    flip,
    parse_layout,
    seal_raw,
    section,
)

net = test_bundle.net  # its module-scoped network fixture, built once for this module too
SMALL_CHUNKS = dataclasses.replace(DEFAULTS, chunk_bytes=256)
PHOTO = "现场照片：新荣区某煤矿井口，救援人员正在排水。".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seal_files(
    net: Net,
    sender: str,
    recipients: Iterable[str],
    records: Iterable[dict[str, Any]],
    files: Iterable[tuple[str, Path]],
    limits: Limits | None = None,
) -> bytes:
    """A bundle from ``sender`` carrying ``records`` and the (hash, file) ``files``."""
    node = net.nodes[sender]
    out = io.BytesIO()
    header = new_header(sender, recipients, NOW)
    bx.seal(header, records, node.keys, node.chain, net.encryption, out, limits, files)
    return out.getvalue()


def item_record(files: dict[str, bytes]) -> dict[str, Any]:
    """A record whose payload refers to ``files`` (name → bytes) by hash."""
    listed = [{"name": n, "sha256": sha(b), "size": len(b)} for n, b in files.items()]
    return {"kind": "item", "payload": {"title": "附件测试", "attachments": listed}}


def stream_refuses(
    net: Net, data: bytes, reason: str, staging: Path, limits: Limits | None = None
) -> list[bx.Staged] | None:
    """``opened_stream`` to ``staging`` fails with exactly ``reason`` and leaves the staging
    folder empty. Returns what the context handed out before the fault (its attachments) if it
    was entered at all — a fault in the record stream surfaces while iterating — else None."""
    staging.mkdir(exist_ok=True)
    handed: list[list[bx.Staged]] = []
    with (
        pytest.raises(BundleError) as caught,
        opened_stream(
            io.BytesIO(data), CITY, net.nodes[CITY].keys, net.root, NOW, limits, staging=staging
        ) as opened,
    ):
        handed.append(list(opened.attachments))
        assert all(s.path.is_file() for s in opened.attachments)
        for _ in opened.records:
            pass
    assert caught.value.reason == reason, str(caught.value)
    assert list(staging.iterdir()) == []
    return handed[0] if handed else None


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    """Files of every awkward size for 256-byte chunks, written to tmp_path/src by name."""
    rng = random.Random(2026)
    contents = {
        "空文件.txt": b"",
        "小.txt": PHOTO,  # smaller than a chunk
        "大.jpg": PHOTO + rng.randbytes(40 * 256 + 77),  # spans ~40 chunks, not aligned
        "副本一.pdf": PHOTO * 3 + b"same",
        "副本二.pdf": PHOTO * 3 + b"same",  # identical to the previous one
    }
    src = tmp_path / "src"
    src.mkdir()
    for name, data in contents.items():
        (src / name).write_bytes(data)
    return contents


def test_records_and_attachments_reach_every_recipient_byte_exact(
    net: Net, tmp_path: Path, files: dict[str, bytes]
) -> None:
    pairs = [(sha(data), tmp_path / "src" / name) for name, data in files.items()]
    records = [item_record(files), {"kind": "revision", "n": 1, "县": "新荣区"}]
    recipients = [CITY, COUNTY_B, PROVINCE]
    data = seal_files(net, COUNTY_A, recipients, records, pairs, SMALL_CHUNKS)

    assert len(parse_layout(data).frames) > 40
    assert PHOTO not in data and PHOTO[:12] not in data  # attachments are encrypted too
    expected = {sha(b): b for b in files.values()}
    assert len(expected) == 4  # the two copies share one hash
    for node_id in IDS:
        if node_id in recipients:
            opened = net.open(node_id, data)
            assert opened.records == records
            assert opened.attachments == expected
            for digest, body in opened.attachments.items():
                assert sha(body) == digest
        else:
            net.refuses(node_id, data, "not-addressed")


def test_staged_attachments_live_only_inside_the_context(
    net: Net, tmp_path: Path, files: dict[str, bytes]
) -> None:
    pairs = [(sha(data), tmp_path / "src" / name) for name, data in files.items()]
    data = seal_files(net, COUNTY_A, [CITY], [item_record(files)], pairs, SMALL_CHUNKS)
    staging = tmp_path / "staging"
    staging.mkdir()
    node = net.nodes[CITY]
    with opened_stream(io.BytesIO(data), CITY, node.keys, net.root, NOW, staging=staging) as opened:
        staged = list(opened.attachments)
        # one staged file per section, in the order sealed (the copy too), checked by hash
        assert [(s.sha256, s.size) for s in staged] == [(h, p.stat().st_size) for h, p in pairs]
        for s, (_, source) in zip(staged, pairs, strict=True):
            assert s.path.is_file()
            assert s.path.read_bytes() == source.read_bytes()
            assert s.path.parent.parent == staging  # a temporary folder under staging
            assert s.path.parent.name.startswith(".open-")
        assert len({s.path for s in staged}) == len(staged)
        assert list(opened.records) == [item_record(files)]
    assert not any(s.path.exists() for s in staged)
    assert list(staging.iterdir()) == []


def test_a_bundle_without_attachments_stages_nothing(net: Net, tmp_path: Path) -> None:
    data = net.seal(COUNTY_A, [CITY], [{"a": 1}])
    node = net.nodes[CITY]
    with opened_stream(
        io.BytesIO(data), CITY, node.keys, net.root, NOW, staging=tmp_path
    ) as opened:
        assert opened.attachments == []
        assert list(opened.records) == [{"a": 1}]
    assert net.open(CITY, data).attachments == {}
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Attacks: malformed payload sections from a legitimate sender

RECS = section(RECORDS, zlib.compress(b'{"a":1}\n'))
FIN = section(END, b"")
ATT = section(ATTACHMENT, hashlib.sha256(PHOTO).digest() + PHOTO)
HEAD = struct.Struct(">BQ")

# name: (payload sections, reason, whether opened_stream hands out the bundle before the fault)
MALFORMED: dict[str, tuple[list[bytes], str, bool]] = {
    "a body that does not match its hash": (
        [RECS, section(ATTACHMENT, hashlib.sha256(PHOTO).digest() + PHOTO[:-1] + b"!"), FIN],
        "attachment-invalid",
        False,
    ),
    "another file's hash": (
        [RECS, section(ATTACHMENT, hashlib.sha256(b"other").digest() + PHOTO), FIN],
        "attachment-invalid",
        False,
    ),
    "a good attachment, then a bad one": (
        [RECS, ATT, section(ATTACHMENT, bytes(32) + PHOTO), FIN],
        "attachment-invalid",
        False,
    ),
    "an empty body under a non-empty file's hash": (
        [RECS, section(ATTACHMENT, hashlib.sha256(PHOTO).digest()), FIN],
        "attachment-invalid",
        False,
    ),
    "an attachment section shorter than a hash": (
        [RECS, section(ATTACHMENT, hashlib.sha256(b"").digest()[:31]), FIN],
        "payload-invalid",
        False,
    ),
    "an attachment section of length 0": (
        [RECS, section(ATTACHMENT, b""), FIN],
        "payload-invalid",
        False,
    ),
    "an attachment longer than the payload": (
        [RECS, HEAD.pack(ATTACHMENT, 32 + len(PHOTO) + 100), ATT[HEAD.size :], FIN],
        "payload-invalid",
        False,
    ),
    "an unknown section kind": ([RECS, section(3, b"xyz"), FIN], "payload-invalid", False),
    "an unknown empty section kind": ([RECS, section(255, b""), FIN], "payload-invalid", False),
    "an end section with a body": ([RECS, section(END, b"\x00")], "payload-invalid", False),
    "a byte after the end": ([RECS, FIN, b"\x00"], "payload-invalid", False),
    "a second end": ([RECS, FIN, FIN], "payload-invalid", False),
    "an attachment after the end": ([RECS, FIN, ATT], "payload-invalid", False),
    "no end": ([RECS, ATT], "payload-invalid", False),
    "an end cut short": ([RECS, FIN[:5]], "payload-invalid", False),
    "a records section of length 0": ([section(RECORDS, b""), RECS, FIN], "payload-invalid", False),
    # the sections are well formed: the missing record stream is found while reading records
    "no records section (an attachment and the end)": ([ATT, FIN], "payload-invalid", True),
    "no records section (only the end)": ([FIN], "payload-invalid", True),
}


def _raw(net: Net, payload: list[bytes], chunk_bytes: int) -> bytes:
    header = new_header(COUNTY_A, [CITY], NOW)
    return seal_raw(
        header, payload, *_sender(net, COUNTY_A), chunk_bytes=chunk_bytes, sections=False
    )


def test_the_raw_sections_are_what_seal_writes(net: Net) -> None:
    # the baseline of the attacks: the same construction, well formed, opens
    for chunk_bytes in (DEFAULTS.chunk_bytes, 5):
        opened = net.open(CITY, _raw(net, [RECS, ATT, FIN], chunk_bytes))
        assert opened.records == [{"a": 1}]
        assert opened.attachments == {sha(PHOTO): PHOTO}
    # an empty file is a hash and nothing more
    opened = net.open(CITY, _raw(net, [RECS, section(ATTACHMENT, bytes.fromhex(sha(b""))), FIN], 5))
    assert opened.attachments == {sha(b""): b""}


@pytest.mark.parametrize("chunk_bytes", [DEFAULTS.chunk_bytes, 5], ids=["one chunk", "5-byte"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_attachment_sections_are_refused(
    net: Net, tmp_path: Path, case: str, chunk_bytes: int
) -> None:
    payload, reason, handed_out = MALFORMED[case]
    data = _raw(net, payload, chunk_bytes)
    net.refuses(CITY, data, reason)  # open_bundle: nothing returned
    handed = stream_refuses(net, data, reason, tmp_path / "staging")
    if handed_out:
        # signature and every section were fine: the (hash-checked) attachments were handed
        # out, and the fault surfaced while iterating the records
        assert handed is not None
        assert [s.sha256 for s in handed] == ([sha(PHOTO)] if ATT in payload else [])
    else:
        assert handed is None


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_payload_fault_under_a_bad_signature_is_refused_for_the_signature(
    net: Net, tmp_path: Path, case: str
) -> None:
    payload, _, _ = MALFORMED[case]
    data = _raw(net, payload, 64)
    bad = flip(data, len(data) - 1, 3)  # the signature's last byte
    net.refuses(CITY, bad, "signature")
    assert stream_refuses(net, bad, "signature", tmp_path / "staging") is None
    # and from another deployment's node under the same id, its sender is unknown
    foreign = net.foreign[COUNTY_A]
    header = new_header(COUNTY_A, [CITY], NOW)
    data = seal_raw(header, payload, foreign.keys, foreign.chain, net.encryption, sections=False)
    net.refuses(CITY, data, "unknown-sender")


def test_attachments_count_against_the_decompressed_limit(net: Net, tmp_path: Path) -> None:
    first, second = PHOTO * 10, random.Random(1).randbytes(400)
    (tmp_path / "a").write_bytes(first)
    (tmp_path / "b").write_bytes(second)
    records = [item_record({"a": first, "b": second})]
    pairs = [(sha(first), tmp_path / "a"), (sha(second), tmp_path / "b")]
    data = seal_files(net, COUNTY_A, [CITY], records, pairs, SMALL_CHUNKS)
    inflated = sum(
        len(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for r in records
    )
    total = len(first) + len(second) + inflated

    exact = dataclasses.replace(DEFAULTS, max_decompressed_bytes=total)
    assert net.open(CITY, data, limits=exact).attachments == {
        sha(first): first,
        sha(second): second,
    }
    # one byte less: the attachments fit, the records then overrun what is left
    tight = dataclasses.replace(DEFAULTS, max_decompressed_bytes=total - 1)
    net.refuses(CITY, data, "decompressed-too-large", limits=tight)
    handed = stream_refuses(net, data, "decompressed-too-large", tmp_path / "s1", tight)
    assert handed is not None and [s.sha256 for s in handed] == [sha(first), sha(second)]
    # attachments alone over the limit: refused before anything is handed out
    for limit in (len(first) + len(second) - 1, len(first), 1):
        over = dataclasses.replace(DEFAULTS, max_decompressed_bytes=limit)
        net.refuses(CITY, data, "decompressed-too-large", limits=over)
        assert stream_refuses(net, data, "decompressed-too-large", tmp_path / "s2", over) is None
    # ... and the over-limit attachment is the raw kind, declared before any of its bytes
    big = section(ATTACHMENT, hashlib.sha256(PHOTO).digest() + PHOTO)
    raw = _raw(net, [RECS, big, FIN], 64)
    over = dataclasses.replace(DEFAULTS, max_decompressed_bytes=len(PHOTO) - 1)
    net.refuses(CITY, raw, "decompressed-too-large", limits=over)


def test_staging_of_a_refused_bundle_is_removed(net: Net, tmp_path: Path) -> None:
    # a good attachment is fully staged, then the next one fails its hash
    payload = [RECS, ATT, section(ATTACHMENT, bytes(32) + PHOTO * 100), FIN]
    stream_refuses(net, _raw(net, payload, 64), "attachment-invalid", tmp_path / "a")
    # every attachment good, a fault only after the end
    stream_refuses(
        net, _raw(net, [RECS, ATT, ATT, FIN, b"!"], 64), "payload-invalid", tmp_path / "b"
    )
    # every attachment good, the chunks cut off before the trailer
    data = _raw(net, [RECS, ATT, FIN], 64)
    layout = parse_layout(data)
    stream_refuses(net, data[: layout.chain_length_at], "truncated", tmp_path / "c")
    stream_refuses(net, flip(data, layout.frames[-1].body, 0), "chunk-auth", tmp_path / "d")
    # every attachment good, the signature bad
    stream_refuses(net, flip(data, len(data) - 1, 0), "signature", tmp_path / "e")
    # the context was entered, and the record stream faulted
    stream_refuses(net, _raw(net, [ATT, FIN], 64), "payload-invalid", tmp_path / "f")
    # the caller's own error inside the context
    staging = tmp_path / "g"
    staging.mkdir()
    node = net.nodes[CITY]
    with (
        pytest.raises(KeyError),
        opened_stream(io.BytesIO(data), CITY, node.keys, net.root, NOW, staging=staging) as opened,
    ):
        assert opened.attachments[0].path.is_file()
        raise KeyError("the caller gave up")
    assert list(staging.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Sealing checks the files it is given


def test_seal_refuses_a_file_that_no_longer_matches_its_hash(net: Net, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(PHOTO * 100)
    digest = sha(PHOTO * 100)
    assert net.open(CITY, seal_files(net, COUNTY_A, [CITY], [], [(digest, path)])).attachments
    changed = {
        "one byte changed": PHOTO * 99 + PHOTO[:-1] + b"!",
        "shorter": PHOTO * 99,
        "longer": PHOTO * 101,
        "emptied": b"",
    }
    for bytes_now in changed.values():
        path.write_bytes(bytes_now)
        with pytest.raises(SyncError, match="附件"):
            seal_files(net, COUNTY_A, [CITY], [], [(digest, path)], SMALL_CHUNKS)
    # a hash of the wrong length
    path.write_bytes(PHOTO)
    with pytest.raises(SyncError, match="附件校验值无效"):
        seal_files(net, COUNTY_A, [CITY], [], [(sha(PHOTO)[:62], path)])


def test_seal_refuses_a_hash_that_is_not_hex_with_a_sync_error(net: Net, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(PHOTO)
    with pytest.raises(SyncError, match="附件校验值无效"):
        seal_files(net, COUNTY_A, [CITY], [], [("附件" * 32, path)])


# ---------------------------------------------------------------------------------------------
# Streaming a 1 GiB attachment

GIB_SCRIPT = """
import hashlib, json, os, resource, struct, sys, time
from datetime import datetime
from pathlib import Path

from schema.node import NodeHome
from syncd.bundle import new_header, opened_stream, seal
from syncd.enrolment import load_chain, load_root
from syncd.keys import load_keys

def peak_kib():
    # VmHWM is this process's own high-water mark; ru_maxrss keeps the forking parent's (the
    # pytest process, which grows over a full run) across exec
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


baseline = peak_kib()  # after the imports
sender_id, sender_home, me, my_home, work, when = sys.argv[1:7]
now = datetime.fromisoformat(when)
work = Path(work)
seconds = {}
mark = time.perf_counter()

# 1 GiB: a random MiB, numbered in its first 8 bytes so that no two MiB are alike
block = bytearray(os.urandom(1 << 20))
digest = hashlib.sha256()
source = work / "big.bin"
with source.open("wb") as fh:
    for n in range(1024):
        struct.pack_into(">Q", block, 0, n)
        digest.update(block)
        fh.write(block)
expected = digest.hexdigest()
seconds["generate"], mark = time.perf_counter() - mark, time.perf_counter()

keys = load_keys(Path(sender_home), None)
chain = load_chain(NodeHome(Path(sender_home)))
my_keys = load_keys(Path(my_home), None)
root = load_root(NodeHome(Path(my_home)))
record = {"kind": "item", "payload": {"attachments": [
    {"name": "big.bin", "sha256": expected, "size": source.stat().st_size}]}}
bundle = work / "big.xbb"
with bundle.open("wb") as out:
    seal(new_header(sender_id, [me], now), [record], keys, chain,
         {me: my_keys.encryption_public}, out, None, [(expected, source)])
source.unlink()
seconds["seal"], mark = time.perf_counter() - mark, time.perf_counter()

staging = work / "staging"
staging.mkdir()
with bundle.open("rb") as fh, opened_stream(fh, me, my_keys, root, now, staging=staging) as opened:
    records = list(opened.records)
    (staged,) = opened.attachments
    check = hashlib.sha256()
    with staged.path.open("rb") as got:
        while piece := got.read(1 << 20):
            check.update(piece)
    inside = {"exists": staged.path.is_file(), "size": staged.path.stat().st_size,
              "sha256": check.hexdigest(), "reported": staged.sha256, "reported_size": staged.size}
seconds["open"] = time.perf_counter() - mark
print(json.dumps({
    "expected": expected,
    "bundle_bytes": bundle.stat().st_size,
    "records": records == [record],
    "staged": inside,
    "left_in_staging": [p.name for p in staging.iterdir()],
    "baseline_rss_kib": baseline,
    "peak_rss_kib": peak_kib(),
    "seconds": seconds,
}))
"""


def test_a_1_gib_attachment_streams_through_seal_and_open_in_flat_memory(
    net: Net, tmp_path: Path
) -> None:
    work = tmp_path / "gib"
    work.mkdir()
    script = work / "gib.py"
    script.write_text(textwrap.dedent(GIB_SCRIPT), "utf-8")
    sender, me = net.nodes[COUNTY_A], net.nodes[CITY]
    args = [COUNTY_A, str(sender.home.path), CITY, str(me.home.path), str(work), NOW.isoformat()]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        elapsed = time.perf_counter() - start
        shutil.rmtree(work, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    peak, baseline = report["peak_rss_kib"] * 1024, report["baseline_rss_kib"] * 1024
    figures = ", ".join(f"{k} {v:.1f} s" for k, v in report["seconds"].items())
    print(
        f"1 GiB attachment: peak RSS {peak / MIB:.0f} MiB ({baseline / MIB:.0f} MiB after the "
        f"imports); {figures}; total {elapsed:.1f} s"
    )
    staged = report["staged"]
    assert staged["exists"] and staged["size"] == 1 << 30 == staged["reported_size"]
    assert staged["sha256"] == report["expected"] == staged["reported"]
    assert report["records"] and report["left_in_staging"] == []
    assert report["bundle_bytes"] > 1 << 30
    assert peak < 128 * MIB, f"peak RSS {peak / MIB:.0f} MiB for a 1 GiB attachment"


def test_attachments_hashed_on_a_thread_give_the_same_answers(
    net: Net, tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: a large attachment is hashed on a thread of its own at both ends. With every
    attachment sent there, round trips are byte exact, a body not matching its hash is still
    refused, a file changed under the seal still fails it — and no hashing thread is left."""
    monkeypatch.setattr(bx, "THREAD_HASH_FROM", 0)
    before = threading.active_count()
    test_records_and_attachments_reach_every_recipient_byte_exact(net, tmp_path, files)
    for case, (payload, reason, _) in MALFORMED.items():
        if reason == "attachment-invalid":
            net.refuses(CITY, _raw(net, payload, 64), reason)
            assert stream_refuses(net, _raw(net, payload, 64), reason, tmp_path / case) is None
    (tmp_path / "seal").mkdir()
    test_seal_refuses_a_file_that_no_longer_matches_its_hash(net, tmp_path / "seal")
    assert threading.active_count() == before


def test_one_hashing_thread_feeds_several_hashes_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: a seal's or open's hashes (the ciphertext's, each attachment's) share one
    thread, started once ``THREAD_HASH_FROM`` bytes have been given. Each hash sees its own
    pieces in order — inline before the start, on the thread after, inline again once the
    thread has ended — and a digest waits for what is queued."""
    monkeypatch.setattr(bx, "THREAD_HASH_FROM", 3000)
    monkeypatch.setattr(bx, "_HASH_BATCH", 700)
    before = threading.active_count()
    rng = random.Random(19)
    pieces = [rng.randbytes(rng.randrange(1, 400)) for _ in range(60)]
    with bx.Hashing() as hashing:
        first, second = hashing.sha256(), hashing.sha256()
        mirror = [hashlib.sha256(), hashlib.sha256()]
        for n, piece in enumerate(pieces[:40]):
            target = n % 2
            (first, second)[target].update(memoryview(piece))
            mirror[target].update(piece)
            if n == 5:  # before the thread
                assert threading.active_count() == before
        assert threading.active_count() == before + 1
        assert first.digest() == mirror[0].digest()  # waits for the queue
        for piece in pieces[40:50]:
            second.update(piece)
            mirror[1].update(piece)
        hashing.close()
        assert threading.active_count() == before
        for piece in pieces[50:]:  # after the thread: inline, after what was pending
            second.update(piece)
            mirror[1].update(piece)
        assert second.digest() == mirror[1].digest()
    with bx.Hashing() as hashing:  # closed before its thread started: none starts after
        late = hashing.sha256()
        hashing.close()
        late.update(b"x" * 5000)
        assert threading.active_count() == before
        assert late.digest() == hashlib.sha256(b"x" * 5000).digest()

    class Broken:
        def update(self, data: Any) -> None:
            raise MemoryError("no room")

    hashing = bx.Hashing()
    assert hashing.threaded(5000)
    for _ in range(20):  # more batches than the queue holds: the thread keeps taking them
        hashing.put(Broken(), [b"x"])
    with pytest.raises(SyncError, match="no room"):
        hashing.wait()
    with pytest.raises(SyncError):
        hashing.close()
    assert threading.active_count() == before


def test_a_large_file_is_handed_to_write_back_while_it_is_written(
    net: Net, tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: the sealed bundle file and each staged attachment are fdatasync'd on a thread
    as they grow (every ``FLUSH_EVERY`` bytes), so the final fsync finds little left; nothing
    is done for an in-memory output, and no thread is left. (The bundle file is written, and
    read back, a little slowly: the thread gets its turn before a small file is finished.)"""

    class Slow(io.FileIO):
        def write(self, data: Any) -> int:
            time.sleep(0.002)
            return super().write(data)

        def read(self, size: int = -1) -> bytes:
            time.sleep(0.002)
            return super().read(size)

    monkeypatch.setattr(bx, "FLUSH_EVERY", 1024)
    synced: list[tuple[int, int]] = []  # (inode, size at the call)
    real = bx.os.fdatasync

    def fdatasync(fd: int) -> None:
        info = bx.os.fstat(fd)
        synced.append((info.st_ino, info.st_size))
        real(fd)

    monkeypatch.setattr(bx.os, "fdatasync", fdatasync)
    before = threading.active_count()
    pairs = [(sha(files["大.jpg"]), tmp_path / "src" / "大.jpg")]
    node = net.nodes[COUNTY_A]
    bundle = tmp_path / "large.xbb"
    with Slow(bundle, "wb") as out:
        header = new_header(COUNTY_A, [CITY], NOW)
        bx.seal(
            header,
            [item_record(files)],
            node.keys,
            node.chain,
            net.encryption,
            out,
            SMALL_CHUNKS,
            pairs,
        )
    seal_calls = [size for inode, size in synced if inode == bundle.stat().st_ino]
    assert seal_calls and all(0 < size < bundle.stat().st_size for size in seal_calls)
    synced.clear()
    staging = tmp_path / "staging"
    staging.mkdir()
    city = net.nodes[CITY]
    with (
        Slow(bundle, "rb") as fh,
        opened_stream(fh, CITY, city.keys, net.root, NOW, staging=staging) as opened,
    ):
        (staged,) = opened.attachments
        assert staged.path.read_bytes() == files["大.jpg"]
        open_calls = [size for inode, size in synced if inode == staged.path.stat().st_ino]
        assert any(open_calls) and all(size <= staged.size for size in open_calls)
    synced.clear()
    seal_files(net, COUNTY_A, [CITY], [item_record(files)], pairs, SMALL_CHUNKS)  # to memory
    assert synced == []
    assert threading.active_count() == before


def test_a_bundle_written_by_the_daemon_is_handed_to_write_back(
    net: Net, tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon writes a sealed bundle through a hashing wrapper (its name is its content's
    hash, ``transfer.write_sealed``); the wrapper gives the seal the file itself to flush."""
    from syncd.transfer import write_sealed

    given: list[int | None] = []

    class Seen(bx.Flusher):
        def __init__(self, out: Any) -> None:
            super().__init__(out)
            given.append(self._fd)

    monkeypatch.setattr(bx, "Flusher", Seen)
    pairs = [(sha(files["大.jpg"]), tmp_path / "src" / "大.jpg")]
    node = net.nodes[COUNTY_A]
    header = new_header(COUNTY_A, [CITY], NOW)
    folder = tmp_path / "out"
    folder.mkdir()
    path = write_sealed(
        folder,
        lambda out: bx.seal(
            header, [item_record(files)], node.keys, node.chain, net.encryption, out, None, pairs
        ),
    )
    assert len(given) == 1 and given[0] is not None
    assert path.name == hashlib.sha256(path.read_bytes()).hexdigest() + ".xbb"
    assert net.open(CITY, path.read_bytes()).attachments == {pairs[0][0]: files["大.jpg"]}
