"""A. Attacks on the bundle itself, carried to the city on a stick (``xinbao-syncd import``).

Regression cases: each passed before the record-signing work. One volley is imported into the
city: every tampered or untrusted bundle first, then a good bundle from the county (files are
taken in name order). Each case asserts that its file was quarantined with the expected reason
and a JSON note beside it, that the item inside it never reached the inbox, and that the good
bundle imported after it was applied. The replay case imports the applied good bundle again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.attack.conftest import (
    CITY,
    COUNTY,
    SIBLING,
    SPARE,
    Net,
    assert_refused,
    flip,
    import_bundles,
    import_volley,
    inbox,
    item_core,
    ok,
    parse_layout,
    quarantine_notes,
    refusals,
    resigned,
    status,
    to_be_signed,
    with_trailer,
)
from tests.cli_helpers import run

MIB = 1 << 20

# case → the reasons it may be refused for (the first is today's; a reordered check may
# name another fault of the same bundle)
CASES: dict[str, tuple[str, ...]] = {
    "a01-flip-header": ("signature",),
    "a02-flip-wrapped-key": ("keys-invalid", "unwrap-failed"),  # v3: the keys' tree, v2: HPKE
    "a03-flip-chunk": ("chunk-auth", "signature"),
    "a04-flip-chain": ("unknown-sender", "chain-invalid", "signature"),
    "a05-flip-signature": ("signature",),
    "a06-cut-in-header": ("truncated",),
    "a07-cut-in-keys": ("truncated",),
    "a08-cut-in-chunks": ("truncated",),
    "a09-cut-in-trailer": ("truncated",),
    "a10-cut-last-byte": ("truncated",),
    "a11-signature-stripped": ("truncated",),
    "a12-signature-zeroed": ("signature",),
    "a13-signature-swapped-for-siblings": ("sender-mismatch",),
    "a14-signature-of-another-bundle": ("signature",),
    "a15-foreign-root": ("unknown-sender",),
    "a16-revoked-sender": ("revoked-sender",),
    "a17-expired": ("expired",),
    "a18-compression-bomb": ("record-too-large", "decompressed-too-large"),
}
GOOD = "zz-good.xbb"


@dataclass
class Volley:
    report: dict[str, Any]
    notes: dict[str, dict[str, Any]]
    after: set[str]
    rows: dict[str, dict[str, Any]]  # the inbox after the volley, by item id
    files: dict[str, bytes]  # case → its bundle
    items: dict[str, str]  # case → the item id its bundle carries
    good_item: str
    good: bytes
    quarantined: int  # as `xinbao-syncd status --json` counts


def _record(
    net: Net, maker: str, item_id: str, title: str, *, foreign: bool = False
) -> dict[str, Any]:
    """An item for the city, made and signed by ``maker`` (of the foreign network if asked)."""
    return net.signed(item_core(maker, item_id, [CITY], title), foreign=foreign)


@pytest.fixture(scope="module")
def volley(net: Net, tmp_path_factory: pytest.TempPathFactory) -> Volley:
    carry = tmp_path_factory.mktemp("carry")
    city = net.home(CITY)
    ok(run("xinbao-syncd", "revoke", SPARE, "--reason", "密钥遗失", home=city))

    good_item, target = net.item_id(COUNTY), net.item_id(COUNTY)
    good = net.seal(COUNTY, [CITY], [_record(net, COUNTY, good_item, "新荣区完成供暖设施巡查")])
    base = net.seal(COUNTY, [CITY], [_record(net, COUNTY, target, "新荣区篡改目标信息")])
    other = net.seal(COUNTY, [CITY], [_record(net, COUNTY, net.item_id(COUNTY), "另一条信息")])
    lay = parse_layout(base)

    def mid(span: tuple[int, int]) -> int:
        return (span[0] + span[1]) // 2

    header = base[lay.header[0] : lay.header[1]]
    digit = lay.header[0] + header.index(b'"expires":') + len(b'"expires":') + 3
    first = lay.frames[0]
    files: dict[str, bytes] = {
        "a01-flip-header": flip(base, digit),
        "a02-flip-wrapped-key": flip(base, mid(lay.wrapped[0])),
        "a03-flip-chunk": flip(base, mid((first[0] + 4, first[1]))),
        "a04-flip-chain": flip(base, mid(lay.chain), 1),
        "a05-flip-signature": flip(base, mid(lay.signature)),
        "a06-cut-in-header": base[: mid(lay.header)],
        "a07-cut-in-keys": base[: mid(lay.wrapped[0])],
        "a08-cut-in-chunks": base[: mid((first[0] + 4, first[1]))],
        "a09-cut-in-trailer": base[: mid(lay.chain)],
        "a10-cut-last-byte": base[:-1],
        "a11-signature-stripped": base[: lay.signature[0]],
        "a12-signature-zeroed": base[: lay.signature[0]] + bytes(64),
        # the sibling signs the county's bundle with its own key and chain (Davis's
        # "signature stripping and replacement"); the header still names the county
        "a13-signature-swapped-for-siblings": resigned(
            base, net.keys(SIBLING), net.chain_pem(SIBLING).encode("ascii")
        ),
        "a14-signature-of-another-bundle": with_trailer(
            base, lay, base[lay.chain[0] : lay.chain[1]], other[-64:]
        ),
    }
    items = dict.fromkeys(files, target)

    foreign_item = net.item_id(COUNTY)
    files["a15-foreign-root"] = net.seal(
        COUNTY,
        [CITY],
        [_record(net, COUNTY, foreign_item, "外网节点冒充新荣区", foreign=True)],
        foreign=True,
    )
    items["a15-foreign-root"] = foreign_item

    revoked_item = net.item_id(SPARE)
    files["a16-revoked-sender"] = net.seal(
        SPARE, [CITY], [_record(net, SPARE, revoked_item, "已吊销节点的信息")]
    )
    items["a16-revoked-sender"] = revoked_item

    expired_item = net.item_id(COUNTY)
    files["a17-expired"] = net.seal(
        COUNTY,
        [CITY],
        [_record(net, COUNTY, expired_item, "过期数据包中的信息")],
        now=datetime.now(UTC) - timedelta(days=40),
        lifetime=timedelta(days=1),
    )
    items["a17-expired"] = expired_item

    # one record line that inflates past the one-record limit (17 MiB of zeros, ~17 kB packed)
    bomb_item = net.item_id(COUNTY)
    bomb = _record(net, COUNTY, bomb_item, "压缩炸弹")
    bomb["padding"] = "0" * (17 * MIB)
    files["a18-compression-bomb"] = net.seal(COUNTY, [CITY], [bomb])
    items["a18-compression-bomb"] = bomb_item
    assert len(files["a18-compression-bomb"]) < MIB

    assert set(files) == set(CASES)  # the city's inbox is empty before the volley
    report = import_volley(city, {f"{k}.xbb": v for k, v in files.items()} | {GOOD: good}, carry)
    rows = {str(row["item_id"]): row for row in inbox(city)}
    return Volley(
        report=report,
        notes=quarantine_notes(city),
        after=set(rows),
        rows=rows,
        files=files,
        items=items,
        good_item=good_item,
        good=good,
        quarantined=int(status(city)["quarantined"]),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_tampered_or_untrusted_bundle_is_quarantined_and_nothing_of_it_applied(
    volley: Volley, case: str
) -> None:
    assert_refused(volley.notes, volley.report, f"{case}.xbb", CASES[case])
    assert volley.items[case] not in volley.after, f"{case}: its item reached the inbox"
    # the good bundle imported after it was applied, and nothing else arrived
    assert GOOD in volley.report["applied"], volley.report
    assert volley.after == {volley.good_item}
    assert volley.quarantined >= len(CASES)


def test_the_swapped_signature_is_a_valid_one_by_the_sibling(net: Net, volley: Volley) -> None:
    """The swap is a real replacement, so its refusal is for the sender's identity, not for a
    broken signature: the sibling's signature verifies over the bytes as sent."""
    swapped = volley.files["a13-signature-swapped-for-siblings"]
    lay = parse_layout(swapped)
    net.keys(SIBLING).signing.public_key().verify(
        swapped[lay.signature[0] :], to_be_signed(swapped, lay)
    )


def test_a_replayed_bundle_is_acknowledged_again_but_not_applied_twice(
    net: Net, volley: Volley, tmp_path: Path
) -> None:
    city = net.home(CITY)
    ok(run("xinbao-syncd", "export", "--peer", COUNTY, str(tmp_path / "drain"), home=city))
    fresh = net.item_id(COUNTY)
    files = {
        "replay.xbb": volley.good,
        "zz-fresh.xbb": net.seal(COUNTY, [CITY], [_record(net, COUNTY, fresh, "新荣区又一条信息")]),
    }
    report = import_bundles(city, files, tmp_path)
    assert report["duplicate"] == ["replay.xbb"], report
    assert report["applied"] == ["zz-fresh.xbb"] and report["records"] == 1, report
    assert not refusals(report)
    rows = {row["item_id"]: row for row in inbox(city)}
    assert set(rows) == volley.after | {fresh}
    assert rows[volley.good_item] == volley.rows[volley.good_item], "the replay changed the item"
    # acknowledged again: a fresh receipt waits for the county
    again = tmp_path / "again"
    ok(run("xinbao-syncd", "export", "--peer", COUNTY, str(again), home=city))
    assert list(again.glob("*.xbb")), "no receipt was queued for the replayed bundle"
