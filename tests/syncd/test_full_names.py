"""A person's full name (issue 17): ``user add NAME --full-name 王五`` keeps it in the node's
config (``[names]``), and documents print it where they name the person — 签发：王五, never the
operating-system account."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import docx

from schema.issuefile import to_docx, to_markdown
from schema.node import NodeHome, names_at
from tests.cli_helpers import run
from tests.console.test_desk_cli import init
from tests.schema.test_document import issue


def test_a_full_name_is_kept_listed_and_removed_with_the_user(tmp_path: Path) -> None:
    home = tmp_path / "city"
    init(home, "140200", "大同市人民政府办公室", "city", "140000")
    done = run(
        "xinbao-syncd", "user", "add", "wang", "--role", "签发人", "--full-name", "王五", home=home
    )
    assert done.code == 0, done.err
    assert "wang（王五）" in done.out
    assert names_at(home / "store.db") == {"wang": "王五"}
    listed = run("xinbao-syncd", "user", "list", home=home).out
    assert "wang\t签发人\t（无登录密钥）\t王五" in listed
    bad = run(
        "xinbao-syncd", "user", "add", "li", "--role", "编辑", "--full-name", "李" * 40, home=home
    )
    assert bad.code != 0 and "姓名" in bad.err
    assert run("xinbao-syncd", "user", "remove", "wang", home=home).code == 0
    assert names_at(home / "store.db") == {}
    assert NodeHome(home).load().names == {}


def test_documents_name_the_signer(tmp_path: Path) -> None:
    signed = replace(issue(), signer="wang")
    names = {"wang": "王五"}
    path = to_docx(signed, "大同市人民政府办公室", tmp_path / "i.docx", copy=1, names=names)
    texts = [p.text for p in docx.Document(str(path)).paragraphs]
    assert "签发：王五" in texts and "签发：wang" not in texts
    assert "签发：王五" in to_markdown(signed, "大同市人民政府办公室", names=names)
    assert "签发：wang" in to_markdown(signed, "大同市人民政府办公室")  # no name set: the account
