"""The spool's seen-set and quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from syncd.spool import Spool, content_name

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_the_seen_set_survives_reopening_and_is_pruned_after_expiry(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    t = int(NOW.timestamp())
    spool.remember("a" * 32, "140212", expires=t - 3600, now=NOW)
    spool.remember("b" * 32, "140212", expires=t + 3600, now=NOW)
    spool.close()
    spool = Spool(tmp_path)
    assert spool.seen("a" * 32) and spool.seen("b" * 32)
    assert spool.prune(NOW, keep_seconds=300) == 1
    assert not spool.seen("a" * 32) and spool.seen("b" * 32)
    spool.close()


def test_quarantine_keeps_the_bytes_under_their_hash_with_a_reason(tmp_path: Path) -> None:
    source = tmp_path / "carried.xbb"
    source.write_bytes(b"XINBAOB\x00 not really")
    spool = Spool(tmp_path / "home")
    kept = spool.quarantine(source, "bad-magic", "不是信报数据包", NOW)
    assert kept.name == content_name(source.read_bytes())
    assert kept.read_bytes() == source.read_bytes()
    note = json.loads(kept.with_suffix(".json").read_text("utf-8"))
    assert note["reason"] == "bad-magic" and note["source"] == str(source)
    assert spool.quarantined() == [note]
    assert not list(kept.parent.glob(".*"))  # no temporary file left behind
    spool.close()
