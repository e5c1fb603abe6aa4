"""``xinbao-syncd init`` and ``user``: node homes and who may do what."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from tests.cli_helpers import me, run


def test_init_creates_config_and_store_and_makes_the_caller_admin(tmp_path: Path) -> None:
    home = tmp_path / "node"
    done = run(
        "xinbao-syncd",
        "init",
        "--id",
        "140200",
        "--name",
        "大同市人民政府办公室",
        "--tier",
        "市",
        "--parent",
        "140000",
        "--home",
        str(home),
    )
    assert done.code == 0, done.err
    assert "140200" in done.out
    config = tomllib.loads((home / "config.toml").read_text("utf-8"))
    assert config["node"] == {
        "id": "140200",
        "name": "大同市人民政府办公室",
        "tier": "city",
        "parent": "140000",
    }
    assert set(config["users"][me()]) == {"信息员", "编辑", "审核人", "签发人", "管理员"}
    assert (home / "store.db").is_file()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_init_refuses_to_overwrite_a_node(tmp_path: Path) -> None:
    args = ("init", "--id", "140212", "--name", "新荣区", "--tier", "county", "--parent", "140200")
    assert run("xinbao-syncd", *args, home=tmp_path).code == 0
    again = run("xinbao-syncd", *args, home=tmp_path)
    assert again.code == 1
    assert again.err.count("\n") == 1 and "不会覆盖" in again.err


def test_init_rejects_bad_ids_and_tiers_in_one_line(tmp_path: Path) -> None:
    bad_id = run(
        "xinbao-syncd", "init", "--id", "大同", "--name", "x", "--tier", "city", home=tmp_path
    )
    assert bad_id.code == 1 and "--id" in bad_id.err and bad_id.err.count("\n") == 1
    bad_tier = run(
        "xinbao-syncd", "init", "--id", "140200", "--name", "x", "--tier", "galaxy", home=tmp_path
    )
    assert bad_tier.code == 1 and "--tier" in bad_tier.err
    assert not (tmp_path / "config.toml").exists()
    missing = run("xinbao-syncd", "init", "--id", "140200", home=tmp_path)
    assert missing.code == 2 and "缺少参数" in missing.err and missing.err.count("\n") == 1


def test_user_add_and_list(tmp_path: Path) -> None:
    run(
        "xinbao-syncd",
        "init",
        "--id",
        "140212",
        "--name",
        "新荣区",
        "--tier",
        "county",
        "--parent",
        "140200",
        home=tmp_path,
    )
    added = run(
        "xinbao-syncd",
        "user",
        "add",
        "xiaoli",
        "--role",
        "信息员",
        "--role",
        "editor",
        home=tmp_path,
    )
    assert added.code == 0, added.err
    listed = run("xinbao-syncd", "--json", "user", "list", home=tmp_path)
    assert listed.json()["xiaoli"] == ["信息员", "编辑"]
    bad = run("xinbao-syncd", "user", "add", "x", "--role", "局长", home=tmp_path)
    assert bad.code == 1 and "信息员、编辑" in bad.err


def test_commands_on_a_missing_home_say_so(tmp_path: Path) -> None:
    done = run("xinbao-syncd", "user", "list", home=tmp_path / "nowhere")
    assert done.code == 1 and "xinbao-syncd init" in done.err


def test_a_node_home_is_the_service_accounts_alone(tmp_path: Path) -> None:
    home = tmp_path / "140212"
    args = ["init", "--id", "140212", "--name", "新荣区", "--tier", "county", "--parent", "140200"]
    assert run("xinbao-syncd", *args, home=home).code == 0
    item = tmp_path / "item.toml"
    item.write_text('title = "巡查"\ncategory = "工作动态"\nauthor = "李四"\nbody = "巡查完毕。"\n')
    assert run("xinbao", "submit", str(item), home=home).code == 0
    made = [home, *home.rglob("*")]
    assert made and all(p.stat().st_mode & 0o077 == 0 for p in made), [
        (str(p), oct(p.stat().st_mode)) for p in made if p.stat().st_mode & 0o077
    ]
