"""The browser panel's sound, in a real headless Chromium against the real ``bodycam sim`` on
loopback (as tests/test_panel_browser.py): the page's "Speak" button speaks into the simulated
microphone through the panel's command path, the meter shows it, the recording keeps it, and
the page's player plays the segment with its sound (an audio track, not muted, decoded)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from sim.microphone import SPEAK_HZ
from sim.sync import samples
from tests.panel_harness import RunningPanel, launched_chromium, running_panel

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install playwright)")
expect = playwright_api.expect
pytestmark = pytest.mark.browser
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_chromium("--autoplay-policy=no-user-gesture-required") as launched:
        yield launched


@pytest.fixture
def panel(tmp_path: Path) -> Iterator[RunningPanel]:
    with running_panel(tmp_path, "--virtual-clock") as running:
        yield running


def levels(panel: RunningPanel, seconds: float, step: float = 0.1) -> list[float]:
    """The daemon's meter reading after each ``step`` of simulated time."""
    found = []
    for _ in range(round(seconds / step)):
        panel.ok({"cmd": "advance", "seconds": step})
        found.append(panel.ok({"cmd": "status"})["status"]["audio"]["level_dbfs"])
    return found


def voiced_seconds(mp4: Path, window: float = 0.1) -> float:
    """How long the simulated voice (SPEAK_HZ) sounds in ``mp4``: windows whose 220 Hz bin
    stands well above the noise floor."""
    _, x = samples(mp4)
    size = round(48000 * window)
    found = 0
    for start in range(0, len(x) - size + 1, size):
        chunk = x[start:start + size]
        spectrum = np.abs(np.fft.rfft(chunk)) / size
        freqs = np.fft.rfftfreq(size, 1 / 48000)
        if spectrum[np.abs(freqs - SPEAK_HZ) < 10].max() > 0.02:
            found += 1
    return found * window


def test_speak_on_the_page_is_heard_shown_recorded_and_played_back(
        browser: object, panel: RunningPanel, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 1000})  # type: ignore[attr-defined]
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(panel.url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#mode")).to_have_attribute("data-mode", "buffering")

    # a quiet room: the noise floor, but for the flashes' tone bursts (one a second)
    assert min(levels(panel, 1.0)) < -40
    panel.ok({"cmd": "press", "button": "record", "gesture": "double"})
    panel.ok({"cmd": "advance", "seconds": 1.0})
    recording = panel.ok({"cmd": "status"})["status"]["recording"]["id"]
    page.locator("#speak").click()  # the panel's control: 2 s of voice
    page.wait_for_function("() => !document.querySelector('#speak').disabled")
    heard = levels(panel, 1.5)
    assert all(level > -30 for level in heard), heard  # the voice, every block
    expect(page.locator("#level-text")).to_have_text(
        re.compile(r"^-(1\d|2\d|\d) dBFS$"))  # the meter shows it
    after = levels(panel, 1.5)
    assert min(after) < -40, after  # the voice ended
    panel.ok({"cmd": "press", "button": "record", "gesture": "hold", "seconds": 3.2})
    panel.ok({"cmd": "advance", "seconds": 4.0})
    item = page.locator(f'.recording[data-id="{recording}"]')
    expect(item).to_have_attribute("data-status", "verified")

    # the segments as the page gets them: two tracks, the 2 s voice in the sound
    voiced = 0.0
    for n in range(10):
        url = f"/media/{recording}/{recording}-S{n:04d}.mp4"
        status, headers, body = panel.http("GET", url)
        if status == 404:
            break
        assert status == 200 and headers["Content-Type"] == "video/mp4"
        served = tmp_path / f"S{n}.mp4"
        served.write_bytes(body)
        with av.open(str(served)) as container:
            assert sorted(s.type for s in container.streams) == ["audio", "video"]
        voiced += voiced_seconds(served)
    assert n > 1 and voiced == pytest.approx(2.0, abs=0.25)

    item.locator("button.play").first.click()  # the page's own player
    page.wait_for_function("""() => {
        const v = document.getElementById('player');
        return v.readyState >= 2 && v.currentTime > 0.5 && !v.error;
    }""")
    player = page.evaluate("""() => {
        const v = document.getElementById('player');
        return {muted: v.muted, volume: v.volume, src: v.src, defaultMuted: v.defaultMuted,
                decoded: v.webkitAudioDecodedByteCount ?? null};
    }""")
    assert player["src"].endswith(f"{recording}-S0000.mp4")
    assert player["defaultMuted"] is False
    assert player["muted"] is False and player["volume"] > 0, player
    if player["decoded"] is not None:  # Chromium counts the sound it decoded
        page.wait_for_function(
            "() => document.getElementById('player').webkitAudioDecodedByteCount > 0")
    assert errors == []
