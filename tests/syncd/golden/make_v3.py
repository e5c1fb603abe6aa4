"""Write the golden bundles of format version 3 (run once by hand; the output is committed).

    .venv/bin/python -m tests.syncd.golden.make_v3

Version 3 hangs the recipients' keys in a Merkle tree (fan-out by subtree, docs/fanout.md).
``bundle.xbb`` is sealed by the city 140200 of the version 1 golden files (``v1/``) to the
province 140000 and to 140100, a second recipient whose X25519 key is made here from fixed
bytes (a test-only key, used nowhere else); ``narrowed.xbb`` is the copy a relay hands on
toward the province: its key only, the other one a hash; ``hybrid.xbb`` wraps the
province's key with the hybrid post-quantum KEM (suite 2, HPKE MLKEM768-X25519) under a hybrid
key made here from fixed bytes (:data:`PROVINCE_HYBRID`, test-only). All must keep opening for
the province, and their records keep verifying, in every later version.
"""

from __future__ import annotations

import io
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from schema.node import NodeHome
from syncd import enrolment
from syncd.bundle import Header, narrowed, read_front, seal
from syncd.keys import HybridKey, load_keys
from syncd.proof import sign
from tests.syncd.golden.make_v2 import NOW, RECORDS

HERE = Path(__file__).resolve().parent
OTHER = "140100"
OTHER_KEY = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PROVINCE_HYBRID = HybridKey(
    mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(range(100, 164))),
    x25519.X25519PrivateKey.from_private_bytes(bytes(range(200, 232))),
)


def main() -> None:
    city = NodeHome(HERE / "v1" / "140200")
    keys = load_keys(city.path, None)
    chain = enrolment.load_chain(city)
    assert chain is not None
    header = Header(
        id="0" * 31 + "3",
        sender="140200",
        recipients=("140000", OTHER),
        created=int(NOW.timestamp()),
        expires=int(NOW.timestamp()) + 30 * 86400,
        priority=0,
        hop_limit=8,
    )
    signed = [sign(record, header.recipients, keys) for record in RECORDS]
    public = {**enrolment.encryption_keys(city), OTHER: OTHER_KEY.public_key().public_bytes_raw()}
    out = io.BytesIO()
    seal(header, signed, keys, chain, public, out)
    data = out.getvalue()
    (HERE / "v3").mkdir(exist_ok=True)
    (HERE / "v3" / "bundle.xbb").write_bytes(data)
    front = read_front(io.BytesIO(data))
    copy = narrowed(front, ["140000"]) + data[front.size :]
    (HERE / "v3" / "narrowed.xbb").write_bytes(copy)
    hybrid_header = Header(
        id="0" * 31 + "4",
        sender="140200",
        recipients=("140000",),
        created=header.created,
        expires=header.expires,
    )
    signed = [sign(record, hybrid_header.recipients, keys) for record in RECORDS]
    out = io.BytesIO()
    hybrid = {"140000": PROVINCE_HYBRID.public}
    seal(hybrid_header, signed, keys, chain, public, out, hybrid_keys=hybrid)
    (HERE / "v3" / "hybrid.xbb").write_bytes(out.getvalue())


if __name__ == "__main__":
    main()
