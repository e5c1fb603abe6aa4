"""An issue of a publication as a document: Markdown and .docx (python-docx).

GB/T 9704-2012 §7.2: the markings stand top-left, one per line, in this order — copy number
(份号, six digits), classification with its period (秘密★1年), urgency (特急/加急). Then the
masthead (the publication's name), the issue line (2026年第3期（总第41期）), the publishing
office and date, and the items in their order, each title followed by its body.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.text.run import Run

from schema.publication import Issue, shipped_rules
from schema.vocabulary import Classification, Urgency

FONT = "仿宋"  # body text; headings in 黑体/小标宋 as offices print them
TITLE_FONT = "方正小标宋简体"


def _font(run: Run, name: str) -> None:
    """Set a run's font for Latin and for Chinese text (w:eastAsia)."""
    run.font.name = name  # creates w:rFonts
    fonts = run.element.rPr.rFonts if run.element.rPr is not None else None
    if fonts is not None:
        fonts.set(qn("w:eastAsia"), name)


def markings(issue: Issue, copy: int) -> list[str]:
    """The top-left marking lines of one copy, in GB/T 9704 order (absent ones left out)."""
    lines = [f"{copy:06d}"]
    level = issue.classification
    if level >= Classification.SECRET:
        period = shipped_rules().period.get(level, "")
        lines.append(f"{level}★{period}" if period else str(level))
    elif level is Classification.INTERNAL:
        lines.append(str(level))
    if issue.urgency > Urgency.ROUTINE:
        lines.append(str(issue.urgency))
    return lines


def _check_copy(issue: Issue, copy: int | None) -> int:
    first, last = issue.copies
    copy = first if copy is None else copy
    if not first <= copy <= last:
        raise ValueError(f"份号 {copy} 不在本期印数 {first}–{last} 之内")
    return copy


def issue_line(issue: Issue) -> str:
    return f"{issue.year}年第{issue.number}期（总第{issue.cumulative}期）"


def dateline(issue: Issue, office: str) -> str:
    d = issue.date
    return f"{office}　　{d.year}年{d.month}月{d.day}日"


def to_markdown(issue: Issue, office: str, copy: int | None = None) -> str:
    """The issue as Markdown (markings first, as plain lines)."""
    number = _check_copy(issue, copy)
    out = [*(f"{line}  " for line in markings(issue, number)), ""]
    out += [f"# {issue.publication}", "", issue_line(issue), "", dateline(issue, office), ""]
    for n, entry in enumerate(issue.entries, 1):
        out += [f"## {n}. {entry.title}", ""]
        out += [*(p for p in entry.body.splitlines() if p.strip()), ""]
    if issue.signer:
        out += [f"签发：{issue.signer}", ""]
    return "\n".join(out)


def to_docx(issue: Issue, office: str, path: Path, copy: int | None = None) -> Path:
    """Write the issue as a .docx file (atomically); the path written."""
    number = _check_copy(issue, copy)
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    style.font.size = Pt(16)  # 三号
    for line in markings(issue, number):
        para = doc.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.LEFT
        _font(para.add_run(line), "黑体")
    masthead = doc.add_paragraph()
    masthead.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = masthead.add_run(issue.publication)
    run.font.size = Pt(42)
    run.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)  # the red masthead
    _font(run, TITLE_FONT)
    line = doc.add_paragraph(issue_line(issue))
    line.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(dateline(issue, office))
    for n, entry in enumerate(issue.entries, 1):
        heading = doc.add_paragraph()
        heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
        title = heading.add_run(f"{n}. {entry.title}")
        title.bold = True
        _font(title, TITLE_FONT)
        for text in entry.body.splitlines():
            if text.strip():
                para = doc.add_paragraph(text.strip())
                para.paragraph_format.first_line_indent = Pt(32)  # two characters
    if issue.signer:
        doc.add_paragraph(f"签发：{issue.signer}")
    tmp = path.with_name(f".{path.name}.part")
    doc.save(str(tmp))
    tmp.replace(path)
    return path
