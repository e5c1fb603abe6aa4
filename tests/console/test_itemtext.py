"""An item's revisions as the desk reads them (console/itemtext.py, shared by ``xinbao show``
and the console's item view): which fields changed and the text's changes marked up."""

from __future__ import annotations

from console.itemtext import differences, item_lines
from schema import view
from schema.attachment import Attachments
from schema.desk import edit, submit
from tests.conftest import COUNTY, draft, make_desk


def test_a_change_is_marked_with_its_context() -> None:
    old = "新荣区一天内为15名农民工追回欠薪38.6万元。"
    new = "新荣区一天内为16名农民工追回欠薪38.6万元，全部发放到位。"
    assert differences(old, new) == [
        "：…区一天内为1［－5］［＋6］名农民工追回…",  # six characters either side
        "：…38.6万元［＋，全部发放到位］。…",
    ]


def test_the_item_view_lists_what_each_revision_changed(tmp_path: object) -> None:
    desk = make_desk(COUNTY)
    item = submit(desk, draft(title="新荣区秸秆综合利用", body="全区秸秆综合利用率达到90%。"))
    edit(
        desk, item.id, draft(title="新荣区秸秆综合利用率达92%", body="全区秸秆综合利用率达到92%。")
    )
    lines = item_lines(desk.store, view.show(desk.store, item.id), Attachments(tmp_path))  # type: ignore[arg-type]
    (head,) = [line for line in lines if line.startswith("第2稿")]
    assert head.endswith("改动：标题、正文")
    assert "　　正文：…利用率达到9［－0］［＋2］%。…" in lines
