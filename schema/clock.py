"""Time as the domain sees it: aware datetimes in China Standard Time, injected as a clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

# China has used one fixed offset without daylight saving since 1991, so a fixed zone is exact
# and needs no tz database on the machine.
CHINA = timezone(timedelta(hours=8), "CST")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in China Standard Time."""
    return datetime.now(CHINA)


def fixed_clock(at: datetime) -> Clock:
    """A clock that always answers ``at`` (for tests)."""
    return lambda: at


def to_text(at: datetime) -> str:
    """ISO 8601 text in China Standard Time, second precision, as stored and shown."""
    return at.astimezone(CHINA).isoformat(timespec="seconds")


def from_text(text: str) -> datetime:
    """Parse stored ISO 8601 text; a naive time is taken as China Standard Time."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=CHINA)
