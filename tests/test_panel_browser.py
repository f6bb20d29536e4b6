"""The browser panel in a real headless Chromium (Debian's, driven by Playwright), against the
real ``bodycam sim`` on loopback: pressing the page's buttons records, stops, goes stealthy and
cuts the power of the simulated camera, and the page shows what the daemon did.

The simulator runs on its virtual clock: the mouse goes down and up when the test says, and the
test moves simulated time while the button is held, so a 3 s hold takes no real time at all. The
page's DOWN and UP still define the hold. Screenshots land in ``artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from device import control
from tests.panel_harness import (
    EventStream,
    MarkedRecording,
    RunningPanel,
    launched_chromium,
    record_marked,
    running_panel,
)

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install playwright)")
expect = playwright_api.expect
Page = playwright_api.Page

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
BLINKING = "blinking {} (0.5s on / 0.5s off)"
TIMEOUT_MS = 10_000
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def panel(tmp_path: Path) -> Iterator[RunningPanel]:
    with running_panel(tmp_path, "--virtual-clock") as running:
        yield running


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[RunningPanel, MarkedRecording]]:
    """One simulator for the tests that only look: a recording with pre-event footage, markers
    (one with a note) and a gap, made through the control commands (no browser needed)."""
    with running_panel(tmp_path_factory.mktemp("marked"), "--virtual-clock") as running:
        stream = EventStream(running)
        try:
            made = record_marked(running, stream)
        finally:
            stream.close()
        yield running, made


PHONE = {"width": 390, "height": 844}


def open_page(browser: object, panel: RunningPanel,
              viewport: dict[str, int] | None = None) -> Page:
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport=viewport or {"width": 1500, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(panel.url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#mode")).to_have_attribute("data-mode", "buffering")
    return page


def expect_mode(page: Page, mode: str, led: str) -> None:
    """The page shows ``mode`` and the LED pattern ``led`` (as the daemon describes it)."""
    expect(page.locator("#mode")).to_have_attribute("data-mode", mode)
    expect(page.locator("#led")).to_have_attribute("data-pattern", led)


def advance(page: Page, seconds: float) -> None:
    """Move simulated time through the page's own command queue, after every edge sent so far."""
    page.evaluate("s => panel.advance(s)", seconds)


def centre(page: Page, button: str) -> tuple[float, float]:
    box = page.locator(f'.hw[data-button="{button}"]').bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def double_press_record(page: Page) -> None:
    page.mouse.move(*centre(page, "record"))
    page.mouse.down()
    advance(page, 0.1)
    page.mouse.up()
    advance(page, 0.15)
    page.mouse.down()
    advance(page, 0.1)
    page.mouse.up()


#: A digest of the preview image's pixels as the page shows them right now.
PIXELS = """() => {
    const img = document.getElementById('preview');
    const c = document.createElement('canvas');
    c.width = 64; c.height = 48;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0, 64, 48);
    const d = g.getImageData(0, 0, 64, 48).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
    return String(h);
}"""


def wait_for_new_preview(page: Page, meanwhile: Callable[[], None] = lambda: None) -> None:
    """Wait until the preview shows a different picture from the one it shows now."""
    before = page.evaluate(PIXELS)
    meanwhile()
    page.wait_for_function(f"before => ({PIXELS})() !== before", arg=before)


def seen_lit(page: Page, colours: list[str]) -> None:
    """Wait until the LED has shown each of ``colours`` (a blink shows both of its phases)."""
    page.evaluate("() => { window.seenLit = new Set(); }")
    page.wait_for_function("""want => {
        window.seenLit.add(document.getElementById('led').dataset.lit);
        return want.every(c => window.seenLit.has(c));
    }""", arg=colours, polling=20)


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_the_page_loads_with_the_preview_updating(browser: object, panel: RunningPanel) -> None:
    page = open_page(browser, panel)
    expect(page.locator("#led")).to_have_attribute("data-pattern", BLINKING.format("green"))
    seen_lit(page, ["green", "off"])
    advance(page, 0.5)  # the camera captures frames only as simulated time passes
    page.wait_for_function("() => document.getElementById('preview').naturalWidth === 320")
    for _ in range(2):  # each step of simulated time shows a new picture
        wait_for_new_preview(page, lambda: advance(page, 0.5))
    expect(page.locator("#preview-off")).to_be_hidden()
    expect(page.locator("#officer")).to_have_text("officer unassigned")  # never docked
    assert page.errors == []  # type: ignore[attr-defined]


def test_double_press_records_fn_marks_a_hold_stops_and_the_recording_verifies_and_plays(
        browser: object, panel: RunningPanel) -> None:
    page = open_page(browser, panel)
    advance(page, 1.0)  # a second of pre-event footage
    double_press_record(page)
    advance(page, 0.5)
    expect_mode(page, "recording", BLINKING.format("red"))
    seen_lit(page, ["red", "off"])
    expect(page.locator("#sound")).to_contain_text("880 Hz")  # two tones at start
    expect(page.locator("#vibe")).to_contain_text("vibration 0.2 s + 0.2 s")
    expect(page.locator("#rec-badge")).to_be_visible()
    recording_id = panel.ok({"cmd": "status"})["status"]["recording"]["id"]
    item = page.locator(f'.recording[data-id="{recording_id}"]')
    expect(item).to_have_attribute("data-status", "recording")
    advance(page, 1.0)
    page.mouse.move(*centre(page, "function"))  # a press of FN: a marker
    page.mouse.down()
    advance(page, 0.1)
    page.mouse.up()
    advance(page, 1.0)
    expect(page.locator("#recording-line")).to_contain_text("1 marker(s)")
    expect(page.locator("#led")).to_have_attribute("data-lit", "red")  # for the picture
    screenshot(page, "panel-recording.png")

    page.mouse.move(*centre(page, "record"))
    page.mouse.down()
    advance(page, 3.2)  # held: the hold is recognised while the button is still down
    expect(page.locator("#mode")).to_have_attribute("data-mode", "buffering")
    page.mouse.up()
    expect(page.locator("#sound")).to_contain_text("440 Hz 1 s")  # one long tone at stop
    expect(item).to_have_attribute("data-status", "verified")
    expect(item.locator(".badge")).to_have_text("verified")
    expect(item.locator(".rec-meta")).to_contain_text("1 marker(s)")

    item.locator("button.play").first.click()
    page.wait_for_function("""() => {
        const v = document.getElementById('player');
        return v.readyState >= 2 && v.duration > 0 && v.currentTime > 0 && !v.error;
    }""")
    expect(page.locator(".audit li").filter(has_text="recording_stop")).to_have_count(1)
    screenshot(page, "panel-playing.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_stealth_from_the_keyboard_turns_the_led_off_and_back(
        browser: object, panel: RunningPanel) -> None:
    page = open_page(browser, panel)
    advance(page, 0.5)
    page.keyboard.down("g")  # the program button, held
    advance(page, 3.2)
    page.keyboard.up("g")
    expect(page.locator("#led")).to_have_attribute("data-pattern", "off")
    expect(page.locator('.flag[data-flag="stealth"]')).to_have_class("flag on")
    double_press_record(page)  # recording in stealth: still no light
    advance(page, 0.5)
    expect_mode(page, "recording", "off")
    expect(page.locator("#led")).to_have_attribute("data-lit", "off")
    page.keyboard.down("g")
    advance(page, 3.2)
    page.keyboard.up("g")
    expect(page.locator("#led")).to_have_attribute("data-pattern", BLINKING.format("red"))


def cut_power_while_recording(page: Page, panel: RunningPanel) -> str:
    page.get_by_role("button", name="holster").click()
    expect_mode(page, "recording", BLINKING.format("red"))  # the LED is set last
    recording_id = panel.ok({"cmd": "status"})["status"]["recording"]["id"]
    advance(page, 2.0)  # a segment under way, not closed
    page.locator("#power-cut").click()
    panel.wait_for_line(r"^control socket ")  # the daemon booted again
    expect(page.locator("#camera")).to_have_attribute("data-power", "running")
    expect(page.locator("#mode")).to_have_attribute("data-mode", "buffering")
    return recording_id


def test_a_power_cut_kills_the_daemon_and_it_boots_again(browser: object,
                                                          panel: RunningPanel) -> None:
    page = open_page(browser, panel)
    recording_id = cut_power_while_recording(page, panel)
    # The footage cut off mid-segment is listed: "interrupted" until recovery rebuilds it.
    item = page.locator(f'.recording[data-id="{recording_id}"]')
    expect(item).to_have_attribute("data-status", re.compile("interrupted|verified"))
    powers_on = page.locator(".audit li").filter(has_text="power button action=on")
    expect(powers_on).to_have_count(2)  # the first boot and the one after the cut
    screenshot(page, "panel-after-power-cut.png")


def test_a_power_cut_and_reboot_shows_the_recovered_recording(browser: object,
                                                               panel: RunningPanel) -> None:
    page = open_page(browser, panel)
    recording_id = cut_power_while_recording(page, panel)
    item = page.locator(f'.recording[data-id="{recording_id}"]')
    expect(item).to_have_attribute("data-status", "verified", timeout=1500)
    expect(item.locator(".badge")).to_have_text("verified · recovered")


def test_the_real_clock_panel_blinks_in_step_with_the_daemon(browser: object,
                                                              tmp_path: Path) -> None:
    """``make sim`` as a newcomer runs it: real time, the LED in the daemon's phase."""
    with running_panel(tmp_path) as panel:
        page = open_page(browser, panel)
        seen_lit(page, ["green", "off"])
        page.wait_for_function("() => document.getElementById('preview').naturalWidth > 0")
        wait_for_new_preview(page)  # real time passes by itself
        t0 = time.monotonic()
        daemon_phase = control.request(panel.data_dir, {"cmd": "journal", "since": 10**9})[
            "led_phase_s"]
        page_phase = page.evaluate("() => (performance.now() - panel.state.ledAnchor) / 1000")
        elapsed = time.monotonic() - t0
        period = 1.0
        offset = (page_phase - daemon_phase) % period
        assert min(offset, period - offset) <= elapsed + 0.1, (page_phase, daemon_phase)

        # A click quicker than the debounce time is still a press and a release, never a
        # button left down (which would turn into a hold and stop the recording).
        panel.ok({"cmd": "trigger", "name": "holster"})
        expect_mode(page, "recording", BLINKING.format("red"))
        page.mouse.move(*centre(page, "record"))
        page.mouse.down()
        page.mouse.up()
        expect(page.locator(".feed li").filter(has_text="gesture: record press")).to_have_count(1)
        assert panel.ok({"cmd": "status"})["status"]["mode"] == "recording"


def listed(panel: RunningPanel, recording_id: str) -> dict:
    state = panel.http("GET", "/api/state")[2]
    return next(r for r in json.loads(state)["recordings"] if r["id"] == recording_id)


SEEKED = """([url, seconds, frame]) => {
    const v = document.getElementById('player');
    return v.src.endsWith(url) && v.readyState >= 1 && !v.seeking
        && Math.abs(v.currentTime - seconds) <= frame;
}"""


def test_the_timeline_shows_the_marks_and_a_click_seeks_the_player_there(
        browser: object, marked: tuple[RunningPanel, MarkedRecording]) -> None:
    panel, made = marked
    page = open_page(browser, panel)
    timeline = listed(panel, made.id)["timeline"]
    box = page.locator(f'.timeline[data-id="{made.id}"]')
    items = box.locator(".tl-item")
    expect(items).to_have_count(len(timeline["marks"]))
    assert [items.nth(i).get_attribute("data-kind") for i in range(items.count())] == [
        "pre_event", "press", "marker", "marker", "gap"]
    expect(items.nth(2)).to_contain_text("door kicked in")
    expect(items.nth(4)).to_contain_text("gap of 1.")
    expect(box.locator(".tl-seg")).to_have_count(len(timeline["segments"]))
    expect(box.locator(".tl-span[data-kind='pre_event']")).to_have_count(1)
    frame = 1 / 10
    first, second = (m for m in timeline["marks"] if m["kind"] == "marker")
    items.nth(2).click()  # the first marker, from the list
    url = timeline["segments"][first["segment"]]["url"]
    page.wait_for_function(SEEKED, arg=[url, first["segment_s"], frame])
    assert page.evaluate("document.getElementById('player').paused")  # shown, not run past
    expect(box.locator(".tl-head")).to_be_visible()
    screenshot(page, "panel-timeline.png")
    # the second marker, on the bar: it lies in the next segment, which the player loads
    box.locator(".tl-mark[data-kind='marker']").nth(1).click()
    url = timeline["segments"][second["segment"]]["url"]
    page.wait_for_function(SEEKED, arg=[url, second["segment_s"], frame])
    assert page.errors == []  # type: ignore[attr-defined]


def inside(box: dict | None, width: int, height: int) -> bool:
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and (
        box["x"] + box["width"] <= width and box["y"] + box["height"] <= height)


def test_on_a_phone_the_camera_its_led_the_mode_and_record_are_on_the_first_screen(
        browser: object, marked: tuple[RunningPanel, MarkedRecording]) -> None:
    panel, _ = marked
    page = open_page(browser, panel, PHONE)
    assert page.evaluate("window.scrollY") == 0
    for selector in (".camera .shell", "#led", "#mode", ".hw-record", "#led-text"):
        box = page.locator(selector).bounding_box()
        assert inside(box, PHONE["width"], PHONE["height"]), (selector, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the header is one line, and shows the device id whole
    device_id = panel.ok({"cmd": "status"})["status"]["device_id"]
    expect(page.locator("#device-id")).to_have_text(device_id)
    header = page.locator(".topbar").bounding_box()
    assert header is not None and header["height"] < 50, header
    for selector in (".brand-mark", "#device-id", "#device-time", "#speaker", "#connection"):
        box = page.locator(selector).bounding_box()
        assert inside(box, PHONE["width"], int(header["y"] + header["height"])), (selector, box)
    assert page.evaluate("""() => { const e = document.getElementById('device-id');
        return e.scrollWidth <= e.clientWidth; }""")
    shown = page.locator("#device-time").inner_text()  # as rendered: the time of day
    assert re.fullmatch(r"\d\d:\d\d:\d\dZ", shown), shown
    screenshot(page, "panel-phone.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_clocks_say_what_they_are_and_led_lines_are_in_their_colour(
        browser: object, marked: tuple[RunningPanel, MarkedRecording]) -> None:
    panel, _ = marked
    page = open_page(browser, panel)
    expect(page.locator(".clock")).to_contain_text("camera clock")
    expect(page.locator(".feed-head")).to_contain_text("uptime")
    expect(page.locator(".feed li .t").last).to_have_text(re.compile(r"^\d+\.\d\d s$"))
    panel.ok({"cmd": "trigger", "name": "peer"})
    expect(page.locator("#rec-badge")).to_contain_text("recording time")

    def colour(led: str) -> tuple[int, ...]:
        line = page.locator(".feed li.k-led").filter(has_text=led).last
        expect(line).to_be_visible()
        rgb = line.evaluate("e => getComputedStyle(e).color")
        return tuple(int(n) for n in re.findall(r"\d+", rgb)[:3])

    r, g, b = colour("LED blinking green")
    assert g > r + 60 and g > b + 60, (r, g, b)
    r, g, b = colour("LED blinking red")
    assert r > g + 60 and r > b + 60, (r, g, b)
    swatch = page.locator(".feed li.k-led").filter(has_text="blinking red").last.locator(
        ".swatch").first
    assert swatch.get_attribute("data-colour") == "red"
