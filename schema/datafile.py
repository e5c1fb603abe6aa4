"""The data files a node ships (``schema/data/*.toml``), or an office's own in their place."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_text(name: str, path: Path | None = None) -> tuple[str, str]:
    """The text of ``path`` if given, else of the shipped ``schema/data/{name}``; and where it
    came from, for messages."""
    if path is not None:
        return path.read_text("utf-8"), str(path)
    return resources.files("schema").joinpath(f"data/{name}").read_text("utf-8"), name
