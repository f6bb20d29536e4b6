"""``make sim`` with encryption on (issue 15): the simulator makes a development force key of
its own (its private half beside the data directory, never on the card), the camera records
ciphertext, and the browser panel still plays each segment, decrypting it in memory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from evidence.layout import Layout
from tests.panel_harness import CAMERA, EventStream, RunningPanel, running_panel
from tests.test_panel_http import record_and_stop


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPanel]:
    with running_panel(tmp_path_factory.mktemp("crypt-panel"), "--virtual-clock",
                       settings=CAMERA) as running:  # no [encryption]: on, the default
        yield running


def test_the_panel_plays_encrypted_footage_with_the_simulators_development_key(
        panel: RunningPanel) -> None:
    assert (panel.data_dir / Layout.FORCE_KEY).exists()
    dev_key = panel.data_dir.parent / f"{panel.data_dir.name}.dev-force.key.pem"
    assert dev_key.exists() and not list(panel.data_dir.rglob("*.key.pem"))
    assert any("made a DEVELOPMENT force key" in line for line in panel.lines)
    stream = EventStream(panel)
    try:
        recording = record_and_stop(panel, stream)[0]
        status = stream.until("status", lambda m: True)["status"]
    finally:
        stream.close()
    assert status["encryption"].startswith("on (force key SHA256:")
    first = recording["segments"][0]
    file = panel.data_dir / "recordings" / recording["id"] / first["file"]
    stored = file.read_bytes()
    assert b"ftyp" not in stored  # on the card: ciphertext
    code, _, body = panel.http("GET", first["url"])
    assert code == 200 and body[4:8] == b"ftyp" and len(body) == len(stored)
    manifest = json.loads(file.with_name(file.name + ".json").read_text())
    assert hashlib.sha256(body).hexdigest() == manifest["encryption"]["plaintext_sha256"]
    code, _, part = panel.http("GET", first["url"], headers={"Range": "bytes=0-99"})
    assert code == 206 and part == body[:100]
