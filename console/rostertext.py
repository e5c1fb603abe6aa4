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


def in_order(entries: list[Entry]) -> list[Entry]:
    """The units with a roster first (whom to phone), then those that never sent one."""
    return [e for e in entries if e.people] + [e for e in entries if not e.people]


def book_lines(entries: list[Entry]) -> list[str]:
    """The whole 通讯录: each unit with a roster, a blank line between; then those that never
    sent one, a line each under their count."""
    out: list[str] = []
    for entry in (e for e in entries if e.people):
        out += [*entry_lines(entry), ""]
    silent = [e for e in entries if not e.people]
    if silent:
        out.append(f"未报送通讯录的单位（{len(silent)}）")
        out += [line for entry in silent for line in entry_lines(entry)]
    return out[:-1] if out and out[-1] == "" else out
