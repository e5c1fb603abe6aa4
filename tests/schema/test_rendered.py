"""The exported documents rendered as an office prints them (issue 17): a 信息刊物, a 通报 and a
约稿通知 written as .docx, converted to PDF by LibreOffice headless (installed by ``make test``
with the Noto CJK fonts; never skipped), and read back with pypdf: A4 pages, every piece of text
inside the 156 × 225 mm text block at 天头 37 mm and 订口 28 mm, a page number “— N —” on every
page under it (odd pages right, even pages left), no line longer than 28 characters."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.render import documents, to_pdf

MM = 72 / 25.4
PAGE = (210 * MM, 297 * MM)
LEFT, RIGHT = 28 * MM, (28 + 156) * MM
TOP, BOTTOM = (297 - 37) * MM, (297 - 37 - 225) * MM


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("rendered")
    made = documents(folder)
    return dict(zip(made, to_pdf(list(made.values()), folder), strict=True))


def pieces(page: object) -> list[tuple[float, float, float, str]]:
    """(x, y, size, text) of each piece of text on ``page``, in points from the bottom left."""
    found: list[tuple[float, float, float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            scale = (tm[0] ** 2 + tm[1] ** 2) ** 0.5 * (cm[0] ** 2 + cm[1] ** 2) ** 0.5
            found.append((x, y, size * scale, text.strip()))

    page.extract_text(visitor_text=visit)  # type: ignore[attr-defined]
    return found


def width(text: str) -> float:
    """A line's length in characters of the body's size: Latin letters and digits are half."""
    return sum(1 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in text if ch != " ")


@pytest.mark.parametrize("name", ["刊物", "通报", "约稿通知"])
def test_a4_pages_with_text_only_inside_the_block(rendered: dict[str, Path], name: str) -> None:
    reader = PdfReader(str(rendered[name]))
    if name != "约稿通知":  # a notice fits one page
        assert len(reader.pages) >= 2, name  # several pages: the numbering is seen working
    for n, page in enumerate(reader.pages, 1):
        box = page.mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(PAGE, abs=1)
        numbers = []
        for x, y, size, text in pieces(page):
            if y < BOTTOM - 2:  # under the block: only the page number
                numbers.append((x, text))
                continue
            assert x >= LEFT - 1, (name, n, text, x)
            assert x + width(text) * size <= RIGHT + 4, (name, n, text, x, size)
            assert y <= TOP + 2, (name, n, text, y)
        assert "".join(t for _, t in numbers) == f"—{n}—", (name, n, numbers)
        first = min(x for x, _ in numbers)
        if n % 2:  # odd pages: at the right, one character in
            assert first > (LEFT + RIGHT) / 2, (name, n, first)
        else:
            assert first < (LEFT + RIGHT) / 2, (name, n, first)


@pytest.mark.parametrize("name", ["刊物", "通报", "约稿通知"])
def test_no_line_holds_more_than_28_characters(rendered: dict[str, Path], name: str) -> None:
    reader = PdfReader(str(rendered[name]))
    lines = [line for page in reader.pages for line in page.extract_text().splitlines()]
    assert lines
    long = [line for line in lines if width(line) > 28]
    assert not long, long
    full = [line for line in lines if width(line) >= 27]
    assert full or name == "约稿通知", "no body line is full: 28 characters are not reached"


def test_the_bulletin_reads_as_a_tongbao(rendered: dict[str, Path]) -> None:
    text = "\n".join(p.extract_text() for p in PdfReader(str(rendered["通报"])).pages)
    text = text.replace(" ", "")
    for part in (
        "大同市人民政府办公室",
        "同政办函〔2026〕1号",
        "各县（区）人民政府办公室，市直各部门：",
        "一、总体情况",
        "名次单位得分应报实报",
        "2026年12月1日",
        "抄送：",
        "2026年12月1日印发",
    ):
        assert part in text, part
    assert "2026-11" not in text


PITCH = 225 / 22 * MM  # one line of the document grid


def rows_at_foot(pdf: Path, docx_path: Path) -> tuple[list[str], list[tuple[float, str]]]:
    """The 版记's lines as the .docx has them, and the last page's text as (baseline, line)
    from the bottom up, pieces on one baseline joined."""
    import docx

    colophon = docx.Document(str(docx_path)).tables[-1]
    expected = [row.cells[0].text.replace("\t", "").replace(" ", "") for row in colophon.rows]
    lines: dict[int, list[tuple[float, str]]] = {}
    for x, y, _, text in pieces(PdfReader(str(pdf)).pages[-1]):
        if y >= BOTTOM - 2:  # not the page number
            lines.setdefault(round(y), []).append((x, text))
    seen = [
        (float(y), "".join(t for _, t in sorted(parts)).replace(" ", ""))
        for y, parts in sorted(lines.items())
    ]
    return expected, seen


def assert_colophon_at_the_foot(pdf: Path, docx_path: Path) -> None:
    """The 版记 whole on the last page, its last line on the block's last line, its lines one
    grid line apart, and nothing else on the page within a line of its first rule."""
    expected, seen = rows_at_foot(pdf, docx_path)
    foot = seen[: len(expected)]
    assert [text for _, text in foot] == expected[::-1], (pdf.name, seen[:6])
    last, first = foot[0][0], foot[-1][0]
    assert BOTTOM < last < BOTTOM + PITCH, (pdf.name, last)
    assert first - last == pytest.approx((len(expected) - 1) * PITCH, abs=len(expected) * 1.5)
    above = seen[len(expected) :]
    assert not above or above[0][0] >= first + PITCH - 2, (pdf.name, above[0], first)


@pytest.mark.parametrize("name", ["刊物", "通报", "约稿通知"])
def test_the_colophon_ends_the_last_page(rendered: dict[str, Path], name: str) -> None:
    """版记 (GB/T 9704 §7.4): on the last page, its last element on the last line."""
    pdf = rendered[name]
    assert_colophon_at_the_foot(pdf, pdf.with_suffix(".docx"))


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    """The 刊物 with its last item longer line by line, across the point where the body leaves
    no room for the 版记 on its last page: (docx, pdf) for each."""
    from dataclasses import replace

    from schema.issuefile import to_docx
    from tests.render import BODY, OFFICE
    from tests.schema.test_document import issue

    folder = tmp_path_factory.mktemp("crowded")
    made = []
    base = issue(4, BODY)
    for extra in range(3, 13):
        lines = "\n".join(
            f"第{n:02d}行补充，全区供暖运行平稳，群众反映良好。" for n in range(extra)
        )
        last = replace(base.entries[-1], body=f"{BODY}\n{lines}")
        longer = replace(base, entries=(*base.entries[:-1], last))
        made.append(to_docx(longer, OFFICE, folder / f"kanwu-{extra:02d}.docx", copy=7))
    return list(zip(made, to_pdf(made, folder), strict=True))


def test_a_crowded_last_page_moves_the_colophon_whole(
    crowded: list[tuple[Path, Path]],
) -> None:
    """However full the body leaves its last page, the 版记 is never over the text nor split:
    where it no longer fits it starts the next page's foot, the body's last line before it."""
    pages = set()
    for docx_path, pdf in crowded:
        assert_colophon_at_the_foot(pdf, docx_path)
        reader = PdfReader(str(pdf))
        pages.add(len(reader.pages))
        text = "".join(p.extract_text() for p in reader.pages).replace(" ", "")
        assert text.index("签发：李四") < text.index("报：本级党委"), pdf.name
    assert len(pages) > 1, pages  # the lengths crossed the point where it moves on
