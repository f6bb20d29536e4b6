"""Choosing the store's engines: ``store.json`` keys and ``--catalogue``/``--objects``, each
mistake one line naming what was wrong, no password or key ever echoed or taken from argv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store.cli import main
from store.config import StoreConfig, StoreConfigError
from store.service import Store, StoreDirError, init_store

DSN = "postgresql://bodycam@127.0.0.1:1/none"


@pytest.mark.parametrize(("key", "value", "says"), [
    ("catalogue", "mysql://db/x", "postgresql://"),
    ("catalogue", 5, "expected text"),
    ("objects", "s3://x", "bucket name"),
    ("objects", "/var/objects", "s3://BUCKET"),
    ("s3_endpoint", "ftp://gw", "http(s)://"),
    ("s3_endpoint", "http://key:secret@gw:7480", "credentials do not go"),
])
def test_a_wrong_engine_setting_is_one_line_naming_the_key(tmp_path: Path, key: str,
                                                           value: object, says: str) -> None:
    path = tmp_path / "store.json"
    path.write_text(json.dumps({key: value}))
    with pytest.raises(StoreConfigError) as err:
        StoreConfig.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}:") and says in message and "\n" not in message
    assert "secret" not in message


def test_defaults_are_the_embedded_engines(tmp_path: Path) -> None:
    config = StoreConfig()
    assert (config.catalogue, config.objects, config.engines) == ("sqlite", "folder", False)
    directory = tmp_path / "store"
    init_store(directory)
    store = Store(directory)
    assert store.catalogue.path == directory / "catalogue.sqlite" and not store.objects.locks
    store.close()


def test_a_password_on_the_command_line_is_refused(tmp_path: Path, capsys) -> None:
    code = main(["serve", "--dir", str(tmp_path / "s"), "--catalogue",
                 "postgresql://bodycam:hunter2@db.example/evidence"])
    err = capsys.readouterr().err
    assert code == 2 and "PGPASSWORD" in err and "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


def test_s3_without_credentials_in_the_environment_is_one_line(tmp_path: Path, capsys,
                                                               monkeypatch) -> None:
    for name in ("BODYCAM_S3_ENDPOINT", "BODYCAM_S3_ACCESS_KEY", "BODYCAM_S3_SECRET_KEY",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    code = main(["init", "--dir", str(tmp_path / "s"), "--objects", "s3://evidence"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "no S3 endpoint" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s" / "keys" / "store.key").exists()  # no half-made store
    monkeypatch.setenv("BODYCAM_S3_ENDPOINT", "http://127.0.0.1:1")
    assert main(["init", "--dir", str(tmp_path / "s"), "--objects", "s3://evidence"]) == 1
    assert "BODYCAM_S3_ACCESS_KEY" in capsys.readouterr().err


def test_an_unreachable_catalogue_is_one_line(tmp_path: Path, capsys) -> None:
    directory = tmp_path / "s"
    init_store(directory)
    config = json.loads((directory / "store.json").read_text())
    (directory / "store.json").write_text(json.dumps({**config, "catalogue": DSN}))
    with pytest.raises(StoreDirError, match="cannot connect"):
        Store(directory)


def test_a_store_in_use_is_not_moved_to_other_engines_by_a_flag(tmp_path: Path, capsys,
                                                                  camera) -> None:
    directory = tmp_path / "s"
    init_store(directory)
    store = Store(directory)
    store.enrol(camera.pub_pem)
    store.close()
    code = main(["serve", "--dir", str(directory), "--catalogue", DSN])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "already holds a catalogue" in err and len(err.splitlines()) == 1
    assert json.loads((directory / "store.json").read_text())["catalogue"] == "sqlite"


def test_an_unreachable_bucket_is_one_line_without_the_keys(tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("BODYCAM_S3_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("BODYCAM_S3_ACCESS_KEY", "AKIA-not-shown")
    monkeypatch.setenv("BODYCAM_S3_SECRET_KEY", "secret-not-shown")
    directory = tmp_path / "s"
    init_store(directory)
    config = json.loads((directory / "store.json").read_text())
    (directory / "store.json").write_text(json.dumps({**config, "objects": "s3://evidence"}))
    with pytest.raises(StoreDirError) as err:
        Store(directory)
    message = str(err.value)
    assert message.startswith("objects s3://evidence at http://127.0.0.1:1:")
    assert "\n" not in message and "not-shown" not in message
