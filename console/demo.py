"""``xinbao demo`` for now: a guided walk of one item from a county desk to a city desk.

The live multi-tier network (daemons, console) replaces this once the daemon and the console
exist. Until then, records that a daemon would carry are handed over here, through schema's
``apply`` exactly as the daemon will.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomli_w

from schema import outbox, view
from schema.clock import system_clock
from schema.fixture import load_items, load_units
from schema.inbound import apply
from schema.itemfile import draft_to_dict
from schema.network import add_units
from schema.store import Store

COUNTY = ("140212", "新荣区人民政府办公室", "county", "140200")
CITY = ("140200", "大同市人民政府办公室", "city", "140000")


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _run(program: str, home: Path, *args: str) -> None:
    module = "console" if program == "xinbao" else "syncd"
    shown = " ".join([program, *args])
    print(f"$ XINBAO_HOME={home.name} {shown}", flush=True)
    env = {**os.environ, "XINBAO_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"xinbao demo: 演示步骤失败：{shown}")


def _carry(source: Path, target: Path, target_id: str) -> None:
    """Hand queued records from one node to another, as the daemon will."""
    src, dst = Store.open(source / "store.db"), Store.open(target / "store.db")
    try:
        queued = [q for q in outbox.pending(src) if target_id in q.recipients]
        for q in queued:
            result = apply(dst, q.record, target_id)
            print(f"  传递 {q.record.kind} {q.record.id} 第{q.record.version}版 → {result.outcome}")
        outbox.mark_shipped(src, [q.seq for q in queued], system_clock())
    finally:
        src.close()
        dst.close()


def run_demo(*, keep: bool = False) -> int:
    """Walk a fixture item through init → submit → sign-off → list, county to city."""
    root = Path(tempfile.mkdtemp(prefix="xinbao-demo-"))
    county, city = root / "county", root / "city"
    print("信报演示（基础版）：一条县级信息从起草、签发到市级采用。")
    print("注：同步守护进程尚未实现，节点间的记录由本演示代为传递。")
    try:
        _step("1. 建立两个节点：新荣区（县）与大同市（市）")
        for home, (node_id, name, tier, parent) in ((county, COUNTY), (city, CITY)):
            _run(
                "xinbao-syncd",
                home,
                "init",
                "--id",
                node_id,
                "--name",
                name,
                "--tier",
                tier,
                "--parent",
                parent,
            )
            store = Store.open(home / "store.db")
            try:
                add_units(store, load_units())
            finally:
                store.close()

        _step("2. 新荣区信息员按信息文件提交一条信息（待签发）")
        sample = next(s for s in load_items() if s.unit == COUNTY[0] and s.draft.incident)
        item_file = root / "item.toml"
        item_file.write_text(tomli_w.dumps(draft_to_dict(sample.draft)), "utf-8")
        print(item_file.read_text("utf-8").split("body")[0].rstrip())
        _run("xinbao", county, "submit", str(item_file))
        store = Store.open(county / "store.db")
        try:
            item_id = view.outbox(store, COUNTY[0], limit=1)[0]["item_id"]
        finally:
            store.close()

        _step("3. 签发人签发，信息排队报送大同市")
        _run("xinbao", county, "signoff", item_id)
        _run("xinbao", county, "list", "--outbox")

        _step("4. 记录送达大同市（此处代替守护进程）")
        _carry(county, city, CITY[0])
        _run("xinbao", city, "list", "--inbox")
        _run("xinbao", city, "list", "--search", "煤矿")

        _step("5. 大同市编辑采用，处理结果回传新荣区")
        _run("xinbao", city, "adopt", item_id, "--issue", "每日要情/1")
        _carry(city, county, COUNTY[0])
        _run("xinbao", county, "show", item_id)
        print(f"\n演示完成。节点目录：{root}" + ("" if keep else "（已删除，使用 --keep 保留）"))
        return 0
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
