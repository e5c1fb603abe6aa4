"""Item bodies for the benchmarks: real wording, not one sentence repeated.

A repeated sentence has a few dozen distinct shingles and a few long runs of characters; the
reports desks write have a thousand and are punctuated every dozen characters, which is what
receiving an item costs (its search tokens, its near-duplicate sketch). So a benchmark body is
the fixtures' report bodies (``fixtures/items.toml``) one after another from a place set by the
item's number, cut to length.
"""

from __future__ import annotations

from functools import cache

from schema.fixture import load_items


@cache
def _bodies() -> tuple[str, ...]:
    return tuple(sample.draft.body for sample in load_items())


def body(number: int, chars: int = 1200) -> str:
    """About ``chars`` characters of report text for item ``number`` (it differs by number)."""
    bodies = _bodies()
    text, at = "", number % len(bodies)
    while len(text) < chars:
        text += bodies[at]
        at = (at + 1) % len(bodies)
    return text[:chars]
