"""Keys at init and certificates issued down the tree, over an air gap."""

from __future__ import annotations

import io
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schema.node import NodeConfig, NodeHome
from schema.vocabulary import Tier
from syncd import enrolment, transfer
from syncd.bundle import new_header, open_bundle, seal
from syncd.certificate import chain_from_pem, chain_to_pem, verify_chain
from syncd.error import KeyFileError, TrustError
from syncd.home import init_node
from syncd.keys import PASSPHRASE_ENV, load_keys
from tests.cli_helpers import run

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def node(tmp_path: Path, node_id: str, tier: Tier, parent: str = "") -> NodeHome:
    home = NodeHome(tmp_path / node_id)
    init_node(home, NodeConfig(node_id, f"单位{node_id}", tier, parent), "admin", NOW)
    return home


def enrol(parent: NodeHome, child: NodeHome) -> None:
    _, pem = enrolment.issue_for(parent, enrolment.request(child), NOW)
    enrolment.install(child, pem, NOW)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[NodeHome, NodeHome, NodeHome]:
    province = node(tmp_path, "140000", Tier.PROVINCE)
    city = node(tmp_path, "140200", Tier.CITY, "140000")
    county = node(tmp_path, "140212", Tier.COUNTY, "140200")
    enrol(province, city)
    enrol(city, county)
    return province, city, county


def test_keys_are_private_and_the_parentless_node_is_its_own_root(tmp_path: Path) -> None:
    province = node(tmp_path, "140000", Tier.PROVINCE)
    for name in ("signing.pem", "encryption.pem"):
        assert stat.S_IMODE((province.path / "keys" / name).stat().st_mode) == 0o600
    root = enrolment.load_root(province)
    assert root is not None and enrolment.load_chain(province) == [root]


def test_a_three_tier_chain_verifies_to_the_pinned_root(
    tree: tuple[NodeHome, NodeHome, NodeHome],
) -> None:
    province, _, county = tree
    chain = enrolment.load_chain(county)
    assert chain is not None and len(chain) == 3
    root = enrolment.load_root(county)
    assert root == enrolment.load_root(province)
    leaf = verify_chain(chain, root, NOW)  # type: ignore[arg-type]
    keys = load_keys(county.path, None)
    assert (leaf.id, leaf.parent, leaf.tier) == ("140212", "140200", Tier.COUNTY)
    assert leaf.encryption_public == keys.encryption_public


def test_only_the_direct_parent_of_a_lower_tier_may_issue(
    tree: tuple[NodeHome, NodeHome, NodeHome], tmp_path: Path
) -> None:
    province, _, county = tree
    with pytest.raises(TrustError, match="上级是 140200"):
        enrolment.issue_for(province, enrolment.request(county), NOW)
    odd = node(tmp_path / "odd", "140300", Tier.PROVINCE, "140212")  # a "province" under a county
    with pytest.raises(TrustError, match="县级节点不能为省级节点签发"):
        enrolment.issue_for(county, enrolment.request(odd), NOW)
    unenrolled = node(tmp_path / "u", "140400", Tier.CITY, "140000")
    township = node(tmp_path / "t", "140400100", Tier.TOWNSHIP, "140400")
    with pytest.raises(TrustError, match="尚未入网"):
        enrolment.issue_for(unenrolled, enrolment.request(township), NOW)


def test_install_refuses_a_certificate_for_other_keys(
    tree: tuple[NodeHome, NodeHome, NodeHome], tmp_path: Path
) -> None:
    _, city, _ = tree
    twin = node(tmp_path / "twin", "140212", Tier.COUNTY, "140200")  # same id, other keys
    _, pem = enrolment.issue_for(city, enrolment.request(twin), NOW)
    impostor = node(tmp_path / "imp", "140212", Tier.COUNTY, "140200")
    with pytest.raises(TrustError, match="不符"):
        enrolment.install(impostor, pem, NOW)
    assert enrolment.load_chain(impostor) is None


def test_install_refuses_tampered_foreign_and_expired_chains(
    tree: tuple[NodeHome, NodeHome, NodeHome], tmp_path: Path
) -> None:
    _, city, _ = tree
    child = node(tmp_path / "c", "140213", Tier.COUNTY, "140200")
    _, pem = enrolment.issue_for(city, enrolment.request(child), NOW)
    chain = chain_from_pem(pem)
    # a chain issued by another deployment's city (same ids, other root) does not verify
    other_province = node(tmp_path / "o", "140000", Tier.PROVINCE)
    other_city = node(tmp_path / "o2", "140200", Tier.CITY, "140000")
    enrol(other_province, other_city)
    _, foreign = enrolment.issue_for(other_city, enrolment.request(child), NOW)
    mixed = chain_to_pem([chain_from_pem(foreign)[0], *chain[1:]])
    with pytest.raises(TrustError, match="不是由其上级签发"):
        enrolment.install(child, mixed, NOW)
    with pytest.raises(TrustError, match="已过期"):
        enrolment.install(child, pem, NOW + timedelta(days=4000))
    with pytest.raises(TrustError, match="尚未生效"):
        enrolment.install(child, pem, NOW - timedelta(days=1))
    der = bytearray(pem)
    der[len(der) // 4] ^= 0x01  # one flipped bit inside the leaf certificate
    with pytest.raises(TrustError):
        enrolment.install(child, bytes(der), NOW)
    assert enrolment.load_chain(child) is None
    enrolment.install(child, pem, NOW)  # the genuine chain still installs
    # once a root is pinned, a chain to another root is refused
    _, again = enrolment.issue_for(other_city, enrolment.request(child), NOW)
    with pytest.raises(TrustError, match="根证书"):
        enrolment.install(child, again, NOW)


def test_passphrase_protected_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "正确口令")
    home = node(tmp_path, "140000", Tier.PROVINCE)
    assert b"ENCRYPTED" in (home.path / "keys" / "signing.pem").read_bytes()
    assert load_keys(home.path, "正确口令".encode()).signing_public
    with pytest.raises(KeyFileError, match="口令错误"):
        load_keys(home.path, b"wrong")
    with pytest.raises(KeyFileError, match=PASSPHRASE_ENV):
        load_keys(home.path, None)


def test_enrolment_through_the_cli_over_files(tmp_path: Path) -> None:
    homes = {"140000": ("province", ""), "140200": ("city", "140000")}
    for node_id, (tier, parent) in homes.items():
        args = ["init", "--id", node_id, "--name", f"单位{node_id}", "--tier", tier]
        assert run("xinbao-syncd", *args, "--parent", parent, home=tmp_path / node_id).code == 0
    req = run("xinbao-syncd", "enroll", "request", home=tmp_path / "140200")
    assert req.code == 0 and req.out.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    (tmp_path / "req.pem").write_text(req.out)
    cert = run(
        "xinbao-syncd", "enroll", "issue", str(tmp_path / "req.pem"), home=tmp_path / "140000"
    )
    assert cert.code == 0 and cert.out.count("BEGIN CERTIFICATE") == 2
    assert "140200" in cert.err
    (tmp_path / "cert.pem").write_text(cert.out)
    done = run(
        "xinbao-syncd",
        "--json",
        "enroll",
        "install",
        str(tmp_path / "cert.pem"),
        home=tmp_path / "140200",
    )
    assert done.code == 0, done.err
    assert done.json()["root"] == "140000" and len(done.json()["root_fingerprint"]) == 64
    refused = run("xinbao-syncd", "enroll", "request", home=tmp_path / "140000")
    assert refused.code == 1 and "根节点" in refused.err and refused.err.count("\n") == 1


def test_certificates_travel_up_so_the_top_can_seal_to_its_whole_subtree(
    tree: tuple[NodeHome, NodeHome, NodeHome], tmp_path: Path
) -> None:
    province, city, county = tree
    assert "140212" not in enrolment.encryption_keys(province)
    transfer.export(city, "140000", tmp_path / "up", NOW)
    report = transfer.import_folder(province, tmp_path / "up", NOW)
    assert report.quarantined == [] and len(report.applied) == 1
    known = enrolment.encryption_keys(province)
    assert known["140212"] == load_keys(county.path, None).encryption_public
    # the province can now seal straight to the county (a skip-level notice), relays cannot read
    header = new_header("140000", ["140212"], NOW)
    buffer = io.BytesIO()
    seal(
        header,
        [{"kind": "notice", "text": "约稿通知"}],
        load_keys(province.path, None),
        enrolment.load_chain(province) or [],
        known,
        buffer,
    )
    buffer.seek(0)
    opened = open_bundle(
        buffer, "140212", load_keys(county.path, None), enrolment.load_root(county), NOW
    )  # type: ignore[arg-type]
    assert opened.records == [{"kind": "notice", "text": "约稿通知"}]
