"""The data files a node ships, found the same way in a checkout and in an installed node.

Two kinds, both package data of the ``xinbao`` distribution (tests/test_installed.py builds the
wheel and checks that every data file of the tree is in it):

* ``schema/data/*.toml`` — the shipped defaults (deadlines, publications, desk rules, …), read
  by :func:`data_text`, or an office's own file in their place;
* the sample network in the repository's ``fixtures/`` folder (data only) — network, items,
  topic requests, feeds and the scoring rule sets (``fixtures/scoring/*.toml``) — found by
  :func:`fixtures_dir`. pyproject.toml maps the folder to the package ``xinbao_fixtures``, so an
  editable install (``pip install -e .``) reads the folder itself and a wheel install reads
  its copy in site-packages.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from pathlib import Path

from schema.error import ValidationError

FIXTURES_PACKAGE = "xinbao_fixtures"  # fixtures/ as installed: [tool.setuptools.package-dir]


def data_text(name: str, path: Path | None = None) -> tuple[str, str]:
    """The text of ``path`` if given, else of the shipped ``schema/data/{name}``; and where it
    came from, for messages."""
    if path is not None:
        return path.read_text("utf-8"), str(path)
    return resources.files("schema").joinpath(f"data/{name}").read_text("utf-8"), name


def fixtures_dir() -> Path:
    """The folder of the sample data: ``$XINBAO_FIXTURES`` if set, else the installed
    ``xinbao_fixtures`` (the repository's ``fixtures/``, wherever xinbao was installed from)."""
    env = os.environ.get("XINBAO_FIXTURES")
    if env:
        return Path(env)
    # Not importlib.resources.files(): fixtures/ stays data only (no __init__.py), so the
    # package is a namespace package, and on Python 3.11 files() raises NotADirectoryError for
    # one whose path holds the editable install's placeholder entry. The import system's own
    # search locations are the same folders and work for both kinds of install.
    try:
        spec = importlib.util.find_spec(FIXTURES_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for entry in (spec.submodule_search_locations or []) if spec else []:
        if Path(entry).is_dir():
            return Path(entry)
    raise ValidationError(
        "", f"找不到示例数据（{FIXTURES_PACKAGE}）：xinbao 未完整安装，请重新安装（pip install）"
    )
