"""NMEA 0183 from a serial GNSS module: the parser alone, then the Pi's receiver over a real
pseudo-terminal. A recorded sample (u-blox style, valid checksums) gives the right fixes;
corrupted sentences, binary garbage and a silent module are counted or reported as no fix,
never a crash."""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.location import Fix, NoFix, Reading
from hal.nmea import NmeaReader, checksum
from hal.pi.gnss import READ_S, SILENT_S, SerialGnss
from sim.clock import SimClock

#: A module's first seconds at Westminster station: no fix, then fixes (GGA quality 1 and 2),
#: with the sentences a receiver sends besides (TXT, VTG, GSA).
SAMPLE = b"""$GPTXT,01,01,02,u-blox ag - www.u-blox.com*50\r
$GNRMC,075959.00,V,,,,,,,020126,,,N*63\r
$GNGGA,075959.00,,,,,0,00,99.99,,,,,,*7F\r
$GNRMC,080000.00,A,5130.0600,N,00007.4880,W,0.52,270.1,020126,,,A*6C\r
$GNVTG,270.1,T,,M,0.52,N,0.96,K,A*1F\r
$GNGGA,080000.00,5130.0600,N,00007.4880,W,1,09,0.92,12.3,M,45.9,M,,*60\r
$GNGSA,A,3,05,13,15,18,20,23,24,29,30,,,,1.62,0.92,1.33*14\r
$GNRMC,080001.00,A,5130.0546,N,00007.5840,W,0.55,268.4,020126,,,A*6A\r
$GNGGA,080001.00,5130.0546,N,00007.5840,W,1,10,0.84,12.1,M,45.9,M,,*60\r
$GNRMC,080002.00,A,5130.1380,N,00007.5660,W,0.61,3.2,020126,,,A*66\r
$GNGGA,080002.00,5130.1380,N,00007.5660,W,2,11,0.80,12.0,M,45.9,M,,*65\r
"""
EIGHT = datetime(2026, 1, 2, 8, 0, tzinfo=UTC).timestamp()


def sentence(body: str) -> bytes:
    return f"${body}*{checksum(body.encode()):02X}\r\n".encode()


def fixes(readings: list[Reading]) -> list[Fix]:
    return [r for r in readings if isinstance(r, Fix)]


def test_the_sample_gives_its_fixes_and_its_no_fix() -> None:
    reader = NmeaReader(lambda: 7.0)
    readings = reader.feed(SAMPLE)
    assert reader.errors == 0 and reader.sentences == 8  # 4 RMC + 4 GGA; TXT, VTG, GSA pass
    assert [type(r) for r in readings] == [NoFix, NoFix, Fix, Fix, Fix]
    first, second, third = fixes(readings)
    assert (first.latitude, first.longitude) == (51.501, -0.1248)
    assert (second.latitude, second.longitude) == (51.50091, -0.1264)
    assert first.satellites == 9 and first.accuracy_m == pytest.approx(4.6)
    assert third.satellites == 11 and third.accuracy_m == pytest.approx(4.0)
    assert [f.fix_wall - EIGHT for f in (first, second, third)] == pytest.approx([0, 1, 2])
    assert all(r.t_mono == 7.0 for r in readings)


def test_lines_split_anywhere_are_joined() -> None:
    reader = NmeaReader(lambda: 0.0)
    readings: list[Reading] = []
    for i in range(0, len(SAMPLE), 7):
        readings += reader.feed(SAMPLE[i:i + 7])
    assert len(fixes(readings)) == 3 and reader.errors == 0


GOOD_GGA = "GNGGA,080000.00,5130.0600,N,00007.4880,W,1,09,0.92,12.3,M,45.9,M,,"


@pytest.mark.parametrize(("line", "why"), [
    (b"$" + GOOD_GGA.encode() + b"*61\r\n", "checksum 61 does not match 60"),
    (b"$" + GOOD_GGA.encode() + b"\r\n", "no checksum"),
    (b"$" + GOOD_GGA.replace("5130", "5131").encode() + b"*60\r\n", "does not match"),
    (b"$" + GOOD_GGA.encode()[:30] + b"*60\r\n", "does not match"),  # torn
    (sentence(GOOD_GGA.replace(",N,", ",X,")), "N/S"),
    (sentence(GOOD_GGA.replace("5130.0600", "51xx.0600")), "not a number"),
    (sentence(GOOD_GGA.replace("5130.0600", "5175.0600")), "75.06 minutes"),
    (sentence(GOOD_GGA.replace("0.92", "abc")), "HDOP"),
    (sentence(GOOD_GGA.replace("080000.00", "250000.00")), "hhmmss"),
    (sentence("GNGGA,080000.00,5130.0600"), "GGA has 2 fields"),
    (sentence("GNRMC,080000.00,Q,5130.0600,N,00007.4880,W,0.5,1,020126,,,A"), "status"),
    (sentence("GNRMC,080000.00,A,5130.0600,N,00007.4880,W,0.5,1,320126,,,A"), "ddmmyy"),
    (sentence("GNGGA,080000.00,9130.0600,N,00007.4880,W,1,09,0.92,12.3,M,45.9,M,,"),
     "latitude"),
    (b"garbage without a dollar\r\n", "does not start with $"),
    (b"$GNGGA,\xff\xfe\x00*00\r\n", "printable ASCII"),
])
def test_a_bad_sentence_is_counted_and_skipped(line: bytes, why: str) -> None:
    reader = NmeaReader(lambda: 0.0)
    readings = reader.feed(SAMPLE[:SAMPLE.index(b"$GNGGA,080000")] + line + SAMPLE)
    assert reader.errors == 1 and why in (reader.last_error or "")
    assert "\n" not in (reader.last_error or "")
    assert len(fixes(readings)) == 3  # the good ones around it all count


def test_binary_garbage_without_line_ends_is_dropped_not_hoarded() -> None:
    reader = NmeaReader(lambda: 0.0)
    garbage = bytes(range(256)).replace(b"\n", b"") * 40  # a module in its binary protocol
    assert reader.feed(garbage) == []
    assert reader.errors >= 1 and len(reader._buffer) <= 200
    assert len(fixes(reader.feed(b"\r\n" + SAMPLE))) == 3


def test_gga_before_any_rmc_waits_for_the_date_and_midnight_rolls_over() -> None:
    reader = NmeaReader(lambda: 0.0)
    assert reader.feed(sentence(GOOD_GGA)) == []  # no date yet: no fix, no error
    assert reader.errors == 0
    reader.feed(sentence("GNRMC,235959.00,A,5130.0600,N,00007.4880,W,0.5,1,020126,,,A"))
    [fix] = reader.feed(sentence(GOOD_GGA.replace("080000.00", "000000.00")))
    assert fix.fix_wall == datetime(2026, 1, 3, tzinfo=UTC).timestamp()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_never_raise(data: bytes) -> None:
    reader = NmeaReader(lambda: 0.0)
    reader.feed(data)
    reader.feed(SAMPLE)
    assert reader.errors >= 0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(SAMPLE) - 1), st.integers(1, 255))
def test_any_flipped_byte_costs_at_most_its_own_line(offset: int, flip: int) -> None:
    damaged = bytearray(SAMPLE)
    damaged[offset] ^= flip
    reader = NmeaReader(lambda: 0.0)
    readings = reader.feed(bytes(damaged))
    assert len(fixes(readings)) >= 2  # one damaged line (or two, at a line end) at most
    for fix in fixes(readings):
        assert abs(fix.latitude - 51.501) < 0.002 and abs(fix.longitude + 0.125) < 0.003


# -- over a real pseudo-terminal ---------------------------------------------------------------
class Heard:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.cond = threading.Condition()

    def __call__(self, reading: Reading) -> None:
        with self.cond:
            self.readings.append(reading)
            self.cond.notify_all()

    def until(self, test, timeout: float = 10.0) -> list[Reading]:
        with self.cond:
            assert self.cond.wait_for(lambda: test(self.readings), timeout), self.readings
            return list(self.readings)


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    yield master, name
    os.close(master)
    os.close(slave)


def test_the_receiver_reads_a_module_on_a_pty(pty: tuple[int, str]) -> None:
    master, name = pty
    clock = SimClock()
    gnss = SerialGnss(clock, name, 9600)
    heard = Heard()
    gnss.start(heard)
    try:
        assert gnss.opened.wait(10)
        cut = SAMPLE.index(b"$GNRMC,080000")  # between two lines
        os.write(master, SAMPLE[:cut])
        os.write(master, b"\x00\xff\xfe binary \x81\x82\r\n")  # noise on the line
        os.write(master, b"$" + GOOD_GGA.encode() + b"*00\r\n")  # a corrupted sentence
        os.write(master, SAMPLE[cut:])
        got = heard.until(lambda r: len(fixes(r)) == 3)
        assert next((f.latitude, f.longitude) for f in fixes(got)) == (51.501, -0.1248)
        assert gnss.errors == 2
        # the module goes silent: once the silence is long, the receiver says no fix
        count = len(got)
        clock.advance(SILENT_S + 0.5)
        got = heard.until(lambda r: len(r) > count)
        assert isinstance(got[-1], NoFix)
        # ...and it speaks again
        assert gnss.opened.is_set()
        os.write(master, SAMPLE)
        heard.until(lambda r: len(fixes(r)) == 6)
    finally:
        gnss.stop()
    assert gnss._thread is None
    count = len(heard.readings)
    os.write(master, SAMPLE)
    clock.advance(2 * SILENT_S)
    with heard.cond:
        heard.cond.wait(3 * READ_S)  # stopped: it hears nothing (waits on the reader, bounded)
    assert len(heard.readings) == count


def test_a_port_that_is_not_there_is_no_fix_and_counted(tmp_path) -> None:
    clock = SimClock()
    gnss = SerialGnss(clock, str(tmp_path / "ttyNOPE"), 9600)
    heard = Heard()
    gnss.start(heard)
    try:
        got = heard.until(lambda r: len(r) >= 1)
    finally:
        gnss.stop()
    assert isinstance(got[0], NoFix) and gnss.errors >= 1
    assert gnss.port_error is not None and "ttyNOPE" in gnss.port_error
    assert "\n" not in gnss.port_error


def test_the_pi_backend_reads_its_module_from_the_configured_port(
        tmp_path, pty: tuple[int, str]) -> None:
    """``pins.gnss_port``: the Pi's bundle gets a receiver on it (none when off), and the
    daemon's tracker hears the module's fixes through it."""
    from device.config import Config
    from tests.pi_rig import mock_factory, pi_hardware

    master, name = pty
    off = pi_hardware(Config(), tmp_path / "a", SimClock(), pin_factory=mock_factory())
    try:
        assert off.location is None
    finally:
        off.close()
    hw = pi_hardware(Config().replace(pins={"gnss_port": name}), tmp_path / "b", SimClock(),
                     pin_factory=mock_factory())
    try:
        assert isinstance(hw.location, SerialGnss) and hw.location.url == name
        heard = Heard()
        hw.location.start(heard)
        assert hw.location.opened.wait(10)
        os.write(master, SAMPLE)
        assert len(fixes(heard.until(lambda r: len(fixes(r)) == 3))) == 3
    finally:
        hw.close()
    assert hw.location._thread is None  # closing the bundle stops the reader
