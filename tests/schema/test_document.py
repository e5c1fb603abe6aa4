"""The GB/T 9704 page every exported document is laid out on (schema/document.py), read back
from the .docx: A4 and its margins, the 22 × 28 grid, every run's fonts and size, the red
masthead and line, the PAGE field on odd and even pages, table borders, the 版记."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Length

from schema import document
from schema.document import Layout, Paper, shipped_layout
from schema.issuefile import to_docx
from schema.publication import Entry, Issue
from schema.vocabulary import Classification, Urgency

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


BODY = "入冬以来，新荣区落实清洁取暖工作。\n一是补贴到户；二是巡查到点。"


def issue(entries: int = 2, body: str = BODY) -> Issue:
    return Issue(
        id="每日要情/2026/3",
        publication="每日要情",
        year=2026,
        number=3,
        cumulative=41,
        publisher="140200",
        state="已印发",
        date=date(2026, 11, 21),
        editor="王五",
        signer="李四",
        signed_at=None,
        copies=(1, 60),
        entries=tuple(
            Entry(
                item_id=f"140212-2026-0000{n}",
                title=f"新荣区第{n}条信息",
                body=body,
                urgency=Urgency.FLASH,
                classification=Classification.SECRET,
                origin="140212",
            )
            for n in range(1, entries + 1)
        ),
    )


def test_the_page_is_a4_with_the_standard_margins_and_grid(tmp_path: Path) -> None:
    path = to_docx(issue(), "大同市人民政府办公室", tmp_path / "i.docx", copy=7)
    doc = docx.Document(str(path))
    (section,) = doc.sections

    def mm(length: Length | None) -> float:
        assert length is not None
        return round(length.mm, 1)  # stored in twentieths of a point

    assert (mm(section.page_width), mm(section.page_height)) == (210, 297)
    assert (mm(section.top_margin), mm(section.left_margin)) == (37, 28)  # 天头, 订口
    # the text block: 156 × 225 mm
    assert mm(section.right_margin) == 210 - 28 - 156
    assert mm(section.bottom_margin) == 297 - 37 - 225
    grid = section._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:type")) == "lines"
    assert int(grid.get(qn("w:linePitch"))) == round(225 / 22 / 25.4 * 72 * 20)  # 22 lines
    # 28 characters a line: each 3号 run drawn at 156 mm / 28 (16 pt less 0.2 pt, in twips)
    body = next(r for p in doc.paragraphs for r in p.runs if r.text.startswith("入冬以来"))
    spacing = body.element.rPr.find(qn("w:spacing"))
    assert (16 + int(spacing.get(qn("w:val"))) / 20) * 28 == pytest.approx(156 / 25.4 * 72, abs=3)


def test_every_run_names_its_fonts_and_size(tmp_path: Path) -> None:
    path = to_docx(issue(), "大同市人民政府办公室", tmp_path / "i.docx", copy=7)
    doc = docx.Document(str(path))
    lay = shipped_layout()
    runs = [r for p in doc.paragraphs for r in p.runs if r.text]
    assert runs
    for run in runs:
        fonts = run.element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")) and fonts.get(qn("w:ascii")), run.text
        assert run.font.size is not None, run.text
    normal = doc.styles["Normal"]
    assert normal.font.name == lay.font("body") and normal.font.size.pt == 16
    by_text = {r.text: r for r in runs}
    body = by_text["入冬以来，新荣区落实清洁取暖工作。"]
    assert (
        body.font.size.pt == 16
        and body.element.rPr.rFonts.get(qn("w:eastAsia")) in (lay.fonts["body"])
    )
    masthead = by_text["每日要情"]
    assert str(masthead.font.color.rgb) == lay.red
    assert masthead.element.rPr.rFonts.get(qn("w:eastAsia")) in lay.fonts["title"]


def test_markings_masthead_red_line_items_and_colophon_in_order(tmp_path: Path) -> None:
    path = to_docx(issue(), "大同市人民政府办公室", tmp_path / "i.docx", copy=7)
    doc = docx.Document(str(path))
    texts = [p.text for p in doc.paragraphs if p.text]
    assert texts[:6] == [
        "000007",
        "秘密★1年",
        "特急",
        "每日要情",
        "2026年第3期（总第41期）",
        "大同市人民政府办公室\t2026年11月21日",
    ]
    assert texts.index("1. 新荣区第1条信息") < texts.index("2. 新荣区第2条信息")
    assert texts[-1] == "签发：李四"  # the 版记 is not in the flow: it floats at the foot
    red = [
        p
        for p in doc.paragraphs
        if (b := p._p.find(f"{W}pPr/{W}pBdr/{W}bottom")) is not None
        and b.get(qn("w:color")) == shipped_layout().red
    ]
    assert len(red) == 1  # under the office and date
    colophon = doc.tables[-1]
    assert [row.cells[0].text for row in colophon.rows] == [
        "报：本级党委、政府主要负责同志",
        "送：本级党委、政府其他负责同志，上级政府办公厅（室）",
        "发：各县（区）政府办公室，本级政府各部门",
        "大同市人民政府办公室\t共印60份",
    ]


def test_the_colophon_floats_at_the_foot_of_the_last_page(tmp_path: Path) -> None:
    """版记: a table at the bottom of the text block, placed from the page's left edge at the
    订口 and as wide as the block, a thick rule first and last and thin ones between, no cell
    margin (the rules exactly the block's width), anchored to the document's last paragraph."""
    path = to_docx(issue(), "大同市人民政府办公室", tmp_path / "i.docx", copy=7)
    doc = docx.Document(str(path))
    colophon = doc.tables[-1]
    props = colophon._tbl.tblPr
    place = props.find(qn("w:tblpPr"))
    assert place is not None
    assert (place.get(qn("w:vertAnchor")), place.get(qn("w:tblpYSpec"))) == ("margin", "bottom")
    assert place.get(qn("w:horzAnchor")) == "page"
    assert int(place.get(qn("w:tblpX"))) == round(28 / 25.4 * 1440)
    width = props.find(qn("w:tblW"))
    assert (width.get(qn("w:type")), int(width.get(qn("w:w")))) == ("dxa", round(156 / 25.4 * 1440))
    rules = props.find(qn("w:tblBorders"))
    sizes = {edge: int(rules.find(qn(f"w:{edge}")).get(qn("w:sz"))) for edge in ("top", "bottom")}
    assert sizes == {"top": 8, "bottom": 8}
    assert int(rules.find(qn("w:insideH")).get(qn("w:sz"))) == 4
    assert rules.find(qn("w:left")) is None and rules.find(qn("w:insideV")) is None
    for edge in ("left", "right"):
        assert props.find(f"{W}tblCellMar/{W}{edge}").get(qn("w:w")) == "0"
    body = list(doc.element.body)
    anchor = body[body.index(colophon._tbl) + 1]
    assert anchor.tag == f"{W}p" and not "".join(anchor.itertext())  # the hairline anchor
    for row in colophon.rows:
        (para,) = row.cells[0].paragraphs
        assert para.runs[0].font.size.pt == 14  # 4号
    # Word refuses a table whose properties are out of the schema's order
    order = [child.tag.removeprefix(W) for child in props]
    schema = ["tblStyle", "tblpPr", "tblW", "tblBorders", "tblCellMar", "tblLook"]
    assert order == [tag for tag in schema if tag in order], order


def test_page_numbers_are_a_page_field_odd_right_even_left(tmp_path: Path) -> None:
    path = to_docx(issue(8), "大同市人民政府办公室", tmp_path / "i.docx", copy=7)
    doc = docx.Document(str(path))
    assert doc.settings.odd_and_even_pages_header_footer
    section = doc.sections[0]
    for footer, side in ((section.footer, "right"), (section.even_page_footer, "left")):
        (para,) = footer.paragraphs
        xml = para._p.xml
        assert 'w:fldCharType="begin"' in xml and "PAGE" in xml and 'w:fldCharType="end"' in xml
        assert para.text.startswith("— ") and para.text.endswith(" —")
        assert para.alignment is not None and para.alignment.name.lower() == side
        indent = (
            para.paragraph_format.right_indent
            if side == "right"
            else (para.paragraph_format.left_indent)
        )
        assert indent is not None and indent.pt == 14  # one 4号 character in
        assert all(r.font.size.pt == 14 for r in para.runs)


def test_a_table_has_visible_borders_and_the_body_font(tmp_path: Path) -> None:
    paper = Paper()
    paper.title("关于2026年11月份全市政务信息工作情况的通报")
    paper.table(["名次", "单位", "得分"], [["1", "新荣区", "33"], ["2", "平城区", "-10"]])
    doc = docx.Document(str(paper.save(tmp_path / "t.docx")))
    (table,) = doc.tables
    borders = table._tbl.tblPr.find(qn("w:tblBorders"))
    assert {b.tag.removeprefix(W) for b in borders} >= {"top", "bottom", "insideH", "insideV"}
    assert all(b.get(qn("w:val")) == "single" for b in borders)
    assert [c.text for c in table.rows[1].cells] == ["1", "新荣区", "33"]
    for row in table.rows:
        for cell in row.cells:
            for run in cell.paragraphs[0].runs:
                assert run.font.size.pt == 14 and run.element.rPr.rFonts.get(qn("w:eastAsia"))


def test_fonts_are_data_and_the_first_installed_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (Path(__file__).parents[2] / "schema" / "data" / "document.toml").read_text("utf-8")
    mine = tmp_path / "document.toml"
    mine.write_text(data.replace('body = ["', 'body = ["某仿宋", "'), "utf-8")
    layout = Layout.load(mine)
    assert layout.fonts["body"][:2] == ("某仿宋", "仿宋_GB2312")
    monkeypatch.setattr(document, "installed_fonts", lambda: frozenset({"仿宋", "黑体"}))
    assert layout.font("body") == "仿宋"  # the first of the list this machine has
    monkeypatch.setattr(document, "installed_fonts", lambda: frozenset())
    assert layout.font("body") == "某仿宋"  # none installed: the document names the first


def test_an_issue_s_contents_as_a_spreadsheet(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from schema.issuefile import to_xlsx

    book = load_workbook(to_xlsx(issue(3), "大同市人民政府办公室", tmp_path / "i.xlsx"))
    sheet = book["本期目录"]
    assert sheet["A1"].value.startswith("每日要情 2026年第3期（总第41期）")
    assert [c.value for c in sheet[2]] == [
        "序号",
        "标题",
        "来源单位",
        "密级",
        "紧急程度",
        "信息编号",
    ]
    assert [c.value for c in sheet[3]] == [
        1,
        "新荣区第1条信息",
        "140212",
        "秘密",
        "特急",
        "140212-2026-00001",
    ]
    assert sheet.max_row == 5


# WordprocessingML's order of properties: Word refuses (or repairs) a file that breaks it, where
# LibreOffice reads on; so the order is checked here, for every exported kind of document
PARAGRAPH_ORDER = (
    "pStyle", "keepNext", "keepLines", "pageBreakBefore", "framePr", "widowControl", "numPr",
    "suppressLineNumbers", "pBdr", "shd", "tabs", "suppressAutoHyphens", "kinsoku", "wordWrap",
    "overflowPunct", "topLinePunct", "autoSpaceDE", "autoSpaceDN", "bidi", "adjustRightInd",
    "snapToGrid", "spacing", "ind", "contextualSpacing", "mirrorIndents", "suppressOverlap",
    "jc", "textDirection", "textAlignment", "textboxTightWrap", "outlineLvl", "divId",
    "cnfStyle", "rPr", "sectPr", "pPrChange",
)  # fmt: skip
RUN_ORDER = (
    "rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike",
    "outline", "shadow", "emboss", "imprint", "noProof", "snapToGrid", "vanish", "webHidden",
    "color", "spacing", "w", "kern", "position", "sz", "szCs", "highlight", "u", "effect", "bdr",
    "shd", "fitText", "vertAlign", "rtl", "cs", "em", "lang", "eastAsianLayout", "specVanish",
    "oMath",
)  # fmt: skip
TABLE_ORDER = (
    "tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize",
    "tblStyleColBandSize", "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd",
    "tblLayout", "tblCellMar", "tblLook", "tblCaption", "tblDescription",
)  # fmt: skip


def test_properties_keep_wordprocessingml_order(tmp_path: Path) -> None:
    from tests.render import documents

    orders = {
        "pPr": PARAGRAPH_ORDER,
        "rPr": RUN_ORDER,
        "tblPr": TABLE_ORDER,
    }
    checked = 0
    for path in documents(tmp_path).values():
        doc = docx.Document(str(path))
        parts = [doc.element, doc.styles.element, *(s.footer._element for s in doc.sections)]
        parts += [s.even_page_footer._element for s in doc.sections]
        for part in parts:
            for name, order in orders.items():
                for props in part.iter(f"{W}{name}"):
                    tags = [c.tag.removeprefix(W) for c in props if c.tag.startswith(W)]
                    known = [order.index(t) for t in tags if t in order]
                    assert known == sorted(known), (path.name, name, tags)
                    checked += 1
    assert checked > 100


def test_the_font_table_names_each_font_s_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine without the chosen font is told the next one of its list (w:altName)."""
    import zipfile

    monkeypatch.setattr(document, "installed_fonts", lambda: frozenset())
    path = to_docx(issue(), "大同市人民政府办公室", tmp_path / "i.docx", copy=1)
    with zipfile.ZipFile(path) as package:
        table = package.read("word/fontTable.xml").decode("utf-8")
    layout = shipped_layout()
    body, alternative = layout.fonts["body"][:2]
    assert f'<w:font w:name="{body}"><w:altName w:val="{alternative}"/>' in table
    assert f'w:name="{layout.fonts["title"][0]}"' in table
    doc = docx.Document(str(path))  # and the file still opens
    assert doc.paragraphs[0].text == "000001"
