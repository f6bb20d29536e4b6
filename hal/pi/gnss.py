"""A serial GNSS module (u-blox NEO-6M/M8N and the like) read as NMEA 0183 through pyserial.

The backend reads the module itself rather than through gpsd: one process fewer to install,
configure and watch on the camera, no socket between the receiver and the evidence, and the
two sentences it needs (GGA, RMC) parse in a page (:mod:`hal.nmea`). A thread reads the port
and hands each reading to the sink. A garbled sentence is counted (:attr:`errors`) and skipped;
a module that goes silent for :data:`SILENT_S` is reported as no fix (and again each time the
silence lasts as long); a port that fails (a USB adapter pulled) is reopened every second.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import serial

from hal.clock import Clock
from hal.location import LocationReceiver, LocationSink, NoFix
from hal.nmea import NmeaReader

log = logging.getLogger(__name__)

#: No sentence for this long: the module is silent, and there is no fix.
SILENT_S = 3.0
#: How long one read waits (and how soon :meth:`SerialGnss.stop` is heard).
READ_S = 0.2
#: A port that failed is tried again after this long.
REOPEN_S = 1.0


class SerialGnss(LocationReceiver):
    """NMEA from ``url`` (``/dev/serial0``, ``/dev/ttyUSB0``, a pty, any pyserial URL)."""

    def __init__(self, clock: Clock, url: str, baudrate: int = 9600) -> None:
        self._port_errors = 0
        super().__init__()
        self.clock = clock
        self.url = url
        self.baudrate = baudrate
        self.reader = NmeaReader(clock.monotonic)
        self.port_error: str | None = None
        self._stop = threading.Event()
        #: Set while the port is open (pyserial drops what arrived before it opened).
        self.opened = threading.Event()
        self._thread: threading.Thread | None = None

    @property  # type: ignore[override]
    def errors(self) -> int:
        """Lines that were no good sentence, and port failures."""
        return self.reader.errors + self._port_errors

    @errors.setter
    def errors(self, value: int) -> None:
        self._port_errors = value

    def start(self, sink: LocationSink) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(sink,), name="gnss",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=5)

    def _open(self) -> Any:
        return serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=READ_S)

    def _run(self, sink: LocationSink) -> None:
        while not self._stop.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                self._port_failed(sink, f"GNSS port {self.url}: {exc}")
                self._stop.wait(REOPEN_S)
                continue
            self.opened.set()
            try:
                self._read(port, sink)
            except (serial.SerialException, OSError) as exc:
                self._port_failed(sink, f"GNSS port {self.url}: {exc}")
                self._stop.wait(REOPEN_S)
            finally:
                self.opened.clear()
                with contextlib.suppress(Exception):
                    port.close()

    def _port_failed(self, sink: LocationSink, why: str) -> None:
        if why != self.port_error:
            log.warning("%s", why)
        self.port_error = why
        self._port_errors += 1
        self._deliver(sink, NoFix(self.clock.monotonic()))

    def _deliver(self, sink: LocationSink, reading: Any) -> None:
        self.last = reading
        sink(reading)

    def _read(self, port: Any, sink: LocationSink) -> None:
        heard = self.clock.monotonic()
        while not self._stop.is_set():
            data = port.read(512)
            now = self.clock.monotonic()
            if data:
                before = self.reader.sentences
                for reading in self.reader.feed(data):
                    self._deliver(sink, reading)
                if self.reader.sentences != before:
                    heard = now
                    self.port_error = None
            if now - heard >= SILENT_S:
                self._deliver(sink, NoFix(now))
                heard = now  # said once per silence of SILENT_S
