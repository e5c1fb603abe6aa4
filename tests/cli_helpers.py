"""Running the two command lines in subprocesses, as operators and scripts do."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schema import outbox
from schema.clock import system_clock
from schema.inbound import ApplyResult, apply
from schema.store import Store


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(
    program: str,
    *args: str,
    user: str | None = None,
    home: Path | None = None,
    env_extra: dict[str, str] | None = None,
) -> Result:
    """Run ``xinbao`` or ``xinbao-syncd`` (as their modules) as this OS account, the actor at
    a local desk; with ``user``, ``xinbao`` runs as that person signed in over SSH (the
    forced command ``xinbao --as USER ssh``; a file argument goes on standard input as ``-``).
    The environment's ``XINBAO_*`` are not passed on; ``env_extra`` is."""
    module = {"xinbao": "console", "xinbao-syncd": "syncd"}[program]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XINBAO_", "SSH_"))}
    env.update(env_extra or {})
    if home is not None:
        env["XINBAO_HOME"] = str(home)
    argv, given = [*args], None
    if user is not None and program == "xinbao":
        for n, arg in enumerate(argv):
            if given is None and arg != "-" and Path(arg).is_file():
                given, argv[n] = Path(arg).read_bytes(), "-"
        env["SSH_ORIGINAL_COMMAND"] = shlex.join(argv)
        argv = ["--as", user, "--key", f"SHA256:test-{user}", "ssh"]
    done = subprocess.run(
        [sys.executable, "-m", module, *argv],
        env=env,
        input=given if given is not None else b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Result(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def me() -> str:
    """This OS account: the desk's administrator of every node home a test makes."""
    return pwd.getpwuid(os.getuid()).pw_name


def deliver(src: Store, dst: Store, target_id: str, at: datetime) -> list[ApplyResult]:
    """Apply every queued record of ``src`` addressed to ``target_id`` (what the daemon does)."""
    queued = [q for q in outbox.pending(src) if target_id in q.recipients]
    results = [apply(dst, q.record, target_id) for q in queued]
    outbox.mark_shipped(src, [q.seq for q in queued], at)
    return results


def carry(source: Path, target: Path, target_id: str) -> int:
    """Deliver queued records between two node homes."""
    src, dst = Store.open(source / "store.db"), Store.open(target / "store.db")
    try:
        return len(deliver(src, dst, target_id, system_clock()))
    finally:
        src.close()
        dst.close()
