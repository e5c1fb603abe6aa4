"""A chain with an air gap in the middle: county ⇢ (carried folder) ⇢ city → (HTTP) → province.

The city's drop folder is watched by its real daemon; a bundle carried in is copied in two
halves with a pause between, as a slow USB stick does, and must be neither imported nor
quarantined until it is whole. The province's end-to-end receipt comes back the same way.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tests.cli_helpers import run
from tests.syncd.daemons import EMERGENCY, Daemon, chain, inbox, ok, submit, until

__all__ = ["chain"]  # the fixture


def _config(home: Path, drop: Path) -> None:
    (home / "syncd.toml").write_text(
        f'drop = ["{drop}"]\n[intervals]\nsend = 0.2\nfetch = 0.3\nretry_min = 0.2\n'
        "retry_max = 1.0\nresend_after = 30.0\ndrop_poll = 0.3\nstable = 0.5\n",
        "utf-8",
    )


def _carry_slowly(source: Path, target: Path, pause: float) -> list[str]:
    """Copy every bundle file of ``source`` into ``target``: first half, a pause, the rest."""
    names = []
    for path in sorted(source.glob("*.xbb")):
        data = path.read_bytes()
        with open(target / path.name, "wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            time.sleep(pause)
            out.write(data[len(data) // 2 :])
        path.unlink()
        names.append(path.name)
    return names


def test_an_emergency_crosses_an_air_gap_half_copied_and_its_receipt_comes_back(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    county, city, province = chain["140212"], chain["140200"], chain["140000"]
    up, down = tmp_path / "stick-up", tmp_path / "stick-down"  # what the courier carries
    city_drop, county_drop = tmp_path / "city-drop", tmp_path / "county-drop"
    for folder in (up, down, city_drop, county_drop):
        folder.mkdir()
    _config(county, county_drop)
    _config(city, city_drop)
    _config(province, tmp_path / "province-drop")
    daemons = {"140000": Daemon(province)}
    try:
        daemons["140200"] = Daemon(city)
        ok(run("xinbao-syncd", "link", "add", "140000", "--url", daemons["140000"].url, home=city))
        ok(run("xinbao-syncd", "link", "add", "140212", "--folder", str(down), home=city))
        ok(run("xinbao-syncd", "link", "add", "140200", "--folder", str(up), home=county))
        item = submit(county, EMERGENCY, tmp_path, "emergency.toml")
        ok(run("xinbao-syncd", "once", home=county))
        assert list(up.glob("*.xbb")), "the county writes the bundle to the carried folder"

        # the courier's copy stalls half way for longer than `stable`: left alone, not refused
        carried = sorted(p.name for p in up.glob("*.xbb"))
        first = up / carried[0]
        data = first.read_bytes()
        (city_drop / first.name).write_bytes(data[: len(data) // 2])
        time.sleep(2.0)  # several polls and far past `stable`
        assert (city_drop / first.name).exists()
        assert not (city_drop / "quarantine").exists()
        assert item not in inbox(province)
        (city_drop / first.name).write_bytes(data)  # the copy finishes
        first.unlink()
        _carry_slowly(up, city_drop, 0.3)
        until(lambda: item in inbox(province), "the emergency reaches the province")
        assert (city_drop / "done" / carried[0]).exists()
        assert not (city_drop / "quarantine").exists()

        def delivered() -> bool:
            for path in down.glob("*.xbb"):  # the courier brings the city's folder back
                shutil.move(path, county_drop / path.name)
            ok(run("xinbao-syncd", "once", home=county))
            shown = ok(run("xinbao", "--json", "show", item, home=county)).json()
            return bool(shown["edges"][0]["delivered_at"])

        until(delivered, "the province's receipt crosses the gap back to the county")
        status = ok(run("xinbao-syncd", "--json", "status", home=city)).json()
        assert status["quarantined"] == 0
    finally:
        for daemon in daemons.values():
            assert daemon.stop() == 0, (daemon.home / "daemon.log").read_text()
