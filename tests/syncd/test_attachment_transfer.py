"""Attachments carried over the air gap, end to end through the two command lines: a county
submits an item file with an attachment, signs it off and exports to its city; the city
imports, and its desk finds the file under its own home/attachments.

The network is test_transfer.py's (province → city → county, enrolled through the CLIs).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schema import outbox
from schema.node import NodeHome
from schema.store import Store
from syncd.bundle import new_header, seal
from syncd.enrolment import encryption_keys, load_chain
from syncd.keys import load_keys
from syncd.proof import sign
from syncd.transfer import record_dict
from tests.cli_helpers import Result, run
from tests.syncd import test_transfer
from tests.syncd.test_transfer import ok

net = test_transfer.net  # its module-scoped network fixture, built once for this module too

COUNTY, CITY = "140212", "140200"
# a recognisable text, long enough for the file to span several 64 KiB chunks
CAPTION = "新荣区某煤矿透水现场照片说明：井口排水作业正在进行，救援人员已下井搜救。"
PHOTO = CAPTION.encode() * 2000 + random.Random(2026).randbytes(1000)

ITEM = """\
title = "新荣区某煤矿发生透水事故"
category = "突发事件"
urgency = "特急"
author = "张三"
body = "11月21日14时35分，新荣区某煤矿井下发生透水，2人受伤。"
attachments = ["{name}"]
[incident]
severity = "较大"
occurred_at = "2026-11-21T14:35:00+08:00"
place = "新荣区某煤矿"
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def held_at(home: Path, digest: str) -> Path:
    return home / "attachments" / digest[:2] / digest


def submit(home: Path, folder: Path, name: str, data: bytes) -> Result:
    """``xinbao submit`` of an item file in ``folder`` listing the file ``name``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    (folder / "item.toml").write_text(ITEM.format(name=name), "utf-8")
    return ok(run("xinbao", "--json", "submit", str(folder / "item.toml"), home=home))


def attachment_lines(done: Result) -> list[str]:
    return [line for line in done.out.splitlines() if line.startswith("附件 ")]


def where(line: str) -> str:
    """What an 附件 line says about the file: its path, or （尚未收到）."""
    return line.rsplit("　", 1)[1]


def leftovers(home: Path) -> list[Path]:
    """Temporary files or folders (staging, half-written copies) under home/attachments."""
    return [p for p in (home / "attachments").rglob(".*")]


def test_an_attachment_travels_with_its_item_and_the_city_desk_finds_it(
    net: dict[str, Path], tmp_path: Path
) -> None:
    county, city = net[COUNTY], net[CITY]
    digest = sha(PHOTO)
    submitted = submit(county, tmp_path / "desk", "现场照片.jpg", PHOTO).json()
    item_id = submitted["id"]
    assert held_at(county, digest).read_bytes() == PHOTO  # copied in at submit
    listed = [{"name": "现场照片.jpg", "sha256": digest, "size": len(PHOTO)}]
    assert submitted["draft"]["attachments"] == listed
    (line,) = attachment_lines(ok(run("xinbao", "show", item_id, home=county)))
    assert Path(where(line)).resolve() == held_at(county, digest).resolve()
    ok(run("xinbao", "signoff", item_id, home=county))

    usb = tmp_path / "usb"
    exported = ok(
        run("xinbao-syncd", "--json", "export", "--peer", CITY, str(usb), home=county)
    ).json()
    assert len(exported) == 1
    data = (usb / exported[0]).read_bytes()
    assert len(data) > len(PHOTO)  # the file travels in the bundle ...
    for secret in (CAPTION, CAPTION[:8], "现场照片"):
        assert secret.encode() not in data  # ... and only encrypted

    report = ok(run("xinbao-syncd", "--json", "import", str(usb), home=city)).json()
    assert (len(report["applied"]), report["quarantined"]) == (1, [])
    shown = ok(run("xinbao", "show", item_id, home=city))
    (line,) = attachment_lines(shown)
    assert line.startswith("附件 现场照片.jpg（")
    path = Path(where(line))
    assert path.resolve() == held_at(city, digest).resolve()
    assert path.read_bytes() == PHOTO
    as_json = ok(run("xinbao", "--json", "show", item_id, home=city)).json()
    assert as_json["item"]["draft"]["attachments"] == listed
    assert leftovers(city) == []


def test_an_attachment_that_did_not_travel_is_shown_as_not_yet_received(
    net: dict[str, Path], tmp_path: Path
) -> None:
    county, city = net[COUNTY], net[CITY]
    data = PHOTO + "（另一张）".encode()
    digest = sha(data)
    item_id = submit(county, tmp_path / "desk", "另一张.jpg", data).json()["id"]
    held_at(county, digest).unlink()  # lost at the county before it was exported
    ok(run("xinbao", "signoff", item_id, home=county))
    usb = tmp_path / "usb"
    ok(run("xinbao-syncd", "export", "--peer", CITY, str(usb), home=county))
    ok(run("xinbao-syncd", "import", str(usb), home=city))
    (line,) = attachment_lines(ok(run("xinbao", "show", item_id, home=city)))
    assert line.startswith("附件 另一张.jpg（")
    assert where(line) == "（尚未收到）"
    assert not held_at(city, digest).exists()


def _seal_from_county(
    county: Path, records: list[dict[str, Any]], files: list[tuple[str, Path]], folder: Path
) -> Path:
    """A bundle file sealed with the county's own keys, as ``export`` seals one."""
    home = NodeHome(county)
    chain = load_chain(home)
    assert chain is not None
    out = io.BytesIO()
    header = new_header(COUNTY, [CITY], datetime.now(UTC))
    keys = load_keys(county, None)
    # whole records are signed by the county as their maker (syncd/proof.py); broken ones
    # cannot be, and are refused for it
    whole = {"id", "kind", "version", "origin", "payload"}
    records = [sign(r, [CITY], keys) if whole <= r.keys() else r for r in records]
    seal(header, records, keys, chain, encryption_keys(home), out, None, files)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (sha(out.getvalue()) + ".xbb")
    path.write_bytes(out.getvalue())
    return path


def test_import_keeps_the_attachments_a_bundle_carries(
    net: dict[str, Path], tmp_path: Path
) -> None:
    # what export would seal for an item that refers to its attachment: the county's queued
    # record, and the file as the county holds it
    county, city = net[COUNTY], net[CITY]
    data = PHOTO + "（第三张）".encode()
    digest = sha(data)
    item_id = submit(county, tmp_path / "desk", "第三张.jpg", data).json()["id"]
    ok(run("xinbao", "signoff", item_id, home=county))
    store = Store.open(county / "store.db")
    try:
        (queued,) = [q for q in outbox.pending(store) if q.record.id == item_id]
        files = [(digest, held_at(county, digest))]
        path = _seal_from_county(
            county, [record_dict(queued, load_keys(county, None))], files, tmp_path / "usb"
        )
        outbox.mark_shipped(store, [queued.seq], datetime.now(UTC))
    finally:
        store.close()
    bundle = path.read_bytes()
    assert CAPTION[:8].encode() not in bundle and len(bundle) > len(data)

    assert not held_at(city, digest).exists()
    report = ok(run("xinbao-syncd", "--json", "import", str(path.parent), home=city)).json()
    assert (report["applied"], report["quarantined"]) == ([path.name], [])
    assert held_at(city, digest).read_bytes() == data
    assert leftovers(city) == []
    inbox = ok(run("xinbao", "--json", "list", "--inbox", home=city)).json()
    assert item_id in [r["item_id"] for r in inbox]


@pytest.mark.parametrize(
    "records",
    [[{"kind": "item"}], [{"id": "x", "kind": "item", "version": 1, "origin": COUNTY}]],
    ids=["a record without its fields", "a record without a payload"],
)
def test_a_refused_bundle_leaves_no_attachment_behind(
    net: dict[str, Path], tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    # DESIGN.md §2: a bundle that fails any check is never applied and nothing stored changes;
    # here the attachment is good and only the record stream fails, after it was staged
    county, city = net[COUNTY], net[CITY]
    data = json.dumps(records).encode() + CAPTION.encode()
    digest = sha(data)
    (tmp_path / "file").write_bytes(data)
    path = _seal_from_county(county, records, [(digest, tmp_path / "file")], tmp_path / "usb")
    report = ok(run("xinbao-syncd", "--json", "import", str(path.parent), home=city)).json()
    assert (report["applied"], report["quarantined"]) == ([], [[path.name, "record-signature"]])
    assert leftovers(city) == []
    assert not held_at(city, digest).exists()
