"""The 通讯录 as lines of text: what ``xinbao roster`` prints and the console's 网络 tab shows."""

from __future__ import annotations

from console.requests_text import when
from schema.roster import Entry


def entry_lines(entry: Entry) -> list[str]:
    """One unit: a heading (name, code, last heard from, what its roster lacks), then a line
    a person: role, name, post, office phone, mobile."""
    head = f"{entry.label}（{entry.unit}）"
    if entry.last_active is not None:
        head += f"　最近活动 {when(entry.last_active)}"
    if not entry.people:
        return [head + "　未报送通讯录"]
    if entry.missing:
        head += "　未填" + "、".join(entry.missing)
    lines = [head]
    for p in entry.people:
        phones = "　".join(
            part
            for part in (
                f"办 {p.office_phone}" if p.office_phone else "",
                f"手机 {p.mobile}" if p.mobile else "",
            )
            if part
        )
        lines.append("　".join(part for part in (f"  {p.role}", p.name, p.post, phones) if part))
    return lines


def book_lines(entries: list[Entry]) -> list[str]:
    """The whole 通讯录, a blank line between units."""
    out: list[str] = []
    for entry in entries:
        out += [*entry_lines(entry), ""]
    return out[:-1]
