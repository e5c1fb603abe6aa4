from __future__ import annotations

from pathlib import Path

import pytest

from schema.error import StoreError
from schema.store import Store, migrations


def test_store_file_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    store.close()


def test_migrations_are_recorded_and_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    store = Store.open(path)
    names = [m.name for m in migrations.applied(store.db)]
    assert names == [m.name for m in migrations._migrations]
    assert migrations.pending(store.db) == []
    store.close()


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    with pytest.raises(RuntimeError), store.write() as db:
        db.execute("INSERT INTO counter(name, value) VALUES ('a', 1)")
        raise RuntimeError("crash mid-operation")
    assert store.query("SELECT * FROM counter") == []


def test_sqlite_errors_become_store_errors(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    with pytest.raises(StoreError), store.write() as db:
        db.execute(
            "INSERT INTO edge(item_id, from_unit, to_unit, state, version, updated_at) "
            "VALUES ('no-such-item', 'a', 'b', '草稿', 1, 'x')"
        )  # foreign key violation
    with pytest.raises(StoreError):
        store.query("SELECT * FROM nowhere")


def test_a_second_process_sees_committed_writes(tmp_path: Path) -> None:
    first, second = Store.open(tmp_path / "s.db"), Store.open(tmp_path / "s.db")
    with first.write():
        assert first.next_number("item:2026") == 1
    with second.write():
        assert second.next_number("item:2026") == 2


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="无法打开"):
        Store.open(tmp_path / "missing-dir" / "store.db")
