"""Golden bundles: every format version ever written keeps opening (STYLE.md habit 6)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schema.node import NodeHome
from syncd.bundle import BundleError, open_bundle, opened_stream, read_header
from syncd.enrolment import load_root
from syncd.keys import load_keys
from tests.syncd.golden.make_v1 import ATTACHMENT, ATTACHMENT_SHA256, NOW, RECORDS

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"


def test_the_version_1_golden_bundle_still_opens() -> None:
    province = NodeHome(GOLDEN / "140000")
    root = load_root(province)
    assert root is not None
    with open(GOLDEN / "bundle.xbb", "rb") as fh:
        header = read_header(fh)
        fh.seek(0)
        opened = open_bundle(
            fh, "140000", load_keys(province.path, None), root, NOW + timedelta(hours=1)
        )
    assert (header.sender, header.recipients, header.priority) == ("140200", ("140000",), 9)
    assert opened.records == RECORDS
    assert opened.attachments == {ATTACHMENT_SHA256: ATTACHMENT}


def test_the_golden_bundle_is_refused_after_its_expiry() -> None:
    province = NodeHome(GOLDEN / "140000")
    with open(GOLDEN / "bundle.xbb", "rb") as fh, pytest.raises(BundleError) as info:
        open_bundle(
            fh,
            "140000",
            load_keys(province.path, None),
            load_root(province),  # type: ignore[arg-type]
            NOW + timedelta(days=31),
        )
    assert info.value.reason == "expired"


GOLDEN_V2 = Path(__file__).resolve().parent / "golden" / "v2"


def test_the_version_2_golden_bundle_opens_and_its_records_verify() -> None:
    from schema import authority
    from syncd.proof import Verifier
    from tests.syncd.golden.make_v2 import NOW as NOW_V2
    from tests.syncd.golden.make_v2 import RECORDS as RECORDS_V2

    province = NodeHome(GOLDEN / "140000")
    root = load_root(province)
    assert root is not None
    at = NOW_V2 + timedelta(hours=1)
    with open(GOLDEN_V2 / "bundle.xbb", "rb") as fh:
        assert fh.read(10) == b"XINBAOB\x00\x00\x02"
        fh.seek(0)
        with opened_stream(fh, "140000", load_keys(province.path, None), root, at) as op:
            assert op.version == 2 and op.sender is not None
            verifier = Verifier(op.sender, op.chain, root, at, frozenset())
            raws = list(op.records)
    assert [{k: r[k] for k in ("id", "kind", "version", "origin", "payload")} for r in raws] == (
        RECORDS_V2
    )
    item, to = verifier.verify(raws[0])
    assert (item.origin, to) == ("140200", ("140000",))
    authority.check(item, "140000", to)
    # one changed character anywhere in what was signed and the record no longer verifies
    tampered = {**raws[0], "to": ["140000", "140100"]}
    with pytest.raises(BundleError) as info:
        verifier.verify(tampered)
    assert info.value.reason == "record-signature"


GOLDEN_V3 = Path(__file__).resolve().parent / "golden" / "v3"


@pytest.mark.parametrize("name", ["bundle.xbb", "narrowed.xbb"])
def test_the_version_3_golden_bundles_open_whole_and_narrowed(name: str) -> None:
    from syncd.proof import Verifier
    from tests.syncd.golden.make_v2 import NOW as NOW_V2
    from tests.syncd.golden.make_v2 import RECORDS as RECORDS_V2

    province = NodeHome(GOLDEN / "140000")
    root = load_root(province)
    assert root is not None
    at = NOW_V2 + timedelta(hours=1)
    data = (GOLDEN_V3 / name).read_bytes()
    assert data[:10] == b"XINBAOB\x00\x00\x03"
    header = read_header(io.BytesIO(data))
    assert header.recipient_count == 2
    whole = name == "bundle.xbb"
    assert header.recipients == (("140000", "140100") if whole else ("140000",))
    with opened_stream(io.BytesIO(data), "140000", load_keys(province.path, None), root, at) as op:
        assert op.version == 3 and op.sender is not None
        verifier = Verifier(op.sender, op.chain, root, at, frozenset())
        raws = list(op.records)
    assert [{k: r[k] for k in ("id", "kind", "version", "origin", "payload")} for r in raws] == (
        RECORDS_V2
    )
    item, to = verifier.verify(raws[0])
    assert (item.origin, to) == ("140200", ("140000", "140100"))


def test_a_version_3_bundle_relabelled_as_version_2_does_not_open() -> None:
    province = NodeHome(GOLDEN / "140000")
    data = (GOLDEN_V3 / "bundle.xbb").read_bytes()
    relabelled = data[:8] + b"\x00\x02" + data[10:]
    with pytest.raises(BundleError) as info:
        open_bundle(
            io.BytesIO(relabelled),
            "140000",
            load_keys(province.path, None),
            load_root(province),  # type: ignore[arg-type]
            datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        )
    assert info.value.reason == "header-invalid"


def test_the_version_3_hybrid_golden_bundle_opens_with_the_hybrid_key() -> None:
    from syncd.bundle import SUITE_HYBRID, read_front
    from syncd.keys import NodeKeys
    from tests.syncd.golden.make_v2 import NOW as NOW_V2
    from tests.syncd.golden.make_v2 import RECORDS as RECORDS_V2
    from tests.syncd.golden.make_v3 import PROVINCE_HYBRID

    province = NodeHome(GOLDEN / "140000")
    root = load_root(province)
    assert root is not None
    classic = load_keys(province.path, None)
    data = (GOLDEN_V3 / "hybrid.xbb").read_bytes()
    (entry,) = read_front(io.BytesIO(data)).entries
    assert (entry.recipient, entry.suite, len(entry.wrapped)) == ("140000", SUITE_HYBRID, 1168)
    keys = NodeKeys(classic.signing, classic.encryption, PROVINCE_HYBRID)
    at = NOW_V2 + timedelta(hours=1)
    opened = open_bundle(io.BytesIO(data), "140000", keys, root, at)
    assert [
        {k: r[k] for k in ("id", "kind", "version", "origin", "payload")} for r in (opened.records)
    ] == RECORDS_V2
    # without the hybrid key it does not open
    with pytest.raises(BundleError) as info:
        open_bundle(io.BytesIO(data), "140000", classic, root, at)
    assert info.value.reason == "unwrap-failed"
