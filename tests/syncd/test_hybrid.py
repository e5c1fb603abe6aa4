"""The hybrid post-quantum key wrap (issue 20): HPKE MLKEM768-X25519 for every recipient whose
certificate carries a hybrid key, X25519 for the others, in one bundle; a policy that requires
it never seals classic; tampering with a hybrid encapsulation is refused like any other region;
nodes made before hybrid keys keep working and can get one.

The network (built per test): the province 140000 (root) and the city 140200 with hybrid keys,
the counties 140212 (hybrid) and 140213 (classic: a node from before, no hybrid key)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schema import outbox
from schema.node import NodeConfig, NodeHome
from schema.record import Record
from schema.vocabulary import Classification, Tier
from syncd import bundle as bx
from syncd import enrolment
from syncd.bundle import HybridRequired, Limits, new_header, open_bundle, read_front, seal
from syncd.certificate import cert_identity
from syncd.engine import Engine
from syncd.home import init_node
from syncd.keys import HYBRID_FILE, KEY_DIR, NodeKeys, load_keys
from tests.cli_helpers import me, run

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PROVINCE, CITY, HYBRID, CLASSIC = "140000", "140200", "140212", "140213"
TIERS = {PROVINCE: Tier.PROVINCE, CITY: Tier.CITY, HYBRID: Tier.COUNTY, CLASSIC: Tier.COUNTY}
PARENT = {PROVINCE: "", CITY: PROVINCE, HYBRID: CITY, CLASSIC: CITY}
RECORDS = [{"kind": "note", "text": "冬季安全生产检查情况（秘密）"}]


@dataclasses.dataclass
class Net:
    homes: dict[str, NodeHome]

    def keys(self, node: str) -> NodeKeys:
        return load_keys(self.homes[node].path, None)

    def root(self) -> object:
        return enrolment.load_root(self.homes[PROVINCE])

    def seal(self, recipients: list[str], require: bool = False) -> bytes:
        home = self.homes[CITY]
        out = io.BytesIO()
        seal(
            new_header(CITY, recipients, NOW),
            RECORDS,
            self.keys(CITY),
            enrolment.load_chain(home) or [],
            enrolment.encryption_keys(home),
            out,
            hybrid_keys=enrolment.hybrid_keys(home),
            require_hybrid=require,
        )
        return out.getvalue()

    def open(self, me: str, data: bytes) -> bx.Opened:
        root = self.root()
        assert root is not None
        return open_bundle(io.BytesIO(data), me, self.keys(me), root, NOW)  # type: ignore[arg-type]


def _node(base: Path, node: str, classic: bool = False) -> NodeHome:
    home = NodeHome(base / node)
    init_node(home, NodeConfig(node, f"单位{node}", TIERS[node], PARENT[node]), me(), NOW)
    if classic:  # a node made before hybrid keys: none on disk, none in its certificate
        (home.path / KEY_DIR / HYBRID_FILE).unlink()
    return home


def fronts_in(folder: Path) -> list[bx.Front]:
    out = []
    for path in folder.glob("*.xbb"):
        with open(path, "rb") as fh:
            out.append(read_front(fh))
    return out


def _enrol(parent: NodeHome, child: NodeHome) -> None:
    _, pem = enrolment.issue_for(parent, enrolment.request(child), NOW)
    enrolment.install(child, pem, NOW)


@pytest.fixture
def net(tmp_path: Path) -> Net:
    homes = {n: _node(tmp_path, n, classic=n == CLASSIC) for n in (PROVINCE, CITY, HYBRID)}
    homes[CLASSIC] = _node(tmp_path, CLASSIC, classic=True)
    _enrol(homes[PROVINCE], homes[CITY])
    _enrol(homes[CITY], homes[HYBRID])
    _enrol(homes[CITY], homes[CLASSIC])
    return Net(homes)


def test_certificates_carry_the_hybrid_key_where_the_node_has_one(net: Net) -> None:
    for node in (CITY, HYBRID):
        (leaf, *_) = enrolment.load_chain(net.homes[node]) or []
        assert cert_identity(leaf).hybrid_public == net.keys(node).hybrid_public
        assert len(net.keys(node).hybrid_public) == 1216
    (leaf, *_) = enrolment.load_chain(net.homes[CLASSIC]) or []
    assert cert_identity(leaf).hybrid_public == b"" and net.keys(CLASSIC).hybrid is None
    assert set(enrolment.hybrid_keys(net.homes[CITY])) == {PROVINCE, CITY, HYBRID}


def test_classic_and_hybrid_recipients_in_one_bundle_each_open_it(net: Net) -> None:
    data = net.seal([PROVINCE, HYBRID, CLASSIC])
    front = read_front(io.BytesIO(data))
    suites = {e.recipient: e.suite for e in front.entries}
    assert suites == {PROVINCE: bx.SUITE_HYBRID, HYBRID: bx.SUITE_HYBRID, CLASSIC: bx.SUITE_X25519}
    sizes = {e.recipient: len(e.wrapped) for e in front.entries}
    assert sizes[HYBRID] == 1120 + 48 and sizes[CLASSIC] == 32 + 48  # encapsulation + key
    for node in (PROVINCE, HYBRID, CLASSIC):
        assert net.open(node, data).records == RECORDS
    # each relay copy keeps its suite: the classic county's copy holds its classic key only
    copy = bx.narrowed(front, [CLASSIC]) + data[front.size :]
    assert net.open(CLASSIC, copy).records == RECORDS


def test_a_policy_that_requires_the_hybrid_wrap_never_seals_classic(net: Net) -> None:
    with pytest.raises(HybridRequired) as refused:
        net.seal([HYBRID, CLASSIC], require=True)
    assert CLASSIC in refused.value.message and "抗量子" in refused.value.message
    data = net.seal([PROVINCE, HYBRID], require=True)
    assert {e.suite for e in read_front(io.BytesIO(data)).entries} == {bx.SUITE_HYBRID}


def _resealed(net: Net, data: bytes, change: dict[str, tuple[int, bytes]]) -> bytes:
    """``data`` as its sender could have made it with ``change`` (recipient → suite, wrapped
    key) in its keys: the tree and the signature made again over them."""
    front = read_front(io.BytesIO(data))
    entries = [
        dataclasses.replace(e, suite=change[e.recipient][0], wrapped=change[e.recipient][1])
        if e.recipient in change
        else e
        for e in front.entries
    ]
    root = bx._tree_root(len(entries), {e.index: e.leaf() for e in entries}, ())[0]
    header = dataclasses.replace(front.header, recipient_root=root.hex())
    header_bytes = header.to_bytes()
    pem = enrolment.chain_to_pem(enrolment.load_chain(net.homes[CITY]) or [])
    chunks = data[front.size : len(data) - 64 - 4 - len(pem)]
    signed = bx._to_be_signed(header_bytes, root, hashlib.sha256(chunks).digest(), pem, 3)
    return (
        bx.MAGIC
        + struct.pack(">HI", 3, len(header_bytes))
        + header_bytes
        + bx._keys_section(entries, [])
        + chunks
        + struct.pack(">I", len(pem))
        + pem
        + net.keys(CITY).signing.sign(signed)
    )


def test_tampering_with_a_hybrid_encapsulation_is_refused(net: Net) -> None:
    data = net.seal([HYBRID, CLASSIC])
    front = read_front(io.BytesIO(data))
    mine = next(e for e in front.entries if e.recipient == HYBRID)
    # on the way: any bit of it changes its leaf, and the tree no longer meets the root
    at = data.index(mine.wrapped)
    for offset in (0, 500, 1119, len(mine.wrapped) - 1):  # ML-KEM, X25519 part, the key
        bad = bytearray(data)
        bad[at + offset] ^= 0x10
        with pytest.raises(bx.BundleError) as refused:
            net.open(HYBRID, bytes(bad))
        assert refused.value.reason == "keys-invalid"
    # made so by a sender (signed): the KEM does not decapsulate to the bundle key
    broken = bytearray(mine.wrapped)
    broken[600] ^= 1
    bad_sender = _resealed(net, data, {HYBRID: (bx.SUITE_HYBRID, bytes(broken))})
    with pytest.raises(bx.BundleError) as refused:
        net.open(HYBRID, bad_sender)
    assert refused.value.reason == "unwrap-failed"
    assert net.open(CLASSIC, bad_sender).records == RECORDS  # the others' keys are theirs
    # the suite is bound into the wrap: a hybrid key relabelled classic does not open
    relabelled = _resealed(net, data, {HYBRID: (bx.SUITE_X25519, mine.wrapped)})
    with pytest.raises(bx.BundleError) as refused:
        net.open(HYBRID, relabelled)
    assert refused.value.reason == "unwrap-failed"


def test_a_node_without_a_hybrid_key_cannot_open_a_hybrid_wrap(net: Net) -> None:
    data = net.seal([HYBRID])
    (net.homes[HYBRID].path / KEY_DIR / HYBRID_FILE).unlink()  # its hybrid key lost
    with pytest.raises(bx.BundleError) as refused:
        net.open(HYBRID, data)
    assert refused.value.reason == "unwrap-failed" and "抗量子" in refused.value.message


def test_the_engine_holds_a_secret_record_for_a_classic_recipient_until_it_has_a_hybrid_key(
    net: Net, tmp_path: Path
) -> None:
    city = net.homes[CITY]
    item_file = tmp_path / "item.toml"
    item_file.write_text(
        'title = "全市冬季安全生产大检查发现问题整改情况"\ncategory = "工作动态"\n'
        'classification = "秘密"\nauthor = "张三"\nbody = "全市开展检查。"\n'
        f'to = ["{HYBRID}", "{CLASSIC}"]\n',
        "utf-8",
    )
    submitted = run("xinbao", "submit", str(item_file), home=city.path)
    assert submitted.code == 0, submitted.err
    item = re.findall(r"\d{6}-\d{4}-\d{5}", submitted.out)[0]
    assert run("xinbao", "signoff", item, home=city.path).code == 0
    engine = Engine(city)
    try:
        assert engine.policy.requires_hybrid(Classification.SECRET.rank)
        assert not engine.policy.requires_hybrid(Classification.INTERNAL.rank)
        engine.pack(NOW)  # (with what the city queued itself: certificate records going up)
        fronts = fronts_in(engine.outgoing.folder)
        (front,) = [f for f in fronts if HYBRID in f.header.recipients]
        assert front.header.recipients == (HYBRID,)
        assert {e.suite for e in front.entries} == {bx.SUITE_HYBRID}
        (waiting,) = outbox.pending(engine.store)
        assert (waiting.record.id, waiting.recipients) == (item, (CLASSIC,))
        assert engine.note_held(NOW)
        (held,) = outbox.held_back(engine.store, item)
        assert (held.peer, held.ceiling) == (CLASSIC, outbox.HYBRID_WAIT)
        engine.pack(NOW)
        assert len(outbox.pending(engine.store)) == 1  # still waiting, never sealed classic
    finally:
        engine.close()
    # the desk sees why
    shown = run("xinbao", "show", item, home=city.path)
    assert shown.code == 0 and "受阻 按加密策略本信息须用抗量子密钥加密" in shown.out, shown.out
    # the county makes a hybrid key and renews its certificate: the record leaves, hybrid
    classic = net.homes[CLASSIC]
    made = run("xinbao-syncd", "keys", "hybrid", home=classic.path)
    assert made.code == 0 and "已生成抗量子密钥" in made.out, made.err
    _enrol(city, classic)
    (leaf, *_) = enrolment.load_chain(classic) or []
    assert cert_identity(leaf).hybrid_public == net.keys(CLASSIC).hybrid_public
    engine = Engine(city)
    try:
        engine.pack(NOW)
        assert outbox.pending(engine.store) == []
        fronts = fronts_in(engine.outgoing.folder)
        (front,) = [f for f in fronts if CLASSIC in f.header.recipients]
        assert {e.suite for e in front.entries} == {bx.SUITE_HYBRID}
        engine.note_held(NOW)
        assert outbox.held_back(engine.store, item) == []
    finally:
        engine.close()


def test_keys_hybrid_on_a_root_is_refused_and_status_tells(net: Net) -> None:
    # a root made before hybrid keys cannot get one: its certificate is everyone's anchor
    (net.homes[PROVINCE].path / KEY_DIR / HYBRID_FILE).unlink()
    refused = run("xinbao-syncd", "keys", "hybrid", home=net.homes[PROVINCE].path)
    assert refused.code != 0 and "根节点" in refused.err
    again = run("xinbao-syncd", "keys", "hybrid", home=net.homes[CITY].path)
    assert again.code == 0 and "已有抗量子密钥" in again.out
    status = run("xinbao-syncd", "--json", "status", home=net.homes[CITY].path)
    assert status.code == 0 and status.json()["hybrid"] is True
    status = run("xinbao-syncd", "--json", "status", home=net.homes[CLASSIC].path)
    assert status.json()["hybrid"] is False


def test_a_retired_format_version_is_refused(net: Net) -> None:
    data = net.seal([HYBRID])
    retired = dataclasses.replace(Limits.load(), retired_versions=frozenset({3}))
    root = net.root()
    with pytest.raises(bx.BundleError) as refused:
        open_bundle(io.BytesIO(data), HYBRID, net.keys(HYBRID), root, NOW, retired)  # type: ignore[arg-type]
    assert refused.value.reason == "retired-version"


def test_a_link_marked_hybrid_carries_hybrid_wraps_only(net: Net, tmp_path: Path) -> None:
    city = net.homes[CITY]
    stick = tmp_path / "usb-to-140213"
    added = run(
        "xinbao-syncd", "link", "add", CLASSIC, "--folder", str(stick), "--hybrid", home=city.path
    )
    assert added.code == 0 and "须抗量子加密" in added.out, added.err
    listed = run("xinbao-syncd", "--json", "link", "list", home=city.path)
    assert [k["hybrid"] for k in listed.json() if k["peer"] == CLASSIC] == [True]
    engine = Engine(city)
    try:
        record = Record(f"{CITY}-YG-2026-0001", "request", 1, CITY, {"units": []})
        args = {"priority": 0, "classification": Classification.INTERNAL, "at": NOW}
        outbox.enqueue(engine.store, record, (HYBRID, CLASSIC), **args)
        engine.pack(NOW)
        (front,) = [f for f in fronts_in(engine.outgoing.folder) if HYBRID in f.header.recipients]
        # 内部 is no policy matter: the county not behind the hybrid link could have had
        # a classic wrap; the one behind it waits for its hybrid key
        assert front.header.recipients == (HYBRID,)
        (waiting,) = outbox.pending(engine.store)
        assert waiting.recipients == (CLASSIC,)
        engine.note_held(NOW)
        (held,) = outbox.held_back(engine.store, record.id)
        assert held.ceiling == outbox.HYBRID_WAIT
    finally:
        engine.close()
