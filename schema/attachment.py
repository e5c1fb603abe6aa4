"""Attachments: files kept once per node by their SHA-256, referred to from items by hash.

An item lists its attachments as ``{"name", "sha256", "size"}``; the bytes live under
``home/attachments/ab/abcdef…`` and travel beside the records in a bundle. Files are written
temp → fsync → rename → fsync dir, so a crash never leaves a partial file under a hash name.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from schema.error import ValidationError, reason
from schema.record import Attachment

SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BLOCK = 1 << 20


class Attachments:
    """A node's content-addressed attachment folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the attachment with this hash is (or would be) kept."""
        if not SHA256.match(sha256):
            raise ValidationError("attachments", f"附件校验值无效：{sha256}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        """Whether this node holds the attachment."""
        return self.path(sha256).is_file()

    def add_file(self, source: Path) -> Attachment:
        """Copy a file in (streaming, hashing as it goes); an identical file is kept once."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{secrets.token_hex(8)}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    dst.write(block)
                    size += len(block)
                dst.flush()
                os.fsync(dst.fileno())
            sha256 = digest.hexdigest()
            self._place(sha256, tmp)
        except OSError as exc:
            raise ValidationError("attachments", f"无法读取附件 {source}：{reason(exc)}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return Attachment(name=source.name, sha256=sha256, size=size)

    def keep(self, sha256: str, staged: Path) -> None:
        """Move a received file, already checked against ``sha256``, into the folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._place(sha256, staged)

    def _place(self, sha256: str, file: Path) -> None:
        final = self.path(sha256)
        if final.is_file():
            return  # content-addressed: the same bytes are already here
        final.parent.mkdir(exist_ok=True)
        os.replace(file, final)
        for folder in (final.parent, self.root):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def missing(self, references: Iterable[Attachment]) -> list[Attachment]:
        """The referenced attachments this node does not hold (not yet arrived)."""
        return [a for a in references if not self.has(a.sha256)]


def referenced(payload: Any) -> Iterator[str]:
    """The hashes of every attachment a record payload refers to (``attachments`` lists)."""
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            if key == "attachments" and isinstance(value, list):
                for entry in value:
                    if isinstance(entry, Mapping) and isinstance(entry.get("sha256"), str):
                        yield entry["sha256"]
            else:
                yield from referenced(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from referenced(value)
