"""Operator commands send the token only to the store they mean: the store has its own default
port (not the panel's), and before any token leaves, ``GET /v1/info`` must answer as a bodycam
store whose key matches the pinned one (``--store-key`` / ``$BODYCAM_STORE_KEY``)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sim.web.app import DEFAULT_PORT as PANEL_PORT
from store import cli
from store.service import init_store
from tests.evidence_store.conftest import Camera, Running

README = Path(__file__).resolve().parents[2] / "README.md"
STORE_MD = Path(__file__).resolve().parents[2] / "docs" / "STORE.md"
TOKEN = "operator-secret-token-0123456789"


class Listener:
    """Whatever else listens where the operator points: records every request it gets."""

    def __init__(self, info: tuple[int, str, bytes]) -> None:
        self.info = info
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append((self.command, self.path, dict(self.headers), body))
                status, kind, payload = (listener.info if self.path == "/v1/info" else
                                         (200, "text/html", b"<html>bodycam panel</html>"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def saw_token(self) -> bool:
        return any(TOKEN in json.dumps(headers) or TOKEN.encode() in body or TOKEN in path
                   for _, path, headers, body in self.requests)


def operator(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("BODYCAM_STORE_URL", "BODYCAM_STORE_KEY", "BODYCAM_STORE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BODYCAM_STORE_TOKEN", TOKEN)
    return monkeypatch


def readme_store_ports() -> set[int]:
    """Every store address the README's and STORE.md's walkthroughs use or promise."""
    text = README.read_text() + STORE_MD.read_text()
    ports = {int(p) for p in re.findall(r"store serve[^\n]*# http://127\.0\.0\.1:(\d+)", text)}
    ports |= {int(p) for p in re.findall(r'store_url = "http://127\.0\.0\.1:(\d+)"', text)}
    ports |= {int(p) for p in re.findall(r"else `http://127\.0\.0\.1:(\d+)`", text)}
    return ports


def test_the_store_does_not_share_the_panels_default_port() -> None:
    assert cli.DEFAULT_PORT != PANEL_PORT
    assert readme_store_ports() == {cli.DEFAULT_PORT}
    serve = cli.build_parser().parse_args(["serve"])
    assert serve.port == cli.DEFAULT_PORT


NOT_A_STORE = {
    "the panel (no /v1/info)": (404, "text/html", b"<html>not found</html>"),
    "an HTML page": (200, "text/html", b"<html>hello</html>"),
    "JSON that is not a store's": (200, "application/json", b'{"api": 1, "mode": "standby"}'),
    "a store id its key does not make": (200, "application/json", json.dumps(
        {"api": 1, "store_id": "store-0000000000000000", "store_public_key": "-----BEGIN PUBLIC "
         "KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END "
         "PUBLIC KEY-----\n"}).encode()),
}


@pytest.mark.parametrize("what", NOT_A_STORE)
@pytest.mark.parametrize("command", [["list"], ["list", "--quarantine"],
                                     ["enrol", "PUB"], ["flag", "R000001-9f3ac2", "--case", "C"],
                                     ["export", "R000001-9f3ac2", "--out", "case.zip"]])
def test_the_readme_commands_keep_the_token_from_what_is_not_a_store(
        what: str, command: list[str], env: pytest.MonkeyPatch, tmp_path: Path,
        camera: Camera, capsys) -> None:
    listener = Listener(NOT_A_STORE[what])
    env.setenv("BODYCAM_STORE_URL", listener.url)
    env.chdir(tmp_path)
    argv = [str(camera.data_dir / "device.pub.pem") if a == "PUB" else a for a in command]
    try:
        code, out, err = operator(capsys, *argv)
    finally:
        listener.close()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "is not a bodycam evidence store" in err, err
    assert listener.url in err
    assert not listener.saw_token()
    assert [(m, p) for m, p, _, _ in listener.requests] == [("GET", "/v1/info")]
    assert not (tmp_path / "case.zip").exists()


def test_a_store_that_is_not_the_pinned_one_gets_no_token(
        running: Running, env: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    """Another store's real /v1/info answer, replayed: a real store, but not ours."""
    other = tmp_path / "other"
    other.mkdir()
    init_store(other)
    info = json.dumps(running.store.info()).encode()
    listener = Listener((200, "application/json", info))
    env.setenv("BODYCAM_STORE_URL", listener.url)
    env.setenv("BODYCAM_STORE_KEY", str(other / "store.pub.pem"))
    try:
        code, _, err = operator(capsys, "list")
    finally:
        listener.close()
    assert code == 1 and err.count("\n") == 1
    assert running.store.store_id in err and "not the pinned store" in err, err
    assert not listener.saw_token()


def test_the_pinned_store_answers(running: Running, env: pytest.MonkeyPatch, capsys) -> None:
    env.setenv("BODYCAM_STORE_TOKEN", running.token)
    env.setenv("BODYCAM_STORE_URL", running.url)
    env.setenv("BODYCAM_STORE_KEY", str(running.directory / "store.pub.pem"))
    code, out, err = operator(capsys, "list")
    assert code == 0 and "0 recording(s)" in out, err
    env.delenv("BODYCAM_STORE_KEY")  # no pin: still checked to be a store, then used
    code, out, err = operator(capsys, "list", "--store-key",
                              str(running.directory / "store.pub.pem"))
    assert code == 0, err


@pytest.mark.parametrize("content", [None, b"not a key"])
def test_an_unreadable_pin_is_one_line(content: bytes | None, running: Running,
                                       env: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys) -> None:
    env.setenv("BODYCAM_STORE_URL", running.url)
    pin = tmp_path / "pin.pem"
    if content is not None:
        pin.write_bytes(content)
    code, out, err = operator(capsys, "list", "--store-key", str(pin))
    assert code == 2 and out == "" and err.count("\n") == 1 and str(pin) in err, err



def test_an_empty_quarantine_says_so(running: Running, env: pytest.MonkeyPatch,
                                     capsys) -> None:
    """The README's ``store list --quarantine`` on a store with nothing quarantined: a line that
    says so, not silence (which reads as a hang or a failure)."""
    env.setenv("BODYCAM_STORE_TOKEN", running.token)
    env.setenv("BODYCAM_STORE_URL", running.url)
    code, out, err = operator(capsys, "list", "--quarantine")
    assert code == 0, err
    assert out == "0 quarantined upload(s)\n"
    code, out, _ = operator(capsys, "list", "--quarantine", "--json")
    assert code == 0 and json.loads(out) == []
