"""``bodycam store`` as an operator uses it: init, serve, enrol, list, flag, export, audit."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.store_client import DeviceClient, StoreConnection
from tests.evidence_store.conftest import Camera

#: ``bodycam store`` hands its arguments to store.cli; most calls go there directly (faster).
BODYCAM = [sys.executable, "-m", "device.cli", "store"]
STORE = [sys.executable, "-m", "store.cli"]


def store(*args: str, env: dict[str, str], check: bool = True, via_bodycam: bool = False,
          ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*(BODYCAM if via_bodycam else STORE), *args], capture_output=True,
                            text=True, timeout=60, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"bodycam store {' '.join(args)}: {result.stderr}")
    return result


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "BODYCAM_STORE_DIR": str(tmp_path / "store")}
    out = store("init", "--token-file", str(tmp_path / "token"), env=env,
                via_bodycam=True).stdout
    token = (tmp_path / "token").read_text().strip()
    assert "evidence store created" in out and token not in out
    assert token.encode() not in (tmp_path / "store" / "catalogue.sqlite").read_bytes()
    server = subprocess.Popen([*BODYCAM, "serve", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        env.update(BODYCAM_STORE_URL=line.split("listening on ")[1].split(",")[0],
                   BODYCAM_STORE_TOKEN=token)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_operator_workflow_on_the_command_line(served: dict[str, str], camera: Camera,
                                               tmp_path: Path) -> None:
    pub = str(camera.data_dir / "device.pub.pem")
    assert camera.device_id in store("enrol", pub, "--label", "PC 4711", env=served).stdout
    assert "already enrolled" in store("enrol", pub, env=served).stdout

    client = DeviceClient(StoreConnection(served["BODYCAM_STORE_URL"]),
                          camera.identity.private_key, camera.device_id)
    for mp4 in camera.segments():
        assert client.upload_segment(mp4)["state"] == "stored"

    recording = camera.manifest(camera.segments(1)[0]).recording_id
    listed = store("list", env=served).stdout
    assert recording in listed and "2 recording(s)" in listed
    assert "CASE-7" in store("flag", recording, "--case", "CASE-7", env=served).stdout
    assert "EVIDENCE case CASE-7" in store("list", env=served).stdout
    store("retention", env=served)
    assert "EVIDENCE case CASE-7" in store("list", env=served).stdout

    store("export", recording, "--out", str(tmp_path / "case.zip"), env=served)
    with zipfile.ZipFile(tmp_path / "case.zip") as z:
        assert {"export.mp4", "report.json", "report.json.sig"} <= set(z.namelist())
    assert "chain intact" in store("audit", env=served).stdout


def test_errors_are_one_line_with_a_nonzero_exit(served: dict[str, str], tmp_path: Path) -> None:
    result = store("flag", "R000404-abcdef", "--case", "X", env=served, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no recording R000404-abcdef" in result.stderr
    no_token = {k: v for k, v in served.items() if k != "BODYCAM_STORE_TOKEN"}
    result = store("list", env=no_token, check=False)
    assert result.returncode == 2 and "no operator token" in result.stderr
    result = store("init", env=served, check=False, via_bodycam=True)
    assert result.returncode == 1 and "already an evidence store" in result.stderr
    result = store("serve", "--dir", str(tmp_path / "nothing"), env=served, check=False)
    assert result.returncode == 1 and "is not an evidence store" in result.stderr
