"""A node installed from the wheel is complete (the packaging issue): ``pip install .`` once
left the sample network and the scoring rule sets behind, so ``xinbao demo``, ``xinbao
bulletin`` and the 通报 tab failed outside the checkout.

The wheel is built from a copy of this tree, installed into a fresh venv outside it, and the
three are run there from a folder outside the repository. A second test checks the wheel against
the tree, so a new data file (or package) that pyproject.toml does not ship fails here first.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from schema.clock import CHINA

ROOT = Path(__file__).resolve().parents[1]
CODE = ("console", "schema", "syncd")  # packages, each with its data files
FIXTURES = ROOT / "fixtures"  # data only; ships as the package below
FIXTURES_PACKAGE = "xinbao_fixtures"
# what a build of the tree must not see: VCS, venvs, caches and earlier build output (a stale
# build/lib would otherwise ship files deleted since)
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.pyc",
    "build",
    "dist",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".cache",
)
# the modules of the runtime dependencies (pyproject.toml [project] dependencies)
DEPENDENCIES = (
    "sqlite_utils",
    "cryptography",
    "textual",
    "watchdog",
    "httpx",
    "uvicorn",
    "starlette",
    "tomli_w",
    "platformdirs",
    "docx",
    "feedparser",
)


def _files(folder: Path) -> list[Path]:
    """The files of ``folder`` a distribution is made of: no caches, no hidden files."""
    return sorted(
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix != ".pyc"
        and not any(part == "__pycache__" or part.startswith(".") for part in p.parts)
    )


def _version(dist: str) -> tuple[int, ...]:
    try:
        raw = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ()
    return tuple(int(n) for n in re.findall(r"\d+", raw)[:2])


def _builds_offline() -> bool:
    """Whether this venv's setuptools can build the wheel itself (no build isolation, no index):
    [build-system] wants setuptools>=69, and before 70.1 bdist_wheel came from ``wheel``."""
    setuptools = _version("setuptools")
    if setuptools < (69,):
        return False
    return setuptools >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip install .`` would install, built from a copy of this tree (a build
    writes build/ and *.egg-info into its source, and others work in this checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = base / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    if _builds_offline():
        command.append("--no-build-isolation")
    # else pip fetches setuptools into an isolated build env, from the index make test used
    done = subprocess.run(
        [*command, str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, f"building the wheel failed:\n{done.stdout}\n{done.stderr}"
    (built,) = out.glob("xinbao-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_packages_and_fixtures(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = {f"{package}/{rel.as_posix()}" for package in CODE for rel in _files(ROOT / package)}
    expected |= {f"{FIXTURES_PACKAGE}/{rel.as_posix()}" for rel in _files(FIXTURES)}
    # the walk must have found the data the issue is about, or this test proves nothing
    for known in (
        "schema/data/scoring.toml",
        "syncd/data/trust.toml",
        "console/desk.tcss",
        f"{FIXTURES_PACKAGE}/network.toml",
        f"{FIXTURES_PACKAGE}/feeds/rss.xml",
        f"{FIXTURES_PACKAGE}/scoring/datong-city.toml",
    ):
        assert known in expected
    missing = sorted(expected - shipped)
    assert not missing, (
        "not in the wheel (list the package or the file pattern under [tool.setuptools] in "
        f"pyproject.toml): {missing}"
    )
    tops = {name.split("/")[0] for name in shipped}
    assert {t for t in tops if not t.endswith(".dist-info")} == {*CODE, FIXTURES_PACKAGE}


def _processes_under(root: Path) -> list[int]:
    """Processes whose environment points XINBAO_HOME into ``root`` (the demo's daemons)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and f"XINBAO_HOME={root}".encode() in (entry / "environ").read_bytes()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# The 通报 tab's computation (console/screen/scoreboard.py compute), at a node of the demo, with
# the sample data and rule sets as the installed node finds them.
SCOREBOARD = """
import json, sys
from pathlib import Path

import console, schema, syncd, xinbao_fixtures
from console.screen.scoreboard import board_text, compute
from schema.desk import Desk
from schema.fixture import load_items, load_units
from schema.node import NodeHome
from schema.scoring import shipped_rule_sets
from schema.store import Store

home = NodeHome(Path(sys.argv[1]))
config = home.load()
user = next(iter(config.users))
desk = Desk(Store.open(home.store_path), config.unit, user, frozenset(config.users[user]))
done = compute(desk, sys.argv[2])
print(json.dumps({
    "modules": [schema.__file__, console.__file__, syncd.__file__, *xinbao_fixtures.__path__],
    "rule_sets": {name: str(path) for name, path in shipped_rule_sets().items()},
    "units": len(load_units()),
    "items": len(load_items()),
    "error": done.error,
    "board": board_text(done.made, done.now, 100).plain if done.made else "",
}, ensure_ascii=False))
"""


def _venv(base: Path, wheel: Path) -> Path:
    """A fresh venv holding the wheel; its dependencies are this venv's (no index needed), but
    never this checkout: only the dependencies' folders are put on its path."""
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run(
        [*install, "--no-index", "--quiet", str(wheel)],
        check=True,
        timeout=120,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    # After the install, so pip never sees this venv's (editable) xinbao as already installed.
    # A folder named in a .pth is only added to sys.path: the .pth files in it (the editable
    # install's finder, which maps schema/ syncd/ console/ to this checkout) are not run.
    folders = set()
    for module in DEPENDENCIES:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, module
        origin = Path(spec.origin)  # a package's __init__.py, or a module's own file
        folders.add(str(origin.parents[1] if spec.submodule_search_locations else origin.parent))
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "xinbao-test-dependencies.pth").write_text("\n".join(sorted(folders)) + "\n")
    return venv


def test_an_installed_node_runs_the_demo_the_bulletin_and_the_scoreboard(
    wheel: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    venv = _venv(tmp_path, wheel)
    bin_dir = venv / "bin"
    elsewhere = tmp_path / "elsewhere"  # the cwd: not the checkout, so nothing comes from it
    (elsewhere / "tmp").mkdir(parents=True)
    assert not elsewhere.resolve().is_relative_to(ROOT)
    # nothing from this run may point the installed node back here: no XINBAO_HOME or
    # XINBAO_FIXTURES, no PYTHONPATH, no VIRTUAL_ENV of this venv
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("XINBAO_")
        and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "NOTIFY_SOCKET")
    }
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "TMPDIR": str(elsewhere / "tmp"),  # the demo's network, removed with tmp_path
    }

    def run(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"XINBAO_HOME": str(home)} if home else {}
        return subprocess.run(
            list(args),
            cwd=elsewhere,
            env=env | extra,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=180,
            check=False,
        )

    demo = run(str(bin_dir / "xinbao"), "demo", "--no-console", "--keep")
    shown = demo.stdout + demo.stderr
    assert demo.returncode == 0, shown
    assert "无法读取" not in shown
    assert "新荣区某煤矿" in demo.stdout and "平城区" in demo.stdout  # counties' items at the city
    kept = re.search(r"演示网络保留在 (\S+?)（", demo.stdout)
    assert kept is not None, demo.stdout
    network = Path(kept.group(1))
    assert network.is_relative_to(elsewhere)
    assert _processes_under(network) == []  # every daemon the demo started has stopped
    city = network / "140200"  # 大同市: its counties' items were adopted there

    period = datetime.now(CHINA).strftime("%Y-%m")  # the demo's month
    bulletin = run(str(bin_dir / "xinbao"), "bulletin", "--period", period, home=city)
    shown = bulletin.stdout + bulletin.stderr
    assert bulletin.returncode == 0, shown
    assert "没有计分办法" not in shown and "无法读取" not in shown
    assert "大同市政务信息工作通报" in bulletin.stdout
    assert "计分办法：大同市人民政府办公室" in bulletin.stdout  # the default rule set, datong-city
    assert "| 新荣区 |" in bulletin.stdout

    board = run(str(bin_dir / "python"), "-c", SCOREBOARD, str(city), period)
    assert board.returncode == 0, board.stdout + board.stderr
    found = json.loads(board.stdout)
    for path in found["modules"]:  # the installed copy, never this checkout
        assert Path(path).resolve().is_relative_to(venv.resolve()), found["modules"]
    assert sorted(found["rule_sets"]) == sorted(p.stem for p in FIXTURES.glob("scoring/*.toml"))
    for path in found["rule_sets"].values():
        assert Path(path).is_relative_to(venv), path
    assert found["units"] > 0 and found["items"] > 0
    assert found["error"] == "", found["error"]  # the tab would show 未能计算通报
    assert "新荣区" in found["board"]
    print(f"installed-node checks took {time.monotonic() - started:.1f} s")
