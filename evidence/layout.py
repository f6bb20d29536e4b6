"""Every name in a camera's data directory, in one place (docs/FORMAT.md, docs/DOCKING.md).

The camera writes these names, the verifier and the store read them, and a third-party tool
finds footage by them; so they are defined here once and every user takes them from
:class:`Layout`::

    DATA_DIR/
      device.pub.pem  identity.json  keys/device.key  retired-keys/  store.pub.pem
      force.pub.pem
      recordings/R000042-1a2b3c/R000042-1a2b3c-S0003.mp4      a published segment
                                              ...-S0003.mp4.json      its manifest
                                              ...-S0003.mp4.json.sig  the manifest's signature
                                              ...-S0003.mp4.part      an open segment
                                              ...-S0003.mp4.part.json its pending record
                                              ...-S0003.mp4.part.sigs its fragment log
                                              ...-S0003.mp4.receipt.json / .receipt.sig
                                              ...-S0003.mp4.receipt.tlog.json
                                              ...-S0003.mp4.quarantined.json
      audit/audit.jsonl  audit/receipts/SHA256.receipt.json (.sig)
      state/recording_counter  state/store-settings.json  control.sock

A recording id is a persistent counter (never reused; not the wall clock, which may be unset),
so names sort in recording order, and three random bytes keep ids unique if a camera is wiped
and provisioned again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar


class Layout:
    """The data directory's paths (relative to it) and the suffixes a segment's files add to
    its MP4's name. Names only: nothing here touches the disk."""

    # the device's identity
    PRIVATE_KEY: ClassVar[Path] = Path("keys") / "device.key"
    PUBLIC_KEY: ClassVar[Path] = Path("device.pub.pem")
    IDENTITY: ClassVar[Path] = Path("identity.json")
    RETIRED_KEYS: ClassVar[Path] = Path("retired-keys")
    #: the store key a camera pins (the default of ``upload.store_public_key``)
    STORE_KEY: ClassVar[str] = "store.pub.pem"
    #: the force's RSA public key segments are encrypted to (the default of
    #: ``encryption.force_public_key``), pinned at provisioning like the store key
    FORCE_KEY: ClassVar[str] = "force.pub.pem"

    # footage
    RECORDINGS: ClassVar[Path] = Path("recordings")
    #: A recording id, as a folder name or the start of a segment's file name.
    RECORDING_ID: ClassVar[re.Pattern[str]] = re.compile(r"R\d{6,}-[0-9a-f]{6}")
    #: A segment's index in its file name: ``R000042-1a2b3c-S0003.mp4``.
    SEGMENT_INDEX: ClassVar[re.Pattern[str]] = re.compile(r"-S(\d{4,})\.mp4$")
    MP4: ClassVar[str] = ".mp4"
    #: an open segment's fragments so far
    PART: ClassVar[str] = ".part"
    #: an open segment's signed pending record
    PENDING: ClassVar[str] = ".part.json"
    #: an open segment's append-only fragment log
    FRAGMENT_LOG: ClassVar[str] = ".part.sigs"
    MANIFEST: ClassVar[str] = ".json"
    MANIFEST_SIGNATURE: ClassVar[str] = ".json.sig"
    RECEIPT: ClassVar[str] = ".receipt.json"
    RECEIPT_SIGNATURE: ClassVar[str] = ".receipt.sig"
    QUARANTINED: ClassVar[str] = ".quarantined.json"
    #: the store's transparency-log inclusion proof for the receipt (leaf, checkpoint, proof)
    TLOG_PROOF: ClassVar[str] = ".receipt.tlog.json"

    # the audit log and the store's receipts for its snapshots
    AUDIT_LOG: ClassVar[Path] = Path("audit") / "audit.jsonl"
    AUDIT_RECEIPTS: ClassVar[Path] = Path("audit") / "receipts"

    # counters and state
    COUNTER: ClassVar[Path] = Path("state") / "recording_counter"
    STORE_SETTINGS: ClassVar[Path] = Path("state") / "store-settings.json"
    #: who wears the camera, as the store last assigned it at the dock (device/assignment.py)
    ASSIGNMENT: ClassVar[Path] = Path("state") / "assignment.json"
    #: the running daemon's control socket
    CONTROL_SOCKET: ClassVar[str] = "control.sock"

    @classmethod
    def segment_name(cls, recording_id: str, index: int) -> str:
        return f"{recording_id}-S{index:04d}{cls.MP4}"

    @classmethod
    def recording_number(cls, recording_id: object) -> int | None:
        """The counter part of a recording id (``R000042-1a2b3c`` -> 42), or None if none."""
        if not isinstance(recording_id, str):
            return None
        match = cls.RECORDING_ID.match(recording_id)
        return int(match.group(0)[1:].split("-")[0]) if match else None

    @staticmethod
    def beside(mp4: Path, suffix: str) -> Path:
        """The file ``suffix`` names next to segment ``mp4`` (``NAME.mp4`` + ``suffix``)."""
        return mp4.with_name(mp4.name + suffix)

    @classmethod
    def part(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.PART)

    @classmethod
    def pending(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.PENDING)

    @classmethod
    def fragment_log(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.FRAGMENT_LOG)

    @classmethod
    def manifest(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.MANIFEST)

    @classmethod
    def manifest_signature(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.MANIFEST_SIGNATURE)

    @classmethod
    def receipt(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.RECEIPT)

    @classmethod
    def receipt_signature(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.RECEIPT_SIGNATURE)

    @classmethod
    def tlog_proof(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.TLOG_PROOF)

    @classmethod
    def quarantined(cls, mp4: Path) -> Path:
        return cls.beside(mp4, cls.QUARANTINED)

    @classmethod
    def segment_files(cls) -> tuple[str, ...]:
        """The endings of the files a segment leaves in its recording's folder."""
        return (cls.MP4, cls.MP4 + cls.MANIFEST, cls.MP4 + cls.MANIFEST_SIGNATURE,
                cls.MP4 + cls.PART)
