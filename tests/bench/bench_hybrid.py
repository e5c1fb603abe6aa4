"""Benchmark: the hybrid post-quantum key wrap (issue 20) next to the classic one, in one run.

    .venv/bin/python -m tests.bench.bench_hybrid [--bundles 2000] [--cities 11] [--counties 100]

  * small bundles (one ~2 KiB record) sealed to one recipient and opened by it, per second,
    classic (HPKE X25519) and hybrid (HPKE MLKEM768-X25519), and the raw KEM operations;
  * bytes one more recipient adds to a bundle, classic and hybrid;
  * a province's notice to all its counties (``--cities`` × ``--counties`` in all), hybrid
    for every county: time sealing at the province, the whole bundle, and the bytes on all
    links when each copy carries only the keys below it (format 3), classic next to it.
Nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syncd import bundle as bx
from syncd import enrolment
from syncd.bundle import new_header, open_bundle, read_front, seal
from syncd.keys import NodeKeys, load_keys
from tests.bench.bench_bundle import network, small_records

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>8,.0f}/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=2000)
    parser.add_argument("--cities", type=int, default=11)
    parser.add_argument("--counties", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        province, city = network(Path(folder))
        keys = load_keys(province.path, None)
        chain = enrolment.load_chain(province) or []
        root = enrolment.load_root(province)
        assert root is not None
        public = enrolment.encryption_keys(province)
        hybrid = enrolment.hybrid_keys(province)
        city_keys = load_keys(city.path, None)
        records = small_records(1, keys)
        print(f"small bundles: {args.bundles:,} each way, one ~2 KiB record, province → city")
        for name, wraps in (("classic", {}), ("hybrid ", {"140200": hybrid["140200"]})):
            sealed = []
            start = time.perf_counter()
            for _ in range(args.bundles):
                out = io.BytesIO()
                header = new_header("140000", ["140200"], NOW)
                seal(header, records, keys, chain, public, out, hybrid_keys=wraps)
                sealed.append(out.getvalue())
            sealing = time.perf_counter() - start
            start = time.perf_counter()
            for data in sealed:
                open_bundle(io.BytesIO(data), "140200", city_keys, root, NOW)
            opening = time.perf_counter() - start
            print(
                f"  {name}  seal {rate(args.bundles, sealing)}  open+verify "
                f"{rate(args.bundles, opening)}  file {len(sealed[0]):,} bytes"
            )
        for name, suite, key, recipient in (
            ("X25519       ", bx._SUITE, city_keys.encryption, None),
            ("MLKEM768-X25519", bx._HYBRID, city_keys.hybrid, hybrid["140200"]),
        ):
            target = (
                city_keys.encryption.public_key()
                if recipient is None
                else bx.hybrid_public_key(recipient)
            )
            private = key if recipient is None else city_keys.hybrid.private  # type: ignore[union-attr]
            start = time.perf_counter()
            wrapped = [suite.encrypt(b"k" * 32, target, b"i") for _ in range(args.bundles)]  # type: ignore[arg-type]
            enc = time.perf_counter() - start
            start = time.perf_counter()
            for w in wrapped:
                suite.decrypt(w, private, b"i")  # type: ignore[arg-type]
            dec = time.perf_counter() - start
            print(
                f"  HPKE {name}  wrap {rate(args.bundles, enc)}  unwrap "
                f"{rate(args.bundles, dec)}  {len(wrapped[0]):,} bytes a wrapped key"
            )

        # bytes a recipient adds, and a province's notice to all its counties
        total = args.counties
        counties = [
            f"14{c + 1:02d}{k + 1:02d}"
            for c in range(args.cities)
            for k in range(total // args.cities + (c < total % args.cities))
        ]
        made = {n: NodeKeys.generate() for n in counties}
        classic_keys = {n: k.encryption_public for n, k in made.items()}
        hybrid_keys = {n: k.hybrid_public for n, k in made.items()}
        print(
            f"\na notice to all {len(counties)} counties of {args.cities} cities "
            f"(through the province's relays)"
        )
        for name, wraps in (("classic", {}), ("hybrid ", hybrid_keys)):
            out = io.BytesIO()
            start = time.perf_counter()
            seal(new_header("140000", counties, NOW), records, keys, chain, classic_keys, out,
                 hybrid_keys=wraps)  # fmt: skip
            sealing = time.perf_counter() - start
            data = out.getvalue()
            front = read_front(io.BytesIO(data))
            body = len(data) - front.size
            links = 0
            for c in range(args.cities):  # province → city, city → county
                below = [n for n in counties if n[2:4] == f"{c + 1:02d}"]
                links += len(bx.narrowed(front, below)) + body
                links += sum(len(bx.narrowed(front, [n])) + body for n in below)
            one = (len(data) - len(bx.narrowed(front, counties[:1])) - body) / (len(counties) - 1)
            print(
                f"  {name}  sealed at the province in {sealing * 1000:,.0f} ms; whole bundle "
                f"{len(data):,} bytes; all links {links:,} bytes; ~{one:,.0f} bytes a recipient"
            )


if __name__ == "__main__":
    main()
