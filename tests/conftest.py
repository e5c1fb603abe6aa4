"""Shared fixtures: in-memory stores, desks at a county and a city, a fixed clock."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schema.clock import CHINA
from schema.desk import Desk
from schema.itemfile import parse_item
from schema.record import ItemDraft, Unit
from schema.store import Store
from schema.vocabulary import Role, Tier
from tests.cli_helpers import deliver

COUNTY = Unit("140212", "新荣区人民政府办公室", Tier.COUNTY, "140200", short="新荣区")
COUNTY2 = Unit("140213", "平城区人民政府办公室", Tier.COUNTY, "140200", short="平城区")
CITY = Unit("140200", "大同市人民政府办公室", Tier.CITY, "140000", short="大同市")
T0 = datetime(2026, 11, 21, 15, 0, tzinfo=CHINA)


class Ticking:
    """A clock that advances one minute per reading, so audit times are ordered and fixed."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


class Fixed:
    """A clock that reads ``now`` until a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_desk(unit: Unit, roles: frozenset[Role] = frozenset(Role), actor: str = "tester") -> Desk:
    """A desk at ``unit`` over a fresh in-memory store."""
    return Desk(Store.memory(), unit, actor, roles, Ticking())


def carry(source: Desk, target: Desk) -> list[Any]:
    """Deliver every queued record of ``source`` addressed to ``target`` (what the daemon does)."""
    return deliver(source.store, target.store, target.node.id, source.clock())


def draft(**overrides: Any) -> ItemDraft:
    """A valid item draft, with fields overridden."""
    data: dict[str, Any] = {
        "title": "新荣区多措并举保障困难群众温暖过冬",
        "category": "经验做法",
        "urgency": "平急",
        "classification": "内部",
        "author": "张三",
        "phone": "0352-1234567",
        "body": "入冬以来，新荣区摸清底数、兜牢底线，落实煤改电峰谷电价优惠，困难群众取暖有保障。",
    }
    data.update(overrides)
    return parse_item({k: v for k, v in data.items() if v is not None})


def incident_draft(**overrides: Any) -> ItemDraft:
    """A valid emergency draft."""
    fields: dict[str, Any] = {
        "title": "新荣区某煤矿发生透水事故",
        "category": "突发事件",
        "urgency": "特急",
        "body": "11月21日14时35分，新荣区某煤矿井下发生透水，2人受伤，无人员死亡。",
        "incident": {
            "severity": "较大",
            "occurred_at": "2026-11-21T14:35:00+08:00",
            "place": "新荣区某煤矿",
        },
    }
    fields.update(overrides)
    return draft(**fields)


@pytest.fixture
def county() -> Desk:
    return make_desk(COUNTY)


@pytest.fixture
def city() -> Desk:
    return make_desk(CITY)


@pytest.fixture
def tables() -> Callable[[Store], dict[str, list[tuple[Any, ...]]]]:
    """Every row of every table of a store, to prove that nothing changed."""

    def take(store: Store) -> dict[str, list[tuple[Any, ...]]]:
        tables = [t for t in store.db.table_names() if not t.startswith("item_fts")]
        return {
            t: sorted(map(tuple, store.db.execute(f"SELECT * FROM [{t}]").fetchall()), key=repr)
            for t in [*tables, "item_fts"]
        }

    return take


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[Callable[..., dict[str, str]]]:
    """Environment for running the command lines in a subprocess as a given user."""

    def env(user: str = "zhangsan", **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
        bindir = str(Path(sys.executable).parent)
        return {**base, "USER": user, "PATH": bindir + os.pathsep + base.get("PATH", ""), **extra}

    yield env
