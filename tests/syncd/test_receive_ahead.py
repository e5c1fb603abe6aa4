"""Bundles opened ahead on another thread (issue 19) are used only as they were opened: the
same file, and the revocations known when it is applied — else it is opened again in turn."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path

from schema.node import NodeHome
from schema.store import Store
from syncd import enrolment, revocation, transfer
from syncd.bundle import new_header, seal
from syncd.keys import load_keys
from syncd.receive import Receiver
from tests.syncd import test_revocation
from tests.syncd.test_revocation import NOW, send_item

tree = test_revocation.tree  # the fixture: a province, a city, two counties

LATER = NOW + timedelta(minutes=1)


def sealed_by(sender: NodeHome, recipient: str, keys_from: NodeHome, path: Path) -> Path:
    """An empty, signed bundle from ``sender`` to ``recipient`` (whose key ``keys_from``
    knows)."""
    keys, chain = load_keys(sender.path, None), enrolment.load_chain(sender) or []
    public = {recipient: enrolment.encryption_keys(keys_from)[recipient]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        seal(new_header(sender.load().id, [recipient], NOW), [], keys, chain, public, out)
    return path


def test_a_revocation_in_the_batch_reaches_bundles_opened_before_it(
    tree: dict[str, NodeHome], tmp_path: Path
) -> None:
    city, good, bad = tree["140200"], tree["140212"], tree["140213"]
    revocation.revoke(city, "140213", "密钥遗失", NOW)
    notice = transfer.export(city, "140212", tmp_path / "down", NOW)
    assert len(notice) == 1
    late = sealed_by(bad, "140212", city, tmp_path / "side" / "b.xbb")
    opened: list[str] = []
    with Receiver(good) as receiver:
        prepare = receiver._prepare

        def noting(path: Path, *args: object) -> object:
            ready = prepare(path, *args)  # type: ignore[arg-type]
            opened.append(path.name if ready is not None else "")
            return ready

        receiver._prepare = noting  # type: ignore[method-assign]
        report = receiver.receive([notice[0], late], LATER)
    assert opened == ["b.xbb"]  # opened ahead, before the notice applied …
    assert [name for name, _ in report.quarantined] == ["b.xbb"]  # … and refused all the same
    assert [reason for _, reason in report.quarantined] == ["revoked-sender"]
    assert revocation.revoked(good) == {"140213"}


def test_a_file_changed_after_it_was_opened_ahead_is_opened_again(
    tree: dict[str, NodeHome], tmp_path: Path
) -> None:
    county, city = tree["140212"], tree["140200"]
    first = send_item(county, tmp_path / "one")
    second = send_item(county, tmp_path / "two")
    with Receiver(city) as receiver:
        mine = receiver._prepare(first[0], LATER, frozenset())
        other = receiver._prepare(second[0], LATER, frozenset())
        assert mine is not None and other is not None
        stale: Future[object] = Future()
        stale.set_result(other)  # what was opened ahead for this name: another file's
        receiver._ahead[first[0]] = stale  # type: ignore[assignment]
        report = receiver.receive([first[0]], LATER)
    assert report.applied == [first[0].name] and report.records == 1
    store = Store.open(city.store_path)
    held = [r["id"] for r in store.query("SELECT id FROM item")]
    store.close()
    assert held == [item_id(mine)] != [item_id(other)]


def item_id(ready: object) -> str:
    records = ready.records  # type: ignore[attr-defined]
    return str(records[0][1].payload["item"]["id"])
