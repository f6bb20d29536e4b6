"""Evidence objects on S3 with Object Lock: what a force's storage, not the store's code, protects.

Every object is written with COMPLIANCE retention until its deletion date, so no one (not the
store's operator with its own credentials, not this code) can delete it or shorten that date
before it passes; flagging puts a legal hold on it, which also blocks deletion until lifted.
The bucket must have been created with Object Lock (:meth:`S3ObjectStore.create_bucket`).

Objects are content-addressed as in the folder backend: the key is ``objects/ab/<sha256>``, and
the SHA-256 is checked on the way in (this gateway family ignores ``x-amz-checksum-sha256``, so
the store hashes the file itself before it calls :meth:`put_file`, and the upload carries
Content-MD5 per request so a corrupted transfer is refused by the gateway). A second PUT of the
same content would add a version under the lock; :meth:`put_file` looks first and keeps the one
it has, extending its retention if the new date is later.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from store.objects import ObjectStore, check_name

#: Single PUTs up to this size; larger files go in multipart parts of this size.
PART_BYTES = 64 << 20
#: A retention date must be in the gateway's future to be set (it refuses one in its past);
#: one less than this ahead has passed by the time the object lands.
LOCK_MARGIN_S = 1.0

log = logging.getLogger("bodycam.store")


class ObjectLockedError(PermissionError):
    """The bucket refused: the object's retention date has not passed, or it is on legal hold."""


@dataclass(frozen=True)
class S3Location:
    """Where the objects are: ``s3://BUCKET[/PREFIX]`` at an endpoint, with credentials."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    prefix: str = "objects"
    region: str = "us-east-1"

    @classmethod
    def parse(cls, url: str, endpoint: str, access_key: str, secret_key: str) -> S3Location:
        if not url.startswith("s3://"):
            raise ValueError(f"objects URL {url!r} does not start with s3://")
        bucket, _, prefix = url[5:].partition("/")
        if not 3 <= len(bucket) <= 63:
            raise ValueError(f"objects URL {url!r}: a bucket name has 3 to 63 characters")
        return cls(endpoint, bucket, access_key, secret_key, prefix.strip("/") or "objects")


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _future(until: float | None, sha256: str) -> float | None:
    """The date to lock to, or None when it has already passed by the real clock: the gateway
    refuses a date in its past, and such an object is already due for deletion. That only
    happens when the store's clock lags real time by more than the retention period (a test's
    injected clock; see docs/STORE.md)."""
    if until is not None and until < time.time() + LOCK_MARGIN_S:
        log.warning("object %s: retention date %s has already passed; stored without one",
                    sha256, _utc(until).isoformat())
        return None
    return until


class S3ObjectStore(ObjectStore):
    """Immutable objects in one Object Lock bucket, each under COMPLIANCE retention."""

    locks = True

    def __init__(self, location: S3Location, client: Any = None) -> None:
        self.location = location
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=location.endpoint, region_name=location.region,
                aws_access_key_id=location.access_key,
                aws_secret_access_key=location.secret_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        self.s3 = client
        self.bucket = location.bucket

    # --- the bucket ---------------------------------------------------------------------------

    def create_bucket(self) -> None:
        """Make the bucket with Object Lock (it can only be enabled at creation), or check that
        an existing one has it: evidence must never land in a bucket that can delete it."""
        from botocore.exceptions import ClientError

        try:
            self.s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        self.check_bucket()

    def check_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            conf = self.s3.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            raise ValueError(f"bucket {self.bucket}: Object Lock is not enabled "
                             f"({_code(exc)}); evidence needs a bucket created with it") from None
        if conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise ValueError(f"bucket {self.bucket}: Object Lock is not enabled")

    def key(self, sha256: str) -> str:
        check_name(sha256)
        return f"{self.location.prefix}/{sha256[:2]}/{sha256}"

    # --- objects ------------------------------------------------------------------------------

    def put_file(self, path: Path, sha256: str, retain_until: float | None = None) -> None:
        key = self.key(sha256)
        retain_until = _future(retain_until, sha256)
        if self.exists(sha256):
            if retain_until is not None:
                self.extend_retention(sha256, retain_until)
            path.unlink()
            return
        lock: dict[str, Any] = {}
        if retain_until is not None:
            lock = {"ObjectLockMode": "COMPLIANCE",
                    "ObjectLockRetainUntilDate": _utc(retain_until)}
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size <= PART_BYTES:
                data = f.read()
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=data,
                                   ContentMD5=_md5(data), Metadata={"sha256": sha256}, **lock)
            else:
                self._multipart(f, key, sha256, lock)
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        if head["ContentLength"] != size:
            raise OSError(f"s3://{self.bucket}/{key}: stored {head['ContentLength']} bytes "
                          f"of {size}")
        if retain_until is not None:
            self._ensure_retention(sha256, retain_until, head)
        path.unlink()

    def _ensure_retention(self, sha256: str, until: float, head: dict[str, Any]) -> None:
        """Check the lock really landed: Ceph's gateway ignores the retention headers of a
        multipart upload, so an object put that way gets its date set afterwards."""
        landed = head.get("ObjectLockRetainUntilDate")
        if landed is None or landed.timestamp() < until - 1:
            self.extend_retention(sha256, until)
            if (self.retention(sha256)[0] or 0) < until - 1:
                raise OSError(f"object {sha256}: the bucket did not take its retention date")

    def _multipart(self, f: BinaryIO, key: str, sha256: str, lock: dict[str, Any]) -> None:
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                 Metadata={"sha256": sha256}, **lock)
        parts = []
        try:
            number = 1
            while chunk := f.read(PART_BYTES):
                part = self.s3.upload_part(Bucket=self.bucket, Key=key, PartNumber=number,
                                           UploadId=upload["UploadId"], Body=chunk,
                                           ContentMD5=_md5(chunk))
                parts.append({"PartNumber": number, "ETag": part["ETag"]})
                number += 1
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key,
                                              UploadId=upload["UploadId"],
                                              MultipartUpload={"Parts": parts})
        except BaseException:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                           UploadId=upload["UploadId"])
            raise

    def put_bytes(self, sha256: str, data: bytes, retain_until: float | None = None) -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"object {sha256}: the bytes do not have that SHA-256")
        retain_until = _future(retain_until, sha256)
        if self.exists(sha256):
            if retain_until is not None:
                self.extend_retention(sha256, retain_until)
            return
        lock: dict[str, Any] = {}
        if retain_until is not None:
            lock = {"ObjectLockMode": "COMPLIANCE",
                    "ObjectLockRetainUntilDate": _utc(retain_until)}
        self.s3.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data,
                           ContentMD5=_md5(data), Metadata={"sha256": sha256}, **lock)
        if retain_until is not None:
            self._ensure_retention(sha256, retain_until,
                                   self.s3.head_object(Bucket=self.bucket, Key=self.key(sha256)))

    def open(self, sha256: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"no object {sha256}") from None
            raise

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        """Delete every version of the object; :class:`ObjectLockedError` while the bucket
        still protects one (its date has not passed, or it is held)."""
        from botocore.exceptions import ClientError

        key = self.key(sha256)
        for version in self._versions(key):
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
            except ClientError as exc:
                if _code(exc) == "AccessDenied":
                    raise ObjectLockedError(f"object {sha256}: the bucket refuses to delete it "
                                            f"(retention or legal hold)") from None
                if _code(exc) != "NoSuchVersion":
                    raise

    def _versions(self, key: str, markers: bool = True) -> list[str]:
        """Every version id of ``key`` (and its delete markers, with ``markers``)."""
        listing = self.s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        kinds = ("Versions", "DeleteMarkers") if markers else ("Versions",)
        return [v["VersionId"] for kind in kinds for v in listing.get(kind, [])
                if v["Key"] == key]

    # --- retention and holds ------------------------------------------------------------------

    def retention(self, sha256: str) -> tuple[float | None, bool]:
        """The object's retain-until date (epoch seconds, None without one) and legal hold."""
        head = self.s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        until = head.get("ObjectLockRetainUntilDate")
        return (until.timestamp() if until else None,
                head.get("ObjectLockLegalHoldStatus") == "ON")

    def extend_retention(self, sha256: str, until: float) -> None:
        """Move the retention date later, never earlier (Object Lock would refuse that)."""
        current, _ = self.retention(sha256)
        if (current is not None and current >= until) or _future(until, sha256) is None:
            return
        for version in self._versions(self.key(sha256), markers=False):
            self.s3.put_object_retention(
                Bucket=self.bucket, Key=self.key(sha256), VersionId=version,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _utc(until)})

    def delete_refusal(self, sha256: str) -> str | None:
        """What the bucket says of this object: on legal hold, or retained until a date that
        has not passed by the gateway's own clock (its ``Date`` header)."""
        from email.utils import parsedate_to_datetime

        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return "on legal hold"
        until = head.get("ObjectLockRetainUntilDate")
        date = head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = parsedate_to_datetime(date).timestamp() if date else time.time()
        if until is not None and until.timestamp() > now:
            return f"retained (COMPLIANCE) until {until.isoformat()}"
        return None

    def abort_incomplete(self, older_than: float) -> list[str]:
        """Abort multipart uploads a crashed worker left, begun before ``older_than``."""
        listing = self.s3.list_multipart_uploads(Bucket=self.bucket,
                                                 Prefix=self.location.prefix + "/")
        aborted = []
        for upload in listing.get("Uploads", []):
            if upload["Initiated"].timestamp() < older_than:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                               UploadId=upload["UploadId"])
                aborted.append(upload["Key"])
        return aborted

    def set_legal_hold(self, sha256: str, on: bool) -> None:
        for version in self._versions(self.key(sha256), markers=False):
            self.s3.put_object_legal_hold(Bucket=self.bucket, Key=self.key(sha256),
                                          VersionId=version,
                                          LegalHold={"Status": "ON" if on else "OFF"})


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
