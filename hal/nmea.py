"""NMEA 0183 from a GNSS module: GGA and RMC sentences to fixes, pure (no port, no thread).

A serial module speaks one sentence per line: ``$GNGGA,...*hh``. Every sentence's checksum (the
XOR of the bytes between ``$`` and ``*``) is checked; a line that is not a good sentence
(garbled by noise, torn at power-up, binary from a module in its own protocol, overlong) is
counted in :attr:`NmeaReader.errors`, named in :attr:`NmeaReader.last_error`, and skipped. It
never raises.

GGA carries the position, the fix quality, the satellites used and the HDOP; RMC carries the
date and whether the receiver trusts its fix. A position is reported on each valid GGA once an
RMC has given the date (GGA has only the time of day); a GGA of quality 0 or an RMC of status
``V`` is :class:`hal.location.NoFix`. Accuracy is HDOP times :data:`UERE_M` (a typical
single-frequency receiver's range error): an estimate, as every receiver's is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hal.location import Fix, NoFix, Reading, fix_problem

#: The longest line taken (the standard's is 82 characters; some modules run over).
MAX_LINE = 164
#: Metres of range error per unit of HDOP.
UERE_M = 5.0
TYPES = ("GGA", "RMC")


class NmeaError(ValueError):
    """A line is not a sentence this reader takes; the message says why, in one line."""


def checksum(body: bytes) -> int:
    value = 0
    for byte in body:
        value ^= byte
    return value


def sentence(line: bytes) -> tuple[str, list[str]]:
    """The type (``GGA``) and fields of one line (without its line ending); NmeaError if it is
    not a checksummed ASCII sentence of a type this reader takes."""
    if len(line) > MAX_LINE:
        raise NmeaError(f"line of {len(line)} bytes is over {MAX_LINE}")
    if not line.startswith(b"$"):
        raise NmeaError(f"line does not start with $: {line[:16]!r}")
    body, star, given = line[1:].partition(b"*")
    if not star:
        raise NmeaError(f"sentence has no checksum: {line[:16]!r}")
    if not all(32 <= b < 127 for b in body) or len(given) != 2:
        raise NmeaError(f"sentence is not printable ASCII with a 2-digit checksum: {line[:16]!r}")
    try:
        expected = int(given, 16)
    except ValueError:
        raise NmeaError(f"checksum {given!r} is not hexadecimal") from None
    if checksum(body) != expected:
        raise NmeaError(f"checksum {given.decode()} does not match {checksum(body):02X}: "
                        f"{line[:16]!r}")
    fields = body.decode("ascii").split(",")
    kind = fields[0][2:] if len(fields[0]) == 5 else ""
    return kind, fields[1:]


def _coordinate(value: str, hemisphere: str, degree_digits: int, positive: str,
                negative: str) -> float:
    """``ddmm.mmmm`` (or ``dddmm.mmmm``) and N/S (E/W) as signed decimal degrees."""
    if hemisphere not in (positive, negative) or len(value) < degree_digits + 2:
        raise NmeaError(f"coordinate {value!r} {hemisphere!r} is not d{'d' * degree_digits}mm.mm "
                        f"{positive}/{negative}")
    try:
        degrees = int(value[:degree_digits])
        minutes = float(value[degree_digits:])
    except ValueError:
        raise NmeaError(f"coordinate {value!r} is not a number") from None
    if not 0 <= minutes < 60:
        raise NmeaError(f"coordinate {value!r} has {minutes} minutes")
    decimal = degrees + minutes / 60
    return -decimal if hemisphere == negative else decimal


def _time_of_day(value: str) -> timedelta:
    """``hhmmss.ss`` as a duration since midnight."""
    try:
        hours, minutes, seconds = int(value[0:2]), int(value[2:4]), float(value[4:])
    except ValueError:
        raise NmeaError(f"time {value!r} is not hhmmss.ss") from None
    if len(value) < 6 or hours > 23 or minutes > 59 or not 0 <= seconds < 61:
        raise NmeaError(f"time {value!r} is not hhmmss.ss")
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _date(value: str) -> datetime:
    """``ddmmyy`` (years 2000-2099: what a module of this century sends) as midnight UTC."""
    try:
        if len(value) != 6:
            raise ValueError
        return datetime(2000 + int(value[4:6]), int(value[2:4]), int(value[0:2]), tzinfo=UTC)
    except ValueError:
        raise NmeaError(f"date {value!r} is not ddmmyy") from None


class NmeaReader:
    """Bytes in (:meth:`feed`), readings out, on one thread. ``now``: the monotonic clock the
    readings are stamped with when they arrive."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.errors = 0
        self.sentences = 0
        self.last_error: str | None = None
        self._buffer = b""
        self._date: datetime | None = None
        self._rmc_time: timedelta | None = None

    def feed(self, data: bytes) -> list[Reading]:
        """Readings from the whole lines in ``data`` (a partial line waits for the rest)."""
        self._buffer += data
        readings: list[Reading] = []
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE:  # binary or a stuck line: nothing to wait for
            self._error(f"{len(self._buffer)} bytes without a line end")
            self._buffer = b""
        for raw in lines:
            line = raw.rstrip(b"\r").lstrip(b"\x00")
            if not line:
                continue
            reading = self.line(line)
            if reading is not None:
                readings.append(reading)
        return readings

    def line(self, line: bytes) -> Reading | None:
        """One line: its reading, or None (another sentence type, no date yet, or garbled)."""
        try:
            kind, fields = sentence(line)
            if kind == "GGA":
                reading = self._gga(fields)
            elif kind == "RMC":
                reading = self._rmc(fields)
            else:
                return None  # GSV, VTG, ...: well-formed, not needed
        except NmeaError as exc:
            self._error(str(exc))
            return None
        self.sentences += 1
        return reading

    def _error(self, why: str) -> None:
        self.errors += 1
        self.last_error = why

    def _rmc(self, fields: list[str]) -> Reading | None:
        if len(fields) < 9:
            raise NmeaError(f"RMC has {len(fields)} fields, not at least 9")
        if fields[1] not in ("A", "V"):
            raise NmeaError(f"RMC status {fields[1]!r} is not A or V")
        if fields[0] and fields[8]:
            self._rmc_time = _time_of_day(fields[0])
            self._date = _date(fields[8])
        return NoFix(self.now()) if fields[1] == "V" else None

    def _gga(self, fields: list[str]) -> Reading | None:
        if len(fields) < 9:
            raise NmeaError(f"GGA has {len(fields)} fields, not at least 9")
        quality = fields[5]
        if not quality.isdigit():
            raise NmeaError(f"GGA fix quality {quality!r} is not a digit")
        if quality == "0":
            return NoFix(self.now())
        when = _time_of_day(fields[0])
        latitude = _coordinate(fields[1], fields[2], 2, "N", "S")
        longitude = _coordinate(fields[3], fields[4], 3, "E", "W")
        try:
            satellites = int(fields[6] or 0)
            hdop = float(fields[7])
        except ValueError:
            raise NmeaError(f"GGA satellites {fields[6]!r} or HDOP {fields[7]!r} is not a "
                            f"number") from None
        accuracy = round(hdop * UERE_M, 1)
        problem = fix_problem(latitude, longitude, accuracy, satellites)
        if problem is not None:
            raise NmeaError(f"GGA {problem}")
        if self._date is None or self._rmc_time is None:
            return None  # the date comes with the first RMC
        day = self._date
        if when < self._rmc_time - timedelta(hours=12):  # past midnight since that RMC
            day += timedelta(days=1)
        elif when > self._rmc_time + timedelta(hours=12):  # that RMC was past midnight
            day -= timedelta(days=1)
        fix_wall = (day + when).timestamp()
        return Fix(round(latitude, 7), round(longitude, 7), accuracy, fix_wall, self.now(),
                   satellites)
