"""The simulator backend as a plug-in: ``sim`` in the ``bodycam.backends`` entry points.

It reads the ``[simulator]`` section and builds every device simulated
(:func:`sim.hardware.build_sim_hardware`). This is the backend layer of ``sim``: it and what it
builds from (``sim/hardware.py``, ``sim/devices.py``, ``sim/camera.py``,
``sim/microphone.py``, ``sim/clock.py``) import only ``sim`` and ``hal``. The in-process
harness that runs the daemon on it is ``sim/simulator.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hal.backend import Setup, opt
from sim.clock import SimClock

if TYPE_CHECKING:  # the configuration loader loads this module: no numpy for it
    from hal.encoder import EncoderFactory
    from hal.hardware import Hardware


@dataclass(frozen=True)
class SimulatorSection:
    drain_standby_pct_h: float = opt(1.5, "Simulated battery drain in standby, % per hour.",
                                     0.0, 10000.0)
    drain_buffering_pct_h: float = opt(7.0, "... while buffering.", 0.0, 10000.0)
    drain_recording_pct_h: float = opt(8.0, "... while recording.", 0.0, 10000.0)
    charge_docked_pct_h: float = opt(40.0, "Charging in the dock, % per hour.", 0.0, 10000.0)


class SimBackend:
    """``build`` takes ``listener(kind, value)``, which hears each LED, tone and vibration.
    Without an injected clock the devices run on a virtual :class:`~sim.clock.SimClock`."""

    name = "sim"
    section = "simulator"
    schema = SimulatorSection

    def check(self, section: Any, source: str) -> None:
        """Every key stands alone: nothing to check across them."""

    def build(self, section: Any, setup: Setup,
              listener: Callable[[str, object], None] | None = None,
              encoder: EncoderFactory | None = None, **parts: Any) -> Hardware:
        """``encoder``: real H.264 (libav, the configuration's codec, or ``setup.codec``
        when one is named) unless a test picks the fake (``sim/encoder.py``)."""
        if parts:
            raise TypeError(f"the sim backend takes no part {', '.join(sorted(parts))}")
        from hal.encoder import LibavEncoder, with_codec
        from sim.hardware import build_sim_hardware

        if encoder is None:
            encoder = LibavEncoder if setup.codec == "auto" else with_codec(setup.codec)
        clock = SimClock() if setup.clock is None else setup.clock
        audio = (setup.audio_rate, setup.audio_channels) if setup.audio else None
        return build_sim_hardware(clock, setup.data_dir, setup.width, setup.height, setup.fps,
                                  listener, encoder, audio)


#: What the entry point names.
backend = SimBackend()
