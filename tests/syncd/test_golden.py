"""Golden bundles: every format version ever written keeps opening (STYLE.md habit 6)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schema.node import NodeHome
from syncd.bundle import BundleError, open_bundle, read_header
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
