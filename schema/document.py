"""One page layout for every document the desk exports (.docx, python-docx): GB/T 9704-2012.

A4, 天头 37 mm and 订口 28 mm, a text block of 156 × 225 mm holding 22 lines of 28 characters
(the section's document grid); 正文 3号仿宋, 标题 2号小标宋, 一级标题 黑体, 二级标题 楷体; the
markings (份号, 密级和保密期限, 紧急程度) top left in that order; red lines as wide as the text
block; page numbers “— N —” in 4号宋体 from a PAGE field, odd pages right and even pages left,
one character in; the 版记 between its rules at the foot of the last page. Sizes, the red and
the font names (each a list tried in order, the first installed one used) are data:
``schema/data/document.toml``.

Every run names its fonts (Latin and East Asian) and its size, and the Normal style is this
layout's own, so nothing prints in Word's defaults (Calibri, blue headings, Letter paper).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_SECTION_START
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.parser import parse_xml
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Mm, Pt, RGBColor
from docx.table import Table
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from schema.datafile import data_text
from schema.error import ConfigError

# WordprocessingML's element order (Word refuses a file whose properties are out of it): what
# may follow a paragraph's borders, a run's character spacing, a table's position and its borders
AFTER_PBDR = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
    "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
    "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents",
    "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment", "w:textboxTightWrap",
    "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange",
)  # fmt: skip
AFTER_SPACING = (
    "w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect", "w:bdr",
    "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang",
    "w:eastAsianLayout", "w:specVanish", "w:oMath",
)  # fmt: skip
AFTER_TBLPPR = (
    "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize", "w:tblStyleColBandSize", "w:tblW",
    "w:jc", "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout",
    "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription", "w:tblPrChange",
)  # fmt: skip
AFTER_TBLBORDERS = (
    "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription",
    "w:tblPrChange",
)  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """The page and its type (``schema/data/document.toml``)."""

    width_mm: float
    height_mm: float
    top_mm: float
    left_mm: float
    block_width_mm: float
    block_height_mm: float
    lines: int
    chars: int
    page_number_gap_mm: float
    sizes: dict[str, float]  # title, body, markings, page_number, colophon, masthead, table
    red: str  # RRGGBB
    fonts: dict[str, tuple[str, ...]]  # body, title, heading1, heading2, markings, page_number

    @property
    def bottom_mm(self) -> float:
        return self.height_mm - self.top_mm - self.block_height_mm

    @property
    def right_mm(self) -> float:
        return self.width_mm - self.left_mm - self.block_width_mm

    @property
    def line_pitch_pt(self) -> float:
        """The height of one of the page's lines (225 mm / 22)."""
        return self.block_height_mm / self.lines * 72 / 25.4

    @property
    def char_pitch_pt(self) -> float:
        """The width of one of a line's characters (156 mm / 28)."""
        return self.block_width_mm / self.chars * 72 / 25.4

    def font(self, role: str) -> str:
        """The font for ``role``: the first of its names installed here, else the first."""
        names = self.fonts[role]
        installed = installed_fonts()
        return next((n for n in names if n in installed), names[0])

    @classmethod
    def load(cls, path: Path | None = None) -> Layout:
        text, where = data_text("document.toml", path)
        try:
            data = tomllib.loads(text)
            page, kind, fonts = data["page"], data["type"], data["fonts"]
            return cls(
                width_mm=float(page["width_mm"]),
                height_mm=float(page["height_mm"]),
                top_mm=float(page["top_mm"]),
                left_mm=float(page["left_mm"]),
                block_width_mm=float(page["block_width_mm"]),
                block_height_mm=float(page["block_height_mm"]),
                lines=int(page["lines"]),
                chars=int(page["chars"]),
                page_number_gap_mm=float(page["page_number_gap_mm"]),
                sizes={k: float(v) for k, v in kind.items() if k.endswith("_pt")},
                red=str(kind["red"]),
                fonts={k: tuple(str(n) for n in v) for k, v in fonts.items()},
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError([f"{where}：版式设置有误（{exc}）"]) from exc


@functools.cache
def shipped_layout() -> Layout:
    return Layout.load()


@functools.cache
def installed_fonts() -> frozenset[str]:
    """The font family names fontconfig knows on this machine (none where it is absent)."""
    program = shutil.which("fc-list")
    if program is None:
        return frozenset()
    try:
        done = subprocess.run(
            [program, ":", "family"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    names: set[str] = set()
    for line in done.stdout.splitlines():
        names.update(n.strip() for n in line.split(",") if n.strip())
    return frozenset(names)


def set_fonts(run: Run, name: str, size_pt: float) -> None:
    """Name ``run``'s fonts for Latin and Chinese text alike, and its size."""
    run.font.name = name  # w:ascii and w:hAnsi
    fonts = run.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)
    fonts.set(qn("w:cs"), name)
    run.font.size = Pt(size_pt)


def border(edge: str, eighths: int, colour: str, space: int = 0) -> BaseOxmlElement:
    """One single line of a paragraph's or a table's borders: ``eighths`` of a point thick."""
    line = OxmlElement(f"w:{edge}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), str(eighths))
    line.set(qn("w:space"), str(space))
    line.set(qn("w:color"), colour)
    return line


def condense(run: Run, layout: Layout) -> None:
    """Set a body-size run's characters at the page's pitch (156 mm / 28): 3号 is 16 pt wide,
    the pitch 15.8 pt, so each character is drawn 0.2 pt closer (w:spacing, in twips)."""
    twips = round((layout.char_pitch_pt - layout.sizes["body_pt"]) * 20)
    if twips:
        spacing = OxmlElement("w:spacing")
        spacing.set(qn("w:val"), str(twips))
        run.element.get_or_add_rPr().insert_element_before(spacing, *AFTER_SPACING)


class Paper:
    """A document on the GB/T 9704 page: add its parts in order, then :meth:`save`."""

    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout or shipped_layout()
        self.doc: DocumentObject = Document()
        self._page()
        self._normal()
        self._page_numbers()

    # -- the page ------------------------------------------------------------------------------

    def _page(self) -> None:
        lay = self.layout
        section = self.doc.sections[0]
        section.start_type = WD_SECTION_START.NEW_PAGE
        section.page_width, section.page_height = Mm(lay.width_mm), Mm(lay.height_mm)
        section.top_margin, section.bottom_margin = Mm(lay.top_mm), Mm(lay.bottom_mm)
        section.left_margin, section.right_margin = Mm(lay.left_mm), Mm(lay.right_mm)
        section.header_distance = Mm(lay.top_mm / 2)
        # the number's baseline area starts page_number_gap_mm under the text block
        number_mm = lay.sizes["page_number_pt"] * 25.4 / 72
        section.footer_distance = Mm(max(5.0, lay.bottom_mm - lay.page_number_gap_mm - number_mm))
        # the document grid: 22 lines of 28 characters (Word and LibreOffice snap to it)
        grid = section._sectPr.find(qn("w:docGrid"))
        if grid is None:
            grid = OxmlElement("w:docGrid")
            section._sectPr.append(grid)
        # 22 lines a page from the grid; 28 characters a line from each body run's spacing
        # (:meth:`_text`): LibreOffice gives a character wider than a character grid's pitch two
        # cells of it, and 3号 (16 pt) is wider than 156 mm / 28 (15.8 pt)
        grid.set(qn("w:type"), "lines")
        grid.set(qn("w:linePitch"), str(round(lay.line_pitch_pt * 20)))
        if grid.get(qn("w:charSpace")) is not None:
            del grid.attrib[qn("w:charSpace")]

    def _normal(self) -> None:
        """The Normal style is this layout's 正文: 3号仿宋, exact line pitch, no spacing. The
        document defaults say 3号 too: the grid's character pitch is counted from them (at
        Word's 10.5 pt a 3号 character would take two cells of the grid)."""
        lay = self.layout
        defaults = self.doc.styles.element.find(qn("w:docDefaults"))
        if defaults is not None:
            rpr = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}")
            if rpr is not None:
                for tag in ("w:sz", "w:szCs"):
                    old = rpr.find(qn(tag))
                    if old is not None:
                        rpr.remove(old)
                    size = OxmlElement(tag)
                    size.set(qn("w:val"), str(round(lay.sizes["body_pt"] * 2)))
                    after = AFTER_SPACING[AFTER_SPACING.index(tag) + 1 :]
                    rpr.insert_element_before(size, *after)
        style = self.doc.styles["Normal"]
        style.font.name = lay.font("body")
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), lay.font("body"))
        style.font.size = Pt(lay.sizes["body_pt"])
        style.font.color.rgb = RGBColor(0, 0, 0)
        fmt = style.paragraph_format
        fmt.space_before = fmt.space_after = Pt(0)
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(lay.line_pitch_pt)

    def _page_numbers(self) -> None:
        """“— N —” in 4号宋体, odd pages right and even pages left, one character in."""
        self.doc.settings.odd_and_even_pages_header_footer = True
        section = self.doc.sections[0]
        size = self.layout.sizes["page_number_pt"]
        for footer, align in (
            (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
            (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
        ):
            footer.is_linked_to_previous = False
            para = footer.paragraphs[0]
            para.alignment = align
            one = Pt(size)  # one character in from the text block's edge
            if align == WD_ALIGN_PARAGRAPH.RIGHT:
                para.paragraph_format.right_indent = one
            else:
                para.paragraph_format.left_indent = one
            self._text(para, "— ", "page_number", size)
            self._field(para, "PAGE", size)
            self._text(para, " —", "page_number", size)

    def _field(self, para: Paragraph, code: str, size: float) -> None:
        """A field (``PAGE``) the word processor fills in: begin, code, separate, 1, end."""
        name = self.layout.font("page_number")
        for kind, text in (("begin", ""), ("", f" {code} "), ("separate", ""), ("", "1")):
            run = para.add_run()
            set_fonts(run, name, size)
            if kind:
                char = OxmlElement("w:fldChar")
                char.set(qn("w:fldCharType"), kind)
                run._r.append(char)
            elif text.strip() == code:
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = text
                run._r.append(instr)
            else:
                run.text = text
        end = para.add_run()
        set_fonts(end, name, size)
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), "end")
        end._r.append(char)

    # -- the parts -----------------------------------------------------------------------------

    def _text(self, para: Paragraph, text: str, role: str, size: float) -> Run:
        run = para.add_run(text)
        set_fonts(run, self.layout.font(role), size)
        if size == self.layout.sizes["body_pt"]:
            condense(run, self.layout)
        return run

    def _para(self, align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.JUSTIFY) -> Paragraph:
        para = self.doc.add_paragraph()
        para.alignment = align
        return para

    def markings(self, lines: Sequence[str]) -> None:
        """份号, 密级和保密期限, 紧急程度: top left, one a line, in that order (3号黑体)."""
        for line in lines:
            para = self._para(WD_ALIGN_PARAGRAPH.LEFT)
            self._text(para, line, "markings", self.layout.sizes["markings_pt"])

    def masthead(self, text: str) -> None:
        """A red masthead (a publication's name, or the 发文机关标志), centred, in 小标宋, on one
        line: a long name is set smaller to fit the text block."""
        para = self._para(WD_ALIGN_PARAGRAPH.CENTER)
        block_pt = self.layout.block_width_mm * 72 / 25.4
        size = min(self.layout.sizes["masthead_pt"], 0.9 * block_pt / max(1, len(text)))
        para.paragraph_format.line_spacing = Pt(size * 1.3)  # taller than the grid's line
        run = self._text(para, text, "title", size)
        run.font.color.rgb = RGBColor.from_string(self.layout.red)

    def red_line(self) -> None:
        """A red line as wide as the text block (under a masthead or 发文机关标志)."""
        self._rule(self._para(), self.layout.red, 12)

    def _rule(self, para: Paragraph, colour: str, eighths: int, where: str = "bottom") -> None:
        ppr = para._p.get_or_add_pPr()
        borders = ppr.find(qn("w:pBdr"))
        if borders is None:
            borders = OxmlElement("w:pBdr")
            ppr.insert_element_before(borders, *AFTER_PBDR)  # Word checks the order
        borders.append(border(where, eighths, colour, space=1))

    def spread(self, left: str, right: str) -> None:
        """One line with ``left`` at the left edge and ``right`` at the right (编印单位, date)."""
        para = self._para(WD_ALIGN_PARAGRAPH.LEFT)
        para.paragraph_format.tab_stops.add_tab_stop(
            Mm(self.layout.block_width_mm), WD_TAB_ALIGNMENT.RIGHT
        )
        self._text(para, f"{left}\t{right}", "body", self.layout.sizes["body_pt"])

    def title(self, text: str, size: str = "title") -> None:
        """标题: 2号小标宋, centred (``size="body"``: an item's title in a publication, 3号)."""
        para = self._para(WD_ALIGN_PARAGRAPH.CENTER)
        size = self.layout.sizes[f"{size}_pt"]
        para.paragraph_format.line_spacing = Pt(max(self.layout.line_pitch_pt, size * 1.3))
        self._text(para, text, "title", size)

    def heading(self, text: str, level: int = 1) -> None:
        """一级标题 黑体, 二级标题 楷体 (3号), indented two characters as the body; level 0:
        黑体 at the left edge (附件1 over an attachment)."""
        para = self._para(WD_ALIGN_PARAGRAPH.LEFT)
        if level:
            para.paragraph_format.first_line_indent = Pt(2 * self.layout.char_pitch_pt)
        para.paragraph_format.keep_with_next = True  # never alone at a page's foot
        role = "heading2" if level == 2 else "heading1"
        self._text(para, text, role, self.layout.sizes["body_pt"])

    def body(self, text: str, *, indent: bool = True, centred: bool = False) -> None:
        """A paragraph of 正文 (3号仿宋), its first line indented two characters."""
        para = self._para(WD_ALIGN_PARAGRAPH.CENTER if centred else WD_ALIGN_PARAGRAPH.JUSTIFY)
        if indent and not centred:
            para.paragraph_format.first_line_indent = Pt(2 * self.layout.char_pitch_pt)
        self._text(para, text, "body", self.layout.sizes["body_pt"])

    def right(self, text: str) -> None:
        """A line set right, four characters in (落款, 成文日期)."""
        para = self._para(WD_ALIGN_PARAGRAPH.RIGHT)
        para.paragraph_format.right_indent = Pt(4 * self.layout.char_pitch_pt)
        self._text(para, text, "body", self.layout.sizes["body_pt"])

    def caption(self, text: str) -> None:
        """A table's name, centred over it and kept on its page."""
        para = self._para(WD_ALIGN_PARAGRAPH.CENTER)
        para.paragraph_format.keep_with_next = True
        self._text(para, text, "heading1", self.layout.sizes["body_pt"])

    def blank(self) -> None:
        self._para()

    def page_break(self) -> None:
        """What follows starts a new page (an attachment)."""
        run = self._para(WD_ALIGN_PARAGRAPH.LEFT).add_run()
        set_fonts(run, self.layout.font("body"), self.layout.sizes["body_pt"])
        run.add_break(WD_BREAK.PAGE)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
        """A table with visible borders, every cell in 4号仿宋, the header row repeated on each
        page it runs onto."""
        size = self.layout.sizes["table_pt"]
        table = self.doc.add_table(rows=1, cols=len(header))
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        props = table._tbl.tblPr
        borders = OxmlElement("w:tblBorders")
        for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
            borders.append(border(edge, 4, "000000"))
        props.insert_element_before(borders, *AFTER_TBLBORDERS)
        repeat = OxmlElement("w:tblHeader")
        table.rows[0]._tr.get_or_add_trPr().append(repeat)
        for cells, texts in ((table.rows[0].cells, header), *((None, r) for r in rows)):
            cells = cells if cells is not None else table.add_row().cells
            for cell, text in zip(cells, texts, strict=True):
                para = cell.paragraphs[0]
                para.alignment = WD_ALIGN_PARAGRAPH.CENTER
                para.paragraph_format.line_spacing = Pt(size * 1.5)
                self._text(para, str(text), "body", size)
        return table

    def colophon(self, lines: Sequence[str | tuple[str, str]]) -> None:
        """版记, the document's end: its lines (a pair: left and right on one line, as 印发机关
        and 印发日期) between a thick first and last rule, thin rules between, 4号仿宋, one
        character in, its last line on the last line of the last page. It is a one-column
        table floating at the foot of the text block (``w:tblpPr``), anchored to an empty
        hairline paragraph after it: where the body leaves no room it moves, whole, to a new
        page. Placed from the page's edge, not the margin, so LibreOffice floats a table as
        wide as the text block too (it keeps one relative to the margin in the flow)."""
        lay = self.layout
        size = lay.sizes["colophon_pt"]
        one = Pt(size)
        table = self.doc.add_table(rows=len(lines), cols=1)
        props = table._tbl.tblPr
        floating = OxmlElement("w:tblpPr")
        for name, value in (
            ("w:leftFromText", "0"),
            ("w:rightFromText", "0"),
            ("w:vertAnchor", "margin"),
            ("w:horzAnchor", "page"),
            ("w:tblpX", str(round(Mm(lay.left_mm).twips))),
            ("w:tblpYSpec", "bottom"),
        ):
            floating.set(qn(name), value)
        props.insert_element_before(floating, *AFTER_TBLPPR)
        width = props.find(qn("w:tblW"))
        if width is None:
            width = OxmlElement("w:tblW")
            props.insert_element_before(width, *AFTER_TBLPPR[AFTER_TBLPPR.index("w:tblW") + 1 :])
        width.set(qn("w:w"), str(round(Mm(lay.block_width_mm).twips)))
        width.set(qn("w:type"), "dxa")
        rules = OxmlElement("w:tblBorders")
        for edge, eighths in (("top", 8), ("bottom", 8), ("insideH", 4)):  # 0.35 / 0.25 mm
            rules.append(border(edge, eighths, "000000"))
        props.insert_element_before(rules, *AFTER_TBLBORDERS)
        margins = OxmlElement("w:tblCellMar")  # the rules exactly as wide as the block
        for edge in ("left", "right"):
            margin = OxmlElement(f"w:{edge}")
            margin.set(qn("w:w"), "0")
            margin.set(qn("w:type"), "dxa")
            margins.append(margin)
        props.insert_element_before(
            margins, *AFTER_TBLBORDERS[AFTER_TBLBORDERS.index("w:tblCellMar") + 1 :]
        )
        for row, line in zip(table.rows, lines, strict=True):
            para = row.cells[0].paragraphs[0]
            para.alignment = WD_ALIGN_PARAGRAPH.LEFT
            para.paragraph_format.left_indent = one
            para.paragraph_format.right_indent = one
            if isinstance(line, tuple):  # tab stops count from the block's left edge
                stop = Mm(lay.block_width_mm) - one
                para.paragraph_format.tab_stops.add_tab_stop(stop, WD_TAB_ALIGNMENT.RIGHT)
                self._text(para, f"{line[0]}\t{line[1]}", "body", size)
            else:
                self._text(para, line, "body", size)
        anchor = self._para(WD_ALIGN_PARAGRAPH.LEFT)  # a floating table needs one after it
        anchor.paragraph_format.line_spacing = Pt(1)
        off = OxmlElement("w:snapToGrid")  # a hairline, not a line of the grid
        off.set(qn("w:val"), "0")
        after = AFTER_PBDR[AFTER_PBDR.index("w:snapToGrid") + 1 :]
        anchor._p.get_or_add_pPr().insert_element_before(off, *after)

    def _font_table(self) -> None:
        """Name, in the document's font table, each font this layout uses with the next one of
        its list as ``w:altName``: a machine without 仿宋_GB2312 opening the file is told to use
        仿宋 (Word reads the alternative; a list longer than two stays in document.toml)."""
        part = next(
            (
                r.target_part
                for r in self.doc.part.rels.values()
                if r.reltype.endswith("/fontTable")
            ),
            None,
        )
        if part is None:
            return
        table = parse_xml(part.blob)
        present = {f.get(qn("w:name")) for f in table.findall(qn("w:font"))}
        for role, names in self.layout.fonts.items():
            chosen = self.layout.font(role)
            rest = [n for n in names if n != chosen]
            if chosen in present or not rest:
                continue
            font = OxmlElement("w:font")
            font.set(qn("w:name"), chosen)
            for tag, value in (("w:altName", rest[0]), ("w:charset", "86")):  # 86: GB2312
                child = OxmlElement(tag)
                child.set(qn("w:val"), value)
                font.append(child)
            table.append(font)
            present.add(chosen)
        part._blob = serialize_part_xml(table)

    def save(self, path: Path) -> Path:
        """Write the document atomically (a partial file never has the final name)."""
        self._font_table()
        tmp = path.with_name(f".{path.name}.part")
        self.doc.save(str(tmp))
        tmp.replace(path)
        return path
