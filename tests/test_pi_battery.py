"""The battery gauge read from a fake /sys/class/power_supply tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.pi.battery import SysfsBattery, find_battery


def supply(root: Path, name: str, **files: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    for key, value in files.items():
        (path / key).write_text(value + "\n")
    return path


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "power_supply"
    supply(root, "AC", type="Mains", online="1")
    supply(root, "BAT0", type="Battery", capacity="76", status="Discharging")
    return root


def test_capacity_and_status_come_from_the_battery_not_the_mains(sysfs: Path) -> None:
    battery = SysfsBattery(sysfs)
    assert battery.supply == sysfs / "BAT0"
    assert battery.percent() == 76.0
    assert not battery.charging()
    (sysfs / "BAT0" / "capacity").write_text("75\n")
    (sysfs / "BAT0" / "status").write_text("Charging\n")
    assert battery.percent() == 75.0
    assert battery.charging()


def test_a_ups_hat_counts_as_a_battery(tmp_path: Path) -> None:
    supply(tmp_path, "ups", type="UPS", capacity="40", status="Full")
    battery = SysfsBattery(tmp_path)
    assert (battery.percent(), battery.charging()) == (40.0, True)


@pytest.mark.parametrize("bad", ["abc", "150", ""])
def test_a_bad_reading_keeps_the_last_good_value(sysfs: Path, bad: str) -> None:
    battery = SysfsBattery(sysfs)
    assert battery.percent() == 76.0
    (sysfs / "BAT0" / "capacity").write_text(bad)
    assert battery.percent() == 76.0


def test_a_vanished_gauge_keeps_the_last_good_value(sysfs: Path) -> None:
    battery = SysfsBattery(sysfs)
    assert battery.percent() == 76.0
    (sysfs / "BAT0" / "capacity").unlink()
    assert battery.percent() == 76.0


def test_without_a_gauge_the_bench_pi_is_on_mains(tmp_path: Path) -> None:
    supply(tmp_path / "ps", "AC", type="Mains", online="1")
    for root in (tmp_path / "ps", tmp_path / "absent"):
        assert find_battery(root) is None
        battery = SysfsBattery(root)
        assert (battery.percent(), battery.charging()) == (100.0, True)
