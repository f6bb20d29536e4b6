"""State of charge from the Linux power-supply class (a fuel gauge or UPS HAT's driver).

The kernel exposes each supply as ``/sys/class/power_supply/NAME/`` with ``type`` (Battery,
Mains, USB, UPS), ``capacity`` (percent) and ``status`` (Charging, Discharging, Full, ...). The
root is injectable so tests build a fake tree in a temporary directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hal.inputs import BatteryGauge

log = logging.getLogger(__name__)

SYSFS_POWER_SUPPLY = Path("/sys/class/power_supply")
BATTERY_TYPES = ("Battery", "UPS")
#: Statuses that mean external power is connected.
ON_CHARGER = ("Charging", "Full")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def find_battery(root: Path = SYSFS_POWER_SUPPLY) -> Path | None:
    """The first supply (by name) that is a battery and reports a capacity."""
    try:
        supplies = sorted(root.iterdir())
    except OSError:
        return None
    for supply in supplies:
        if _read(supply / "type") in BATTERY_TYPES and _read(supply / "capacity") is not None:
            return supply
    return None


class SysfsBattery(BatteryGauge):
    """Reads the gauge on every call (sysfs reads are cheap and always current).

    Without a gauge (a bench Pi on a mains adapter) it reports 100 % on external power; a
    reading that fails or makes no sense keeps the last good value.
    """

    def __init__(self, root: Path = SYSFS_POWER_SUPPLY) -> None:
        self.supply = find_battery(root)
        self._last = 100.0
        if self.supply is None:
            log.info("no battery gauge under %s; reporting 100 %% on mains", root)

    def percent(self) -> float:
        if self.supply is None:
            return 100.0
        text = _read(self.supply / "capacity")
        try:
            value = float(text) if text is not None else None
        except ValueError:
            value = None
        if value is not None and 0 <= value <= 100:
            self._last = value
        return self._last

    def charging(self) -> bool:
        if self.supply is None:
            return True
        return _read(self.supply / "status") in ON_CHARGER
