"""Write the golden bundle of format version 2 (run once by hand; the output is committed).

    .venv/bin/python -m tests.syncd.golden.make_v2

Version 2 signs each record by its maker (syncd/proof.py). The keys are the test-only keys of
the version 1 golden files (``v1/``), so both versions are opened by the same province; the
golden bundle must keep opening, and its records keep verifying, in every later version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schema.node import NodeHome
from syncd import enrolment
from syncd.bundle import Header, seal
from syncd.keys import load_keys
from syncd.proof import sign

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # within the v1 certificates' validity
ITEM_ID = "140200-2026-00002"
RECORDS = [
    {
        "id": ITEM_ID,
        "kind": "item",
        "version": 1,
        "origin": "140200",
        "payload": {
            "item": {
                "id": ITEM_ID,
                "origin": "140200",
                "revision": 1,
                "content": {
                    "title": "大同市多措并举保障困难群众温暖过冬",
                    "category": "经验做法",
                    "urgency": "平急",
                    "classification": "内部",
                    "author": "张三",
                    "body": "入冬以来，大同市聚焦困难群众取暖保障，摸清底数、兜牢底线。",
                },
                "signer": "王某",
                "signed_at": "2026-11-21T16:00:00+08:00",
                "created_at": "2026-11-21T15:00:00+08:00",
                "sources": [],
                "derivation": "",
            },
            "edges": [["140200", "140000"]],
        },
    },
    {
        "id": "edge:140212-2026-00003:140212>140200",
        "kind": "decision",
        "version": 2,
        "origin": "140200",
        "payload": {"state": "已采用", "note": "拟用于每日要情/1"},
    },
]


def main() -> None:
    city = NodeHome(HERE / "v1" / "140200")
    keys = load_keys(city.path, None)
    chain = enrolment.load_chain(city)
    assert chain is not None
    header = Header(
        id="0" * 31 + "2",
        sender="140200",
        recipients=("140000",),
        created=int(NOW.timestamp()),
        expires=int(NOW.timestamp()) + 30 * 86400,
        priority=0,
        hop_limit=8,
    )
    signed = [sign(record, header.recipients, keys) for record in RECORDS]
    (HERE / "v2").mkdir(exist_ok=True)
    with open(HERE / "v2" / "bundle.xbb", "wb") as out:
        seal(header, signed, keys, chain, enrolment.encryption_keys(city), out)


if __name__ == "__main__":
    main()
