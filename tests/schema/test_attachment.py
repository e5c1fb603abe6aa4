"""Attachments in schema: the content-addressed folder (schema/attachment.py) and the
``attachments`` of item files (schema/itemfile.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from schema import outbox
from schema.attachment import Attachments, referenced
from schema.desk import Desk, signoff, submit
from schema.error import ValidationError
from schema.itemfile import draft_to_dict, parse_item, read_item_file
from schema.record import Attachment
from tests.conftest import draft
from tests.schema.test_itemfile import GOOD, INCIDENT

PHOTO = "现场照片：新荣区某煤矿井口，救援人员正在排水。".encode() * 7


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def held(store: Attachments) -> list[Path]:
    """Every file under the folder, temporary ones included."""
    if not store.root.exists():
        return []
    return sorted(p for p in store.root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> Attachments:
    return Attachments(tmp_path / "home" / "attachments")


# ---------------------------------------------------------------------------------------------
# The folder


def test_add_file_keeps_a_file_under_its_hash_once(store: Attachments, tmp_path: Path) -> None:
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    (tmp_path / "副本.jpg").write_bytes(PHOTO)
    (tmp_path / "空.txt").write_bytes(b"")
    first = store.add_file(tmp_path / "照片.jpg")
    assert first == Attachment(name="照片.jpg", sha256=sha(PHOTO), size=len(PHOTO))
    assert store.path(first.sha256) == store.root / sha(PHOTO)[:2] / sha(PHOTO)
    assert store.path(first.sha256).read_bytes() == PHOTO
    # the same bytes under another name: another name in the draft, one file in the folder
    copy = store.add_file(tmp_path / "副本.jpg")
    assert (copy.name, copy.sha256, copy.size) == ("副本.jpg", first.sha256, first.size)
    assert held(store) == [store.path(first.sha256)]
    empty = store.add_file(tmp_path / "空.txt")
    assert (empty.sha256, empty.size) == (sha(b""), 0)
    assert held(store) == sorted([store.path(first.sha256), store.path(sha(b""))])
    assert (tmp_path / "照片.jpg").read_bytes() == PHOTO  # copied, not moved


def test_add_file_of_a_missing_file_is_a_validation_error(
    store: Attachments, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as info:
        store.add_file(tmp_path / "没有.jpg")
    assert info.value.field == "attachments"
    assert held(store) == []  # no temporary file left behind


def test_keep_moves_a_received_file_in(store: Attachments, tmp_path: Path) -> None:
    staged = tmp_path / "0.part"
    staged.write_bytes(PHOTO)
    assert not store.has(sha(PHOTO))
    store.keep(sha(PHOTO), staged)
    assert store.has(sha(PHOTO))
    assert store.path(sha(PHOTO)).read_bytes() == PHOTO
    assert not staged.exists()  # a rename
    # the same hash again: what is held stays as it is
    again = tmp_path / "1.part"
    again.write_bytes(PHOTO)
    store.keep(sha(PHOTO), again)
    assert held(store) == [store.path(sha(PHOTO))]
    assert store.path(sha(PHOTO)).read_bytes() == PHOTO


def test_has_and_missing(store: Attachments, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(PHOTO)
    here = store.add_file(tmp_path / "a")
    away = Attachment("远.jpg", sha(b"not here"), 8)
    assert store.has(here.sha256) and not store.has(away.sha256)
    assert store.missing([here, away, here]) == [away]
    assert store.missing([]) == []


@pytest.mark.parametrize(
    "bad",
    [
        "",
        sha(PHOTO).upper(),  # the hex is lower case
        sha(PHOTO)[:63],
        sha(PHOTO) + "0",
        "g" * 64,
        "../" + sha(PHOTO)[3:],
        "ab/" + sha(PHOTO)[3:],
        sha(PHOTO)[:63] + "\n",
    ],
)
def test_path_refuses_a_bad_hash(store: Attachments, bad: str) -> None:
    for call in (store.path, store.has):
        with pytest.raises(ValidationError) as info:
            call(bad)
        assert info.value.field == "attachments"


def test_referenced_finds_the_hashes_at_any_depth() -> None:
    a, b, c = sha(b"a"), sha(b"b"), sha(b"c")
    payload: dict[str, Any] = {
        "item": {
            "draft": {"title": "x", "attachments": [{"name": "a", "sha256": a, "size": 1}]},
            "sources": [{"attachments": [{"sha256": b}, {"name": "no hash"}, "x", {"sha256": 5}]}],
        },
        "merged": [[{"deep": {"attachments": [{"sha256": c}, {"sha256": a}]}}]],
        "attachments": "not a list",
        "sha256": sha(b"not in an attachments list"),
    }
    assert list(referenced(payload)) == [a, b, c, a]
    assert list(referenced({"attachments": []})) == []
    assert list(referenced([1, "x", None, {"attachments": None}])) == []


def test_a_signed_off_item_refers_to_its_attachments_from_its_record(
    county: Desk, store: Attachments, tmp_path: Path
) -> None:
    (tmp_path / "item.toml").write_text(GOOD + 'attachments = ["照片.jpg"]\n', "utf-8")
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    written = read_item_file(tmp_path / "item.toml", store)
    assert written.attachments == (Attachment("照片.jpg", sha(PHOTO), len(PHOTO)),)
    item = submit(county, written)
    assert item.draft.attachments == written.attachments
    signoff(county, item.id)
    (queued,) = outbox.pending(county.store)
    assert list(referenced(queued.record.payload)) == [sha(PHOTO)]


# ---------------------------------------------------------------------------------------------
# Item files


def test_an_item_file_copies_its_attachments_in(store: Attachments, tmp_path: Path) -> None:
    (tmp_path / "附件").mkdir()
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    (tmp_path / "附件" / "说明.txt").write_bytes(b"\xe8\xaf\xb4\xe6\x98\x8e")
    path = tmp_path / "item.toml"
    path.write_text(GOOD + 'attachments = ["照片.jpg", "附件/说明.txt"]\n', "utf-8")
    got = read_item_file(path, store)
    assert got.attachments == (
        Attachment("照片.jpg", sha(PHOTO), len(PHOTO)),
        Attachment("说明.txt", sha("说明".encode()), 6),  # the file's own name, not its path
    )
    for a in got.attachments:
        assert store.path(a.sha256).is_file()
    assert store.path(sha(PHOTO)).read_bytes() == PHOTO
    assert got == parse_item({**draft_to_dict(got)})


def test_an_item_file_in_json_with_attachments(store: Attachments, tmp_path: Path) -> None:
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    data = {**draft_to_dict(draft()), "attachments": ["照片.jpg"]}
    path = tmp_path / "item.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert read_item_file(path, store).attachments == (
        Attachment("照片.jpg", sha(PHOTO), len(PHOTO)),
    )


def test_a_missing_attachment_file_is_named(store: Attachments, tmp_path: Path) -> None:
    path = tmp_path / "item.toml"
    path.write_text(GOOD + 'attachments = ["没有这个文件.jpg"]\n', "utf-8")
    with pytest.raises(ValidationError) as info:
        read_item_file(path, store)
    assert info.value.field == "attachments"
    assert "没有这个文件.jpg" in str(info.value)
    # a folder of that name is no file either
    (tmp_path / "没有这个文件.jpg").mkdir()
    with pytest.raises(ValidationError) as info:
        read_item_file(path, store)
    assert info.value.field == "attachments"
    assert held(store) == []


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("经验做法", "花边新闻"), "category"),
        (GOOD.replace('author = "张三"\n', ""), "author"),
        (INCIDENT.replace('place = "新荣区某煤矿"\n', ""), "incident.place"),
    ],
    ids=["category", "author", "incident.place"],
)
def test_nothing_is_copied_when_another_field_is_invalid(
    store: Attachments, tmp_path: Path, text: str, field: str
) -> None:
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    path = tmp_path / "item.toml"
    # top-level keys go before the first table
    head, table, rest = text.partition("[incident]")
    path.write_text(head + 'attachments = ["照片.jpg"]\n' + table + rest, "utf-8")
    with pytest.raises(ValidationError) as info:
        read_item_file(path, store)
    assert info.value.field == field
    assert held(store) == []


@pytest.mark.parametrize(
    "after",
    ['"没有这个文件.jpg"', '{ name = "x.jpg", sha256 = "00", size = 1 }'],
    ids=["a missing file", "a malformed entry"],
)
def test_nothing_is_copied_when_a_later_attachment_is_invalid(
    store: Attachments, tmp_path: Path, after: str
) -> None:
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    path = tmp_path / "item.toml"
    path.write_text(GOOD + f'attachments = ["照片.jpg", {after}]\n', "utf-8")
    with pytest.raises(ValidationError) as info:
        read_item_file(path, store)
    assert info.value.field == "attachments"
    assert held(store) == []


def test_attachment_files_need_a_folder_to_go_to(tmp_path: Path) -> None:
    (tmp_path / "照片.jpg").write_bytes(PHOTO)
    path = tmp_path / "item.toml"
    path.write_text(GOOD + 'attachments = ["照片.jpg"]\n', "utf-8")
    with pytest.raises(ValidationError) as info:
        read_item_file(path)
    assert info.value.field == "attachments"
    # entries that already name a hash need no folder
    entry = '{ name = "照片.jpg", sha256 = "' + sha(PHOTO) + f'", size = {len(PHOTO)} }}'
    path.write_text(GOOD + f"attachments = [{entry}]\n", "utf-8")
    assert read_item_file(path).attachments == (Attachment("照片.jpg", sha(PHOTO), len(PHOTO)),)


def test_attachments_survive_the_round_trip_through_a_dict(tmp_path: Path) -> None:
    listed = [
        {"name": "现场照片.jpg", "sha256": sha(PHOTO), "size": len(PHOTO)},
        {"name": "空.txt", "sha256": sha(b""), "size": 0},
    ]
    original = draft(attachments=listed)
    assert [a.name for a in original.attachments] == ["现场照片.jpg", "空.txt"]
    as_dict = draft_to_dict(original)
    assert as_dict["attachments"] == listed
    assert parse_item(as_dict) == original
    path = tmp_path / "item.json"
    path.write_text(json.dumps(as_dict, ensure_ascii=False), "utf-8")
    assert read_item_file(path) == original
    assert "attachments" not in draft_to_dict(draft())
    assert draft().attachments == ()


GOOD_ENTRY: dict[str, Any] = {"name": "照片.jpg", "sha256": sha(PHOTO), "size": len(PHOTO)}
MALFORMED: dict[str, Any] = {
    "bad sha (short)": {**GOOD_ENTRY, "sha256": sha(PHOTO)[:63]},
    "bad sha (upper case)": {**GOOD_ENTRY, "sha256": sha(PHOTO).upper()},
    "bad sha (not hex)": {**GOOD_ENTRY, "sha256": "z" * 64},
    "bad sha (a number)": {**GOOD_ENTRY, "sha256": 5},
    "negative size": {**GOOD_ENTRY, "size": -1},
    "bool size": {**GOOD_ENTRY, "size": True},
    "float size": {**GOOD_ENTRY, "size": 1.0},
    "text size": {**GOOD_ENTRY, "size": "12"},
    "a name with /": {**GOOD_ENTRY, "name": "../照片.jpg"},
    "a name in a folder": {**GOOD_ENTRY, "name": "附件/照片.jpg"},
    "an empty name": {**GOOD_ENTRY, "name": "  "},
    "a number for a name": {**GOOD_ENTRY, "name": 1},
    "a key missing": {"name": "照片.jpg", "sha256": sha(PHOTO)},
    "a key too many": {**GOOD_ENTRY, "mime": "image/jpeg"},
    "a bare file name": "照片.jpg",
    "a list": ["照片.jpg", sha(PHOTO), 1],
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_attachment_entries_are_refused(case: str) -> None:
    with pytest.raises(ValidationError) as info:
        draft(attachments=[GOOD_ENTRY, MALFORMED[case]])
    assert info.value.field == "attachments"


@pytest.mark.parametrize("value", ["照片.jpg", {"name": "照片.jpg"}, 3])
def test_attachments_must_be_a_list(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        draft(attachments=value)
    assert info.value.field == "attachments"
