"""An issue of a publication as a document: Markdown and .docx (python-docx).

GB/T 9704-2012 §7.2: the markings stand top-left, one per line, in this order — copy number
(份号, six digits), classification with its period (秘密★1年), urgency (特急/加急). Then the
masthead (the publication's name), the issue line (2026年第3期（总第41期）), the publishing
office and date, and the items in their order, each title followed by its body.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from schema.publication import Issue, shipped_rules
from schema.vocabulary import Classification, Urgency


def marks(level: Classification, urgency: Urgency) -> list[str]:
    """密级和保密期限 (秘密★1年) and 紧急程度, in GB/T 9704 order; those that apply."""
    lines = []
    if level >= Classification.SECRET:
        period = shipped_rules().period.get(level, "")
        lines.append(f"{level}★{period}" if period else str(level))
    elif level is Classification.INTERNAL:
        lines.append(str(level))
    if urgency > Urgency.ROUTINE:
        lines.append(str(urgency))
    return lines


def markings(issue: Issue, copy: int) -> list[str]:
    """The top-left marking lines of one copy, in GB/T 9704 order (absent ones left out)."""
    return [f"{copy:06d}", *marks(issue.classification, issue.urgency)]


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


def to_markdown(
    issue: Issue, office: str, copy: int | None = None, names: Mapping[str, str] | None = None
) -> str:
    """The issue as Markdown (markings first, as plain lines)."""
    number = _check_copy(issue, copy)
    out = [*(f"{line}  " for line in markings(issue, number)), ""]
    out += [f"# {issue.publication}", "", issue_line(issue), "", dateline(issue, office), ""]
    for n, entry in enumerate(issue.entries, 1):
        out += [f"## {n}. {entry.title}", ""]
        out += [*(p for p in entry.body.splitlines() if p.strip()), ""]
    if issue.signer:
        out += [f"签发：{(names or {}).get(issue.signer, issue.signer)}", ""]
    return "\n".join(out)


def colophon(issue: Issue, office: str) -> list[str | tuple[str, str]]:
    """The 版记: the publication's 报/送/发 lines (data), then the office and the copies."""
    lines: list[str | tuple[str, str]] = [
        f"{label}：{whom}"
        for label, whom in shipped_rules().distribution.get(issue.publication, ())
    ]
    first, last = issue.copies
    lines.append((office, f"共印{last - first + 1}份"))
    return lines


def to_docx(
    issue: Issue,
    office: str,
    path: Path,
    copy: int | None = None,
    names: Mapping[str, str] | None = None,
) -> Path:
    """Write the issue as a .docx file on the GB/T 9704 page (atomically); the path written.

    Top left the markings; the red masthead, the issue line, the publishing office left and
    the date right over a red line; the items, each title in 小标宋 and its body in 仿宋; the
    签发 line (the person's full name from ``names``, the node's [names], else the account);
    the 版记 (报/送/发, 共印N份) at the end."""
    number = _check_copy(issue, copy)
    from schema.document import Paper  # python-docx loads only for a .docx

    paper = Paper()
    paper.markings(markings(issue, number))
    paper.masthead(issue.publication)
    paper.body(issue_line(issue), indent=False, centred=True)
    d = issue.date
    paper.spread(office, f"{d.year}年{d.month}月{d.day}日")
    paper.red_line()
    for n, entry in enumerate(issue.entries, 1):
        paper.blank()
        paper.title(f"{n}. {entry.title}" if len(issue.entries) > 1 else entry.title, size="body")
        for text in entry.body.splitlines():
            if text.strip():
                paper.body(text.strip())
    if issue.signer:
        paper.blank()
        paper.right(f"签发：{(names or {}).get(issue.signer, issue.signer)}")
    paper.blank()
    paper.colophon(colophon(issue, office))
    return paper.save(path)


def to_xlsx(issue: Issue, office: str, path: Path) -> Path:
    """The issue's contents as a spreadsheet (atomically): one row per item — its place, title,
    the unit it came from, its markings and id — under the issue's title."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "本期目录"
    sheet.append([f"{issue.publication} {issue_line(issue)}　{dateline(issue, office)}"])
    sheet.append(["序号", "标题", "来源单位", "密级", "紧急程度", "信息编号"])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for n, entry in enumerate(issue.entries, 1):
        sheet.append(
            [
                n,
                entry.title,
                entry.origin,
                str(entry.classification),
                str(entry.urgency),
                entry.item_id,
            ]
        )
    sheet.column_dimensions["B"].width = 48
    tmp = path.with_name(f".{path.name}.part")
    book.save(str(tmp))
    tmp.replace(path)
    return path
