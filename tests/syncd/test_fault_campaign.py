"""The fault campaign's short run (``tests/faults/campaign.py``; ``make faults`` runs the long
one by hand): at least 100 faults on the five-tier chain with HTTP and folder hops — daemons
killed and frozen, links flapping, carried files halved, truncated, bit-flipped and duplicated,
desk commands killed — and afterwards every signed-off item is at each of its recipients exactly
once, with its end-to-end receipt back at the sender."""

from __future__ import annotations

from pathlib import Path

from tests.faults.campaign import Options, run_campaign

SEED = 20261122  # a fixed schedule; the campaign prints it (replay: --seed 20261122)


def test_a_short_fault_campaign_loses_nothing_doubles_nothing_and_gets_every_receipt(
    tmp_path: Path,
) -> None:
    options = Options(
        seed=SEED, faults=110, max_seconds=45.0, settle_seconds=60.0, root=tmp_path / "net"
    )
    report = run_campaign(options)
    table = "\n".join(
        [report.table(), *report.counts.problems, *report.desk_failures[:5], *report.errors[:5]]
    )
    print(table)
    counts = report.counts
    assert report.total_faults >= 100, table
    assert counts.items > 0 and counts.deliveries >= counts.items, table
    assert counts.lost == counts.doubled == counts.receipts_missing == 0, table
    assert counts.decisions_lost == counts.altered == counts.misdelivered == 0, table
    assert counts.exactly_once == counts.deliveries, table
    assert report.settle_seconds is not None, table
