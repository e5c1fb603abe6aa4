"""Fan-out by subtree, at a small shape of the national simulation (tests/bench/sim_national.py):
the real engine and bundle code, in one process, links in memory.

What is asserted is behaviour, not speed: every copy of a request to all counties carries
the keys of the recipients below its link and no others; a copy's bytes apart from its keys do
not grow with the number of recipients (the request names ``all:county:…``, not every county);
so the bytes on all links grow linearly; and every county applies the request exactly once and
its reply reaches the centre exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.sim_national import CENTRAL, Result, Tree, run

SMALL = (2, 4, 8)  # provinces, cities, counties
WIDER = (2, 4, 32)  # four times the counties under the same cities


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int, int], Result]:
    return {
        shape: run(tmp_path_factory.mktemp("sim"), Tree.shaped(*shape)) for shape in (SMALL, WIDER)
    }


@pytest.mark.parametrize("shape", [SMALL, WIDER])
def test_each_copy_carries_the_keys_below_its_link_only(
    runs: dict[tuple[int, int, int], Result], shape: tuple[int, int, int]
) -> None:
    result = runs[shape]
    tree = result.tree
    copies = result.request_copies()
    assert len(copies) == len(tree.parent) - 1  # one copy over every link, no more
    for copy in copies:
        assert tree.parent[copy.dst] == copy.src  # down the tree only
        below = {n for n in tree.below(copy.dst) | {copy.dst} if tree.tier[n] == "county"}
        assert set(copy.recipients) == below, (copy.src, copy.dst)
        assert copy.sender == CENTRAL


def test_a_copy_apart_from_its_keys_is_the_same_size_whatever_the_number_of_recipients(
    runs: dict[tuple[int, int, int], Result],
) -> None:
    small, wider = runs[SMALL], runs[WIDER]
    # a county's copy holds one key and a short proof in either network; the rest of it —
    # header, payload, signature, chain — is the centre's bytes, and the payload names the
    # group, not the counties
    county_small = {c.size for c in small.request_copies() if c.recipients == (c.dst,)}
    county_wider = {c.size for c in wider.request_copies() if c.recipients == (c.dst,)}
    assert max(county_wider) - min(county_small) <= 2 * 32 + 16  # two more proof levels
    # and every copy's size is its body plus its keys: the keys grow with the subtree only
    for result in (small, wider):
        bodies = {c.size - c.front for c in result.request_copies()}
        assert max(bodies) - min(bodies) <= 16  # the same chunks and trailer (ids vary)
        per_key = [
            (c.front - min(x.front for x in result.request_copies())) / (len(c.recipients) - 1)
            for c in result.request_copies()
            if len(c.recipients) > 1
        ]
        # a key: ~1,170 bytes hybrid (every node here has a hybrid key: ML-KEM-768's
        # ciphertext), ~75 classic; ~32 a proof hash
        assert per_key and max(per_key) < 1300


def test_the_bytes_on_all_links_grow_linearly(runs: dict[tuple[int, int, int], Result]) -> None:
    small, wider = runs[SMALL], runs[WIDER]
    total = {s: sum(c.size for c in runs[s].request_copies()) for s in (SMALL, WIDER)}
    links = {s: len(runs[s].tree.parent) - 1 for s in (SMALL, WIDER)}
    # four times the counties: links 14 → 38. A copy's body is paid once a link and each
    # county's key once a tier above it, so bytes grow at most as the recipients do (x4);
    # carried whole, each of 2.7x the links would carry ~4x the keys (x10 and more)
    counties = {s: len(runs[s].tree.of("county")) for s in (SMALL, WIDER)}
    ratio = total[WIDER] / total[SMALL]
    assert ratio < 1.15 * counties[WIDER] / counties[SMALL], ratio
    assert ratio > 0.9 * links[WIDER] / links[SMALL], ratio
    # and far below the whole bundle carried over every link (format 2)
    assert total[WIDER] < 0.8 * wider.root_full_bytes * links[WIDER]
    assert small.root_full_bytes < wider.root_full_bytes


@pytest.mark.parametrize("shape", [SMALL, WIDER])
def test_every_county_gets_the_request_exactly_once_and_every_reply_arrives(
    runs: dict[tuple[int, int, int], Result], shape: tuple[int, int, int], tmp_path: Path
) -> None:
    result = runs[shape]
    counties = result.tree.of("county")
    assert counties and not result.quarantined
    for county in counties:
        assert result.applied[(county, result.request_bundle)] == 1, county
        assert result.requests_held[county] == 1, county
    # nobody but the counties opened it (relays stayed blind: they hold no key for it)
    opened = {node for (node, bundle) in result.applied if bundle == result.request_bundle}
    assert opened == set(counties)
    assert not result.duplicates
    assert result.answered == len(counties)
    assert result.waiting_receipts == 0  # every county's end-to-end receipt came back
