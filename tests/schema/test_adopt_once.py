"""Adopting is done once (issue 16): a second adoption — of an adopted item, or of one placed
in an issue — is refused in Chinese and writes no audit row; the CLI says it in one line with
exit 1, the console in a notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.app import DeskApp
from console.screen.inbox import InboxList
from schema import outbox, state
from schema.attachment import Attachments
from schema.desk import Desk, adopt, signoff, submit
from schema.error import TransitionError
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import EdgeState, Role
from tests.cli_helpers import carry, run
from tests.conftest import CITY, COUNTY, Ticking, draft


def received(path: Path | None = None) -> tuple[Desk, str]:
    store = Store.open(path) if path else Store.memory()
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    item = submit(county, draft())
    signoff(county, item.id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    return Desk(store, CITY, "王五", frozenset(Role), Ticking()), item.id


def adoptions(desk: Desk, item_id: str) -> int:
    return sum(1 for a in state.audit_log(desk.store, item_id) if a.to_state is EdgeState.ADOPTED)


def test_adopting_twice_is_refused_with_one_audit_row() -> None:
    desk, item_id = received()
    assert adopt(desk, item_id).state is EdgeState.ADOPTED
    queued = len(outbox.pending(desk.store))
    with pytest.raises(TransitionError) as refused:
        adopt(desk, item_id)
    assert refused.value.message == f"信息 {item_id} 已采用，不能重复采用"
    assert adoptions(desk, item_id) == 1
    assert len(outbox.pending(desk.store)) == queued  # nothing sent to the county again


def test_adopting_an_item_placed_in_an_issue_is_refused_and_leaves_it_placed() -> None:
    desk, item_id = received()
    assert adopt(desk, item_id, "每日要情/1").state is EdgeState.PLACED
    before = len(state.audit_log(desk.store, item_id))
    for issue in ("", "每日要情/1"):
        with pytest.raises(TransitionError, match="已采用，已编入刊物"):
            adopt(desk, item_id, issue)
    assert len(state.audit_log(desk.store, item_id)) == before
    assert state.find_edge_to(desk.store, item_id, CITY.id).state is EdgeState.PLACED  # type: ignore[union-attr]


def test_the_cli_refuses_a_second_adoption_in_one_line(tmp_path: Path) -> None:
    county, city = tmp_path / "county", tmp_path / "city"
    for home, node, name, tier, parent in (
        (county, "140212", "新荣区人民政府办公室", "county", "140200"),
        (city, "140200", "大同市人民政府办公室", "city", "140000"),
    ):
        done = run(
            "xinbao-syncd",
            "init",
            "--id",
            node,
            "--name",
            name,
            "--tier",
            tier,
            "--parent",
            parent,
            "--home",
            str(home),
        )
        assert done.code == 0, done.err
    path = tmp_path / "item.toml"
    path.write_text(
        'title = "新荣区追回农民工欠薪38.6万元"\ncategory = "工作动态"\nauthor = "张三"\n'
        'body = "新荣区根治欠薪专班一天内为15名农民工追回欠薪38.6万元。"\n',
        "utf-8",
    )
    item_id = str(run("xinbao", "--json", "submit", str(path), home=county).json()["id"])
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    carry(county, city, "140200")
    assert run("xinbao", "adopt", item_id, home=city).code == 0
    again = run("xinbao", "adopt", item_id, home=city)
    assert again.code == 1 and again.out == ""
    assert again.err.count("\n") == 1 and f"信息 {item_id} 已采用" in again.err
    shown = run("xinbao", "--json", "show", item_id, home=city).json()
    assert sum(1 for a in shown["audit"] if a["to_state"] == "已采用") == 1


@pytest.mark.anyio
async def test_the_console_says_a_second_adoption_is_refused(tmp_path: Path) -> None:
    desk, item_id = received(tmp_path / "store.db")
    adopt(desk, item_id)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(InboxList).current().item_id == item_id  # type: ignore[union-attr]
        await pilot.press("a")
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]
        assert any(f"信息 {item_id} 已采用，不能重复采用" in m for m in said), said
    assert adoptions(desk, item_id) == 1
