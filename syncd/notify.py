"""systemd integration: the sd_notify protocol, stdlib only.

Under ``Type=notify`` systemd passes the address of its notification socket in ``NOTIFY_SOCKET``
and, with ``WatchdogSec=``, the watchdog interval in ``WATCHDOG_USEC`` (and the pid it is meant
for in ``WATCHDOG_PID``). A message is one datagram of newline-separated ``KEY=VALUE`` lines sent
over ``AF_UNIX``/``SOCK_DGRAM``; ``NOTIFY_SOCKET`` is a filesystem path (``/run/...``) or a name in
the Linux abstract namespace (``@name``). Outside systemd ``NOTIFY_SOCKET`` is unset and the
:class:`Notifier` does nothing at all, so the daemon calls it unconditionally. Sending is
best-effort: a failure is logged and never raised, since a lost status line must not stop the
daemon (a lost watchdog ping is systemd's business: it restarts the service).

The daemon sends ``READY=1`` once it listens, ``WATCHDOG=1`` every half
:meth:`Notifier.watchdog_interval`, and ``STOPPING=1`` when SIGTERM arrives.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("xinbao.syncd")


def socket_address(value: str) -> str | None:
    """The ``AF_UNIX`` address for a ``NOTIFY_SOCKET`` value, or None if it is not one we speak.

    ``@name`` is the abstract socket ``\\0name``; an absolute path is used as it is.
    """
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_seconds(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog interval in seconds from ``WATCHDOG_USEC``, or None if there is none for us.

    None when the variable is unset, not a positive integer, or ``WATCHDOG_PID`` names another
    process (a child that inherited the environment must not ping for its parent).
    """
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner.strip() != str(pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """Tells systemd how the service is doing; a no-op when not started by systemd."""

    def __init__(self, address: str | None, watchdog: float | None = None) -> None:
        """``address`` is an ``AF_UNIX`` address (None disables); ``watchdog`` is in seconds."""
        self.address = address
        self._watchdog = watchdog if address is not None else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A notifier from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC``, ``WATCHDOG_PID`` (os.environ)."""
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        if not raw:
            return cls(None)
        address = socket_address(raw)
        if address is None:
            log.warning("NOTIFY_SOCKET %r is neither a path nor @abstract; not notifying", raw)
            return cls(None)
        return cls(address, watchdog_seconds(env, os.getpid()))

    @property
    def enabled(self) -> bool:
        """Whether there is a notification socket to talk to."""
        return self.address is not None

    def ready(self, status: str = "") -> None:
        """Startup is finished (``READY=1``), with an optional status line."""
        self.send("READY=1", *([f"STATUS={one_line(status)}"] if status else []))

    def status(self, text: str) -> None:
        """A free-form status line shown by ``systemctl status`` (``STATUS=…``)."""
        self.send(f"STATUS={one_line(text)}")

    def stopping(self) -> None:
        """Shutdown has begun (``STOPPING=1``)."""
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        """Still alive (``WATCHDOG=1``); send it every half :meth:`watchdog_interval`."""
        self.send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """The watchdog interval in seconds, or None when no watchdog is expected of us."""
        return self._watchdog

    def send(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; True if sent. Errors are logged, never raised."""
        if self.address is None:
            return False
        message = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            shown = "@" + self.address[1:] if self.address.startswith("\0") else self.address
            log.warning("sd_notify to %s failed: %s", shown, exc)
            return False
        return True


def one_line(text: str) -> str:
    """``text`` without line breaks, which would end the ``KEY=VALUE`` line early."""
    return " ".join(text.splitlines())
