"""Write the golden bundle of format version 1 (run once by hand; the output is committed).

    .venv/bin/python tests/syncd/golden/make_v1.py

The keys here are test-only keys made for this file and used nowhere else. The golden bundle
must keep opening in every later version of the code (tests/syncd/test_golden.py).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from schema.node import NodeConfig, NodeHome
from schema.vocabulary import Tier
from syncd import enrolment
from syncd.bundle import Header, seal
from syncd.home import init_node
from syncd.keys import load_keys

HERE = Path(__file__).resolve().parent / "v1"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
RECORDS = [
    {
        "id": "140200-2026-00001",
        "kind": "item",
        "version": 1,
        "origin": "140200",
        "payload": {"title": "大同市多措并举保障困难群众温暖过冬", "body": "入冬以来……"},
    },
    {
        "id": "edge:140212-2026-00003:140212>140200",
        "kind": "decision",
        "version": 2,
        "origin": "140200",
        "payload": {"state": "已采用", "note": "拟用于每日要情/1"},
    },
]

# an attachment travels by content hash; the record refers to it
ATTACHMENT = "新荣区某煤矿现场照片（测试用附件）\n".encode() * 300
ATTACHMENT_SHA256 = hashlib.sha256(ATTACHMENT).hexdigest()
RECORDS[0]["payload"]["attachments"] = [
    {"name": "现场照片.jpg", "sha256": ATTACHMENT_SHA256, "size": len(ATTACHMENT)}
]


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    province, city = NodeHome(HERE / "140000"), NodeHome(HERE / "140200")
    init_node(province, NodeConfig("140000", "山西省人民政府办公厅", Tier.PROVINCE), "test", NOW)
    init_node(city, NodeConfig("140200", "大同市人民政府办公室", Tier.CITY, "140000"), "test", NOW)
    _, pem = enrolment.issue_for(province, enrolment.request(city), NOW)
    enrolment.install(city, pem, NOW)
    for home in (province, city):
        home.store_path.unlink()
        for extra in home.path.glob("store.db-*"):
            extra.unlink()
    header = Header(
        id="0" * 31 + "1",
        sender="140200",
        recipients=("140000",),
        created=int(NOW.timestamp()),
        expires=int(NOW.timestamp()) + 30 * 86400,
        priority=9,
        hop_limit=8,
    )
    keys = load_keys(city.path, None)
    chain = enrolment.load_chain(city)
    assert chain is not None
    with tempfile.TemporaryDirectory() as folder, open(HERE / "bundle.xbb", "wb") as out:
        file = Path(folder) / "attachment"
        file.write_bytes(ATTACHMENT)
        attachments = [(ATTACHMENT_SHA256, file)]
        seal(header, RECORDS, keys, chain, enrolment.encryption_keys(city), out, None, attachments)


if __name__ == "__main__":
    main()
