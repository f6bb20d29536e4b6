"""Evidence objects on a real Ceph RGW with Object Lock: nothing deletes or shortens them early."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

pytest.importorskip("boto3")

from store.objects_s3 import ObjectLockedError, S3Location, S3ObjectStore

pytestmark = pytest.mark.engines  # -m 'not engines' leaves these out


@pytest.fixture
def objects(s3_engine, bucket_name) -> S3ObjectStore:
    store = S3ObjectStore(S3Location(s3_engine["BODYCAM_S3_ENDPOINT"], bucket_name,
                                     s3_engine["BODYCAM_S3_ACCESS_KEY"],
                                     s3_engine["BODYCAM_S3_SECRET_KEY"]))
    store.create_bucket()
    return store


def staged(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / "staged"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_an_object_under_compliance_retention_cannot_be_deleted_or_shortened(
        objects, tmp_path) -> None:
    path, sha = staged(tmp_path, b"segment bytes" * 1000)
    until = time.time() + 3600
    objects.put_file(path, sha, retain_until=until)
    assert not path.exists()
    assert objects.read_bytes(sha) == b"segment bytes" * 1000
    with pytest.raises(ObjectLockedError):
        objects.delete(sha)
    objects.extend_retention(sha, until - 600)  # earlier: ignored, never sent as a shortening
    assert objects.retention(sha)[0] == pytest.approx(until, abs=1)
    # Even asked directly, with the store's own credentials, the bucket refuses to shorten it.
    from botocore.exceptions import ClientError

    from store.objects_s3 import _utc
    with pytest.raises(ClientError, match="AccessDenied"):
        objects.s3.put_object_retention(
            Bucket=objects.bucket, Key=objects.key(sha),
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _utc(until - 600)})
    objects.extend_retention(sha, until + 600)
    assert objects.retention(sha)[0] == pytest.approx(until + 600, abs=1)
    assert objects.exists(sha)


def test_expired_objects_delete_and_held_ones_do_not(objects, tmp_path) -> None:
    path, sha = staged(tmp_path, b"expiring")
    objects.put_file(path, sha, retain_until=time.time() + 2)
    held_path, held = staged(tmp_path, b"held")
    objects.put_file(held_path, held, retain_until=time.time() + 2)
    objects.set_legal_hold(held, True)
    assert objects.retention(held)[1] is True
    deadline = time.time() + 10
    while True:  # the gateway's clock decides when the date has passed
        try:
            objects.delete(sha)
            break
        except ObjectLockedError:
            assert time.time() < deadline, "an expired object stayed locked"
            time.sleep(0.5)
    assert not objects.exists(sha)
    with pytest.raises(ObjectLockedError):
        objects.delete(held)  # past its date, but on legal hold
    objects.set_legal_hold(held, False)
    objects.delete(held)
    assert not objects.exists(held)
    with pytest.raises(FileNotFoundError):
        objects.open(held)


def test_the_same_content_twice_is_one_object(objects, tmp_path) -> None:
    path, sha = staged(tmp_path, b"same")
    objects.put_file(path, sha, retain_until=time.time() + 60)
    again, _ = staged(tmp_path, b"same")
    objects.put_file(again, sha, retain_until=time.time() + 120)
    listing = objects.s3.list_object_versions(Bucket=objects.bucket, Prefix=objects.key(sha))
    assert len(listing["Versions"]) == 1
    assert objects.retention(sha)[0] > time.time() + 100


def test_large_objects_go_up_in_parts(objects, tmp_path, monkeypatch) -> None:
    import store.objects_s3 as module
    monkeypatch.setattr(module, "PART_BYTES", 5 << 20)  # S3's smallest part
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: three parts
    path, sha = staged(tmp_path, data)
    objects.put_file(path, sha, retain_until=time.time() + 60)
    assert hashlib.sha256(objects.read_bytes(sha)).hexdigest() == sha
    with pytest.raises(ObjectLockedError):
        objects.delete(sha)


def test_a_bucket_without_object_lock_is_refused(s3_engine, bucket_name) -> None:
    store = S3ObjectStore(S3Location(s3_engine["BODYCAM_S3_ENDPOINT"], bucket_name,
                                     s3_engine["BODYCAM_S3_ACCESS_KEY"],
                                     s3_engine["BODYCAM_S3_SECRET_KEY"]))
    store.s3.create_bucket(Bucket=bucket_name)
    with pytest.raises(ValueError, match="Object Lock is not enabled"):
        store.check_bucket()


def test_bytes_that_do_not_match_their_name_are_refused(objects) -> None:
    with pytest.raises(ValueError, match="do not have that SHA-256"):
        objects.put_bytes("0" * 64, b"other bytes")


@pytest.mark.parametrize("url", ["s3:/x", "http://bucket", "s3://ab", "s3://" + "b" * 64])
def test_malformed_objects_urls_are_named(url) -> None:
    with pytest.raises(ValueError, match="objects URL"):
        S3Location.parse(url, "http://127.0.0.1:1", "a", "b")
