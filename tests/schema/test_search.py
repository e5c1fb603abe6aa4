"""Chinese full-text search finds substrings of any length, one character included."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema import search, view
from schema.desk import Desk, edit, submit
from schema.search import index_text, match_query
from tests.conftest import draft

BODIES = {
    "透水": ("新荣区某煤矿发生透水事故", "井下发生透水，2人受伤。"),
    "欠薪": ("一天内追回欠薪38.6万元", "为15名农民工追回欠薪。"),
    "煤改电": ("煤改电用户取暖有保障", "落实峰谷电价优惠。"),
    "批示": ("认真落实市长批示精神", "王市长作出批示后，各部门迅速行动。"),
}


@pytest.fixture
def filled(county: Desk) -> Desk:
    for title, body in BODIES.values():
        submit(county, draft(title=title, body=body))
    return county


def titles(rows: list[dict[str, object]]) -> set[object]:
    return {r["title"] for r in rows}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("透", {"新荣区某煤矿发生透水事故"}),  # one character
        ("煤", {"新荣区某煤矿发生透水事故", "煤改电用户取暖有保障"}),
        ("透水", {"新荣区某煤矿发生透水事故"}),  # two characters: the trigram trap
        ("欠薪", {"一天内追回欠薪38.6万元"}),
        ("批示", {"认真落实市长批示精神"}),
        ("煤矿", {"新荣区某煤矿发生透水事故"}),
        ("煤改电", {"煤改电用户取暖有保障"}),
        ("王市长作出批示", {"认真落实市长批示精神"}),  # a body phrase
        ("农民工 欠薪", {"一天内追回欠薪38.6万元"}),  # terms AND-ed
        ("38", {"一天内追回欠薪38.6万元"}),
    ],
)
def test_substrings_of_any_length_are_found(filled: Desk, term: str, expected: set[str]) -> None:
    assert titles(view.search(filled.store, term)) == expected
    assert titles(view.outbox(filled.store, filled.node.id, search=term)) == expected


@pytest.mark.parametrize("term", ["煤水", "透煤", "欠薪农", "，", "纽约"])
def test_non_substrings_do_not_match(filled: Desk, term: str) -> None:
    assert view.search(filled.store, term) == []


def test_a_new_revision_replaces_the_indexed_text(county: Desk) -> None:
    item = submit(county, draft(title="旧标题供暖", body="旧正文"))
    edit(county, item.id, draft(title="新标题秸秆", body="新正文"))
    assert titles(view.search(county.store, "秸秆")) == {"新标题秸秆"}
    assert view.search(county.store, "供暖") == []


def test_tokens_and_queries() -> None:
    assert index_text("煤矿透水") == "煤矿 矿透 透水 水"
    assert match_query("煤矿透水") == '"煤矿 矿透 透水"'
    assert match_query("煤") == '"煤"*'
    assert match_query("，。") is None


def test_search_pages_follow_the_box_order(county: Desk) -> None:
    ids = [submit(county, draft(title=f"供暖保障第{n}条", body="供暖")).id for n in range(5)]
    submit(county, draft(title="无关信息", body="秸秆"))
    seen: list[str] = []
    before = None
    for _ in range(5):  # bounded: 5 items, 2 a page
        page = view.outbox(county.store, county.node.id, search="供暖", limit=2, before=before)
        if not page:
            break
        seen += [r["item_id"] for r in page]
        before = page[-1]["edge_id"]
    assert seen == ids[::-1]


@pytest.mark.parametrize("inbox", [True, False])
def test_a_search_page_finds_each_hit_s_edge_by_its_item(inbox: bool) -> None:
    """The plan of a search page (issue 19): the edges of each full-text hit are found by the
    item's index — never by the box's own index, which reads the whole box for every hit (a
    page deep in a 100k inbox took 0.8 s that way; now under 2 ms at 1M)."""
    from tests.schema.test_bulletin import desks, send

    _, city, d = desks()
    for n in range(3):
        send(d["140212"], city, f"新荣区煤矿安全检查第{n}次")
    desk = city if inbox else d["140212"]
    box = view.inbox if inbox else view.outbox
    store = desk.store
    seen: list[tuple[str, tuple[object, ...]]] = []
    query = store.query

    def traced(sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        seen.append((sql, tuple(params)))
        return query(sql, params)

    store.query = traced  # type: ignore[method-assign]
    try:
        first = box(store, desk.node.id, search="煤矿", limit=2)
        deeper = box(store, desk.node.id, search="煤矿", limit=2, before=first[-1]["edge_id"])
    finally:
        store.query = query  # type: ignore[method-assign]
    assert len(first) == 2 and len(deeper) == 1  # the pages are right
    pages = [(sql, params) for sql, params in seen if "item_fts MATCH" in sql]
    assert len(pages) == 2
    for sql, params in pages:
        plan = " ".join(r[3] for r in store.db.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "edge_inbox" not in plan and "edge_outbox" not in plan, plan
        assert "SEARCH e USING" in plan and "item_id=?" in plan, plan


# a body longer than ARRAY_FROM is tokenised as arrays (issue 19): the same tokens, in order
_ALPHABET = (
    "煤矿透水欠薪批示，。、 abcZ19_-Ａ１ぁアン한\u3040\u30ff\u3100\u3400\u4dbf\u4dc0"
    "\u4e00\u9fff\ua000\uac00\ud7af\ud7b0\uf900\ufaff\ufb00\U00020000é\ud800\udfff"
)


@given(st.text(alphabet=_ALPHABET, max_size=400))
@settings(max_examples=300, deadline=None)
def test_long_texts_are_tokenised_as_short_ones_are(text: str) -> None:
    folded = search.fold(text)
    assert search._index_array(folded).split() == short_tokens(folded) if folded else True


def short_tokens(folded: str) -> list[str]:
    tokens: list[str] = []
    for run, word in search._TOKEN_RUN.findall(folded):
        tokens += [*map(str.__add__, run, run[1:]), run[-1]] if run else [word]
    return tokens


def test_a_long_punctuated_body_is_found_by_any_of_its_words(county: Desk) -> None:
    clauses = "入冬以来，新荣区聚焦困难群众取暖保障；摸清底数、兜牢底线。" * 8
    body = f"{clauses}截至11月底，全区为1,847户发放取暖补贴共38.6万元。{clauses}"
    assert len(body) > search.ARRAY_FROM
    submit(county, draft(title="取暖补贴发放到位", body=body))
    for term in ("补贴", "取暖补贴发放", "1", "847", "38", "兜牢底线", "底"):
        assert titles(view.search(county.store, term)) == {"取暖补贴发放到位"}, term
    for term in ("线入冬以", "底线入", "保障摸"):  # across punctuation: no match
        assert view.search(county.store, term) == [], term


_UNICODE = (
    "一丁七万丈中\u4e00\u9fff\u2f00\u3280，；℃ＡａＢ１\u3000 e\u0301\u0327\u1100\u1161\u11a8"
    "\uac00ﬁ\ue000①½\u0345\u0f73\U0002f800가\u309b\u3099か\u4dff\ua000"
)


@given(st.text(alphabet=_UNICODE, max_size=40) | st.text(max_size=40))
@settings(max_examples=500, deadline=None)
def test_folding_normalises_exactly_as_nfkc(text: str) -> None:
    assert search.nfkc(text) == unicodedata.normalize("NFKC", text)
