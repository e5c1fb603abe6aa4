from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from schema.commandline import EXIT_ERROR, run
from schema.error import StoreError
from schema.store import Store, commit_marker, migrations


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


def _indexed(store: Store, word: str) -> list[int]:
    """Rows item_fts holds for ``word`` now, read past the store (no flush of what waits)."""
    rows = store.db.conn.execute(
        "SELECT rowid FROM item_fts WHERE item_fts MATCH ? ORDER BY rowid", [f'"{word}"']
    )
    return [r[0] for r in rows]


def test_search_tokens_are_written_at_the_commit_all_together(tmp_path: Path) -> None:
    """Issue 19: an item's search tokens wait for the commit of its transaction, so a batch
    of received items is one FTS5 segment rather than one per item (a trigger or savepoint
    after each insert would flush it); a savepoint undone takes its tokens with it; a search
    inside the transaction sees what it wrote; a revision replaces tokens not yet written."""
    store = Store.open(tmp_path / "store.db")
    with store.write():
        store.index(1, "煤矿 矿", "透水 水")
        store.index(2, "欠薪 薪", "")
        assert _indexed(store, "煤矿") == []  # waiting for the commit
        with pytest.raises(RuntimeError), store.savepoint():
            store.index(3, "煤矿 矿", "")
            store.unindex(2, "欠薪 薪", "")
            raise RuntimeError("this record is refused")
        store.unindex(1, "煤矿 矿", "透水 水")  # revised before it was written
        store.index(1, "秸秆 秆", "")
    assert _indexed(store, "煤矿") == []
    assert _indexed(store, "秸秆") == [1]
    assert _indexed(store, "欠薪") == [2]  # the savepoint's unindex was undone
    with store.write():
        store.unindex(1, "秸秆 秆", "")  # written before: deleted at once
        store.index(1, "供暖 暖", "")
        assert [
            r["rowid"]
            for r in store.query("SELECT rowid FROM item_fts WHERE item_fts MATCH '\"供暖\"'")
        ] == [1]
    assert _indexed(store, "秸秆") == [] and _indexed(store, "供暖") == [1]
    with pytest.raises(RuntimeError), store.write():
        store.index(5, "煤矿 矿", "")
        raise RuntimeError("crash")
    with store.write():
        pass
    assert _indexed(store, "煤矿") == []  # a rolled-back transaction's tokens are gone
    store.close()


def test_tokens_outside_a_write_are_written_at_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    store.db.conn.execute("BEGIN")
    store.index(7, "煤矿 矿", "")
    assert _indexed(store, "煤矿") == [7]
    store.db.conn.execute("COMMIT")
    store.close()


def test_sketches_made_before_the_new_hash_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store.open(path)
    store.db.execute("INSERT INTO item_sketch(seq, sketch) VALUES (1, x'00')")
    store.db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm022_sketch_hash'")
    store.close()
    store = Store.open(path)
    assert store.query("SELECT * FROM item_sketch") == []
    store.close()


def test_a_search_inside_a_savepoint_leaves_its_undo_whole(tmp_path: Path) -> None:
    """A savepoint undone after a search inside it takes back only its own tokens: those
    indexed before it are written at the commit, those it indexed are not."""
    store = Store.open(tmp_path / "store.db")
    with store.write():
        store.index(1, "煤矿 矿", "")
        store.index(2, "欠薪 薪", "")
        with pytest.raises(RuntimeError), store.savepoint():
            store.query("SELECT rowid FROM item_fts WHERE item_fts MATCH '\"煤矿\"'")
            store.index(3, "秸秆 秆", "")
            raise RuntimeError("this record is refused")
    assert _indexed(store, "煤矿") == [1] and _indexed(store, "欠薪") == [2]
    assert _indexed(store, "秸秆") == []
    store.close()


def test_tokens_are_not_written_when_sqlite_rolled_the_transaction_back(tmp_path: Path) -> None:
    """An error that ends the whole transaction (a full disk, RAISE(ROLLBACK)), caught by a
    caller inside the write, does not leave the batch's tokens written without their items."""
    store = Store.open(tmp_path / "store.db")
    store.db.conn.execute("CREATE TABLE boom(x)")
    store.db.conn.execute(
        "CREATE TRIGGER boom_all BEFORE INSERT ON boom BEGIN SELECT RAISE(ROLLBACK, 'gone'); END"
    )
    with pytest.raises(StoreError, match="回滚"), store.write():
        store.index(7, "煤矿 矿", "")
        with contextlib.suppress(sqlite3.Error), store.savepoint():
            store.db.execute("INSERT INTO boom VALUES (1)")
    assert _indexed(store, "煤矿") == []
    with store.write():  # the store goes on
        store.index(8, "欠薪 薪", "")
    assert _indexed(store, "欠薪") == [8]
    store.close()


def test_every_commit_closes_the_commit_marker_and_nothing_there_can_hold_it_up(
    tmp_path: Path,
) -> None:
    """A commit opens the marker beside the store for writing and closes it (a watching
    daemon's one event), made with the store's permissions; a transaction rolled back does
    not. A FIFO or a link put where the marker goes neither holds the commit up nor is
    followed: the commit is made all the same."""
    path = tmp_path / "store.db"
    store = Store.open(path)
    marker = commit_marker(path)
    try:
        path.chmod(0o640)
        marker.unlink(missing_ok=True)
        with store.write() as db:
            db.execute("INSERT INTO counter(name, value) VALUES ('a', 1)")
        assert marker.is_file() and marker.stat().st_mode & 0o777 == 0o640
        assert marker.stat().st_size == 0
        before = marker.stat().st_mtime_ns
        with contextlib.suppress(RuntimeError), store.write() as db:
            db.execute("INSERT INTO counter(name, value) VALUES ('b', 1)")
            raise RuntimeError("undone")
        assert marker.stat().st_mtime_ns == before
        for trap in ("fifo", "link"):
            marker.unlink()
            if trap == "fifo":
                os.mkfifo(marker)
            else:
                os.mkfifo(tmp_path / "elsewhere")
                marker.symlink_to(tmp_path / "elsewhere")
            done = threading.Event()

            def commit(name: str = trap, done: threading.Event = done) -> None:
                with store.write() as db:
                    db.execute("INSERT INTO counter(name, value) VALUES (?, 1)", [name])
                done.set()

            worker = threading.Thread(target=commit, daemon=True)
            worker.start()
            worker.join(5)
            assert done.is_set(), f"a commit waited on a {trap} at the marker"
        names = {r[0] for r in store.db.execute("SELECT name FROM counter")}
        assert {"a", "fifo", "link"} <= names and "b" not in names
    finally:
        store.close()


def test_a_database_fault_outside_a_write_is_one_line_in_chinese(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A command that meets a SQLite error Store.write() did not turn into a StoreError (a
    read of a damaged page, a lock held past the busy timeout) says so in one line of Chinese
    and exits 1 — no traceback; anything else still propagates."""

    def fails(error: Exception) -> Callable[[Sequence[str] | None], int]:
        def handler(argv: Sequence[str] | None) -> int:
            raise error

        return handler

    cases = {
        "database is locked": "数据库正忙",
        "database disk image is malformed": "数据库文件已损坏",
        "attempt to write a readonly database": "数据库不可写",
        "no such table: item": "数据库出错：no such table: item",
    }
    umask = os.umask(0o077)  # run() sets this process's umask: put back after
    try:
        for text, said in cases.items():
            assert run("xinbao", fails(sqlite3.OperationalError(text)), []) == EXIT_ERROR
            err = capsys.readouterr().err
            assert err.startswith("xinbao: 错误：") and said in err and "Traceback" not in err
        with pytest.raises(ZeroDivisionError):
            run("xinbao", fails(ZeroDivisionError()), [])
    finally:
        os.umask(umask)
