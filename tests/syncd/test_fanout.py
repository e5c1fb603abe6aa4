"""Records addressed to several nodes (syncd/engine.py pack): those whose certificate is not
here yet do not hold back the others."""

from __future__ import annotations

from pathlib import Path

from schema import outbox
from schema.record import Record
from schema.vocabulary import Classification
from syncd.bundle import read_header
from syncd.engine import Engine
from tests.bench.bench_bundle import NOW, network


def test_recipients_without_a_certificate_wait_and_the_others_get_theirs(
    tmp_path: Path,
) -> None:
    province, _ = network(tmp_path)
    engine = Engine(province)
    try:
        record = Record("140000-YG-2026-0001", "request", 1, "140000", {"units": []})
        args = {"priority": 5, "classification": Classification.INTERNAL, "at": NOW}
        outbox.enqueue(engine.store, record, ("140100", "140200"), **args)
        assert engine.pack(NOW) == 1
        (sealed,) = engine.outgoing.folder.glob("*.xbb")
        with open(sealed, "rb") as fh:
            assert read_header(fh).recipients == ("140200",)
        (waiting,) = outbox.pending(engine.store)
        assert waiting.recipients == ("140100",) and waiting.record == record
        assert waiting.priority == 5
        # nothing more to seal until 140100's certificate arrives
        assert engine.pack(NOW) == 0
        assert len(outbox.pending(engine.store)) == 1
    finally:
        engine.close()
