"""Loading the sample network in ``fixtures/`` (data only) for tests and the demo.

The folder is found by :func:`schema.datafile.fixtures_dir`, the one loader of shipped data: the
repository's ``fixtures/`` in a checkout, its installed copy after ``pip install``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schema.datafile import fixtures_dir
from schema.error import ValidationError, reason
from schema.itemfile import ITEM_KEYS, parse_item
from schema.record import ItemDraft, Unit
from schema.roster import Person
from schema.roster import parse as parse_roster
from schema.vocabulary import Tier


@dataclass(frozen=True)
class SampleItem:
    """A fixture item: its draft, the unit that wrote it, when, and its duplicate label."""

    key: str
    unit: str
    draft: ItemDraft
    created: datetime
    dup_group: str = ""


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError("", f"无法读取示例数据 {path}：{reason(exc)}") from exc


def load_units(folder: Path | None = None) -> list[Unit]:
    """Every unit of the sample network."""
    data = _load((folder or fixtures_dir()) / "network.toml")
    return [
        Unit(
            id=u["id"],
            name=u["name"],
            tier=Tier.parse(u["tier"], f"unit {u['id']}.tier"),
            parent=u.get("parent", ""),
            short=u.get("short", ""),
            kind=u.get("kind", ""),
        )
        for u in data["unit"]
    ]


def load_items(folder: Path | None = None) -> list[SampleItem]:
    """Every sample item, validated as an item file would be."""
    data = _load((folder or fixtures_dir()) / "items.toml")
    out: list[SampleItem] = []
    for raw in data["item"]:
        content = {k: v for k, v in raw.items() if k in ITEM_KEYS}
        try:
            draft = parse_item(content)
        except ValidationError as exc:
            raise ValidationError(exc.field, f"示例信息 {raw.get('key')}：{exc.reason}") from exc
        out.append(
            SampleItem(
                key=raw["key"],
                unit=raw["unit"],
                draft=draft,
                created=raw["created"]
                if isinstance(raw["created"], datetime)
                else datetime.fromisoformat(raw["created"]),
                dup_group=raw.get("dup_group", ""),
            )
        )
    return out


def load_rosters(folder: Path | None = None) -> dict[str, tuple[Person, ...]]:
    """The sample 通讯录 of the demo network's units: unit → its people, each checked as a
    roster file would be."""
    data = _load((folder or fixtures_dir()) / "rosters.toml")
    out: dict[str, tuple[Person, ...]] = {}
    for raw in data.get("roster", []):
        try:
            out[raw["unit"]] = parse_roster({"person": raw.get("person", [])})
        except ValidationError as exc:
            raise ValidationError(exc.field, f"示例通讯录 {raw.get('unit')}：{exc.reason}") from exc
    return out


def load_requests(folder: Path | None = None) -> list[dict[str, Any]]:
    """The sample topic requests and reporting priorities, as written."""
    return list(_load((folder or fixtures_dir()) / "requests.toml")["request"])


def load_scoring(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """The sample offices' scoring rule sets, by file stem."""
    root = (folder or fixtures_dir()) / "scoring"
    return {p.stem: _load(p) for p in sorted(root.glob("*.toml"))}
