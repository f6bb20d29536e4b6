"""The uploader's parts on their own: backoff, configuration, the verifier after upload."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from device.config import Config
from device.upload.backoff import Backoff
from device.upload.uploader import log_snapshot
from evidence.kept import receipt_path
from evidence.verify import verify
from tests.conftest import config_error


def test_backoff_doubles_to_its_cap_with_jitter_between_half_and_all() -> None:
    low, high = Backoff(1.0, 8.0, rand=lambda: 0.0), Backoff(1.0, 8.0, rand=lambda: 1.0)
    assert [low.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [high.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    high.reset()
    assert high.next_delay() == 1.0
    many = Backoff(1.0, 300.0, rand=lambda: 0.5)
    assert max(many.next_delay() for _ in range(2000)) == 225.0  # no overflow, capped


@pytest.mark.parametrize("text, words", [
    ('[upload]\nstore_url = "ftp://store"\n', 'upload.store_url "ftp://store" is not http(s)'),
    ('[upload]\nstore_url = "http://store:99999"\n', "is not http(s)://HOST[:PORT]"),
    ('[upload]\nstore_url = "http://store/v1"\n', "is not http(s)://HOST[:PORT]"),
    ('[upload]\nstore_url = "http://store"\ntls_cert = "c.pem"\n', "not https"),
    ('[upload]\nbackoff_base_s = 10\nbackoff_cap_s = 5\n', "must be at least"),
    ('[upload]\nstore_public_key = ""\n', "upload.store_public_key: expected a non-empty"),
    ('[upload]\nchunk_kb = 1\n', "upload.chunk_kb: 1 is out of range"),
])
def test_bad_upload_configuration_names_the_key(tmp_path: Path, text: str, words: str) -> None:
    assert words in config_error(tmp_path, text)


def test_upload_defaults_mean_no_store() -> None:
    assert Config().upload.store_url == ""
    path_ok = Config().replace(upload={"store_url": "https://store.example:8470",
                                       "tls_cert": "store.crt"})
    assert path_ok.upload.tls_cert == "store.crt"


def test_audit_log_snapshot_stops_at_the_last_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b'{"seq":1}\n{"seq":2}\n{"se')
    size, digest = log_snapshot(log)
    assert size == 20 and digest == hashlib.sha256(b'{"seq":1}\n{"seq":2}\n').hexdigest()
    log.write_bytes(b"no newline at all")
    assert log_snapshot(log)[0] == 0


def test_verify_reports_uploaded_segments_and_catches_a_receipt_for_other_bytes(
        tmp_path: Path, recorded: Path) -> None:
    data = tmp_path / "camera"
    shutil.copytree(recorded, data)
    mp4 = sorted(data.glob("recordings/*/*.mp4"))[0]
    assert all(f.ok for f in verify([data]))
    mp4.unlink()  # gone without a receipt: that is not an upload
    bad = next(f for f in verify([data]) if f.path == str(mp4))
    assert bad.status == "tampered" and "no store receipt" in bad.detail
    receipt_path(mp4).write_bytes(b"{}")
    receipt_path(mp4).with_name(mp4.name + ".receipt.sig").write_bytes(b"x" * 64)
    bad = next(f for f in verify([data]) if f.path == str(mp4))
    assert bad.status == "tampered" and "store receipt not valid" in bad.detail
