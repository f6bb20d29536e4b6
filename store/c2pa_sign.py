"""C2PA Content Credentials in exported MP4s: sign an export copy, sign a derived copy, read back.

The credentials ride inside the MP4 (a ``uuid`` box) with a BMFF hash binding
(``c2pa.hash.bmff.v3``): every box but the manifest's own, ``ftyp``, ``free``/``skip`` padding
and ``mfra`` is hashed, so one changed byte of media or metadata makes a reader report
``assertion.bmffHash.mismatch``. Non-fragmented (the export's ``+faststart`` MP4) and fragmented
MP4 (the camera's segments) are both signed the same way. Only copies made for export are
signed: a camera's segments stay byte for byte as the camera signed them.

- :func:`sign_original` the export's ``export.mp4``: action ``c2pa.created`` (digital capture,
  remuxed by the store without re-encoding) and an ``org.bodycam.evidence`` assertion naming
  every device-signed segment by SHA-256, so the credentials lead back to the cameras' own
  signatures;
- :func:`sign_derived` a copy made from a signed export, such as a redacted MP4, with
  :func:`credentials_for` the store: action ``c2pa.opened`` on the original, which it names
  as its ``parentOf`` ingredient, then the caller's actions (``c2pa.edited``, ...);
- :func:`read_credentials` reads with c2pa's own Reader, trusting only the given CA (the
  store's ``c2pa-ca.pem``), and returns the validation state and status codes.

No network: no timestamp authority, no OCSP, no remote manifests.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import c2pa

from evidence.fsutil import durable_rename
from store.credentials import CA_CERT, Credentials, CredentialsError, ensure_credentials
from store.errors import StoreError

if TYPE_CHECKING:
    from store.service import Store

MIME = "video/mp4"
GENERATOR = "bodycam evidence store"
EVIDENCE_LABEL = "org.bodycam.evidence"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
#: The label the derived manifest gives its original, to point ``c2pa.opened`` at it.
PARENT = "original"
TRUSTED, VALID, INVALID = "Trusted", "Valid", "Invalid"


class ContentCredentialsError(Exception):
    """Signing or reading C2PA credentials failed; the message is one line."""


@dataclass(frozen=True)
class ReadBack:
    """What c2pa's Reader says of a file: its state, the active manifest, the status codes."""

    state: str
    manifest: dict[str, Any]
    failures: list[str]
    successes: list[str] = field(default_factory=list)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def trusted(self) -> bool:
        """Intact and signed under the trust anchor given to the reader."""
        return self.state == TRUSTED and not self.failures

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [action for assertion in self.manifest.get("assertions", [])
                if str(assertion.get("label", "")).startswith("c2pa.actions")
                for action in assertion.get("data", {}).get("actions", [])]

    @property
    def ingredients(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("ingredients", []))

    def assertion(self, label: str) -> dict[str, Any] | None:
        for assertion in self.manifest.get("assertions", []):
            if assertion.get("label") == label:
                return assertion.get("data")
        return None

    def summary(self) -> dict[str, Any]:
        """The few facts a person checks, as JSON-ready data."""
        info = self.manifest.get("signature_info", {})
        return {"state": self.state, "failures": self.failures,
                "title": self.manifest.get("title"),
                "claim_generator": [g.get("name") for g in
                                    self.manifest.get("claim_generator_info", [])],
                "signed_by": {"issuer": info.get("issuer"),
                              "common_name": info.get("common_name"),
                              "alg": info.get("alg")},
                "actions": [a.get("action") for a in self.actions],
                "ingredients": [{"title": i.get("title"), "relationship": i.get("relationship"),
                                 "manifest": i.get("active_manifest")}
                                for i in self.ingredients]}


def _generator() -> dict[str, str]:
    try:
        return {"name": GENERATOR, "version": version("bodycam")}
    except PackageNotFoundError:
        return {"name": GENERATOR}


def _settings(trust_anchor_pem: bytes | None) -> dict[str, Any]:
    """Offline, and trusting only the given CA (none: c2pa says "untrusted" of every signer)."""
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchor_pem is not None:
        settings["verify"]["verify_trust"] = True
        settings["trust"] = {"trust_anchors": trust_anchor_pem.decode()}
    return settings


def _one_line(exc: BaseException) -> str:
    """c2pa's errors span lines ("failures:\\n  code: text"); a person gets one."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or repr(exc)


def credentials_for(store: Store) -> Credentials:
    """The store's C2PA credentials, made now if it has none (a store older than them)."""
    return ensure_credentials(store.directory, store.clock(), store.store_id)


def sign_export(store: Store, mp4: Path, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """Sign an export's MP4 in place (making the store's CA at its first export) and put the
    trust anchor beside it as ``c2pa-ca.pem``; return the report's ``c2pa`` entry."""
    try:
        credentials = credentials_for(store)
        devices = sorted({s["device_id"] for s in segments})
        evidence = {"store_id": store.store_id, "segments": [
            {k: s[k] for k in ("device_id", "recording_id", "segment_index", "file", "sha256",
                               "manifest_sha256", "start_utc", "end_utc")} for s in segments]}
        read = sign_original(
            mp4, credentials, title=mp4.name, when=store.now_utc(), evidence=evidence,
            description=f"recorded by body-worn camera {', '.join(devices)}; the "
                        "device-signed segments' H.264 packets remuxed in order without "
                        "re-encoding")
    except (CredentialsError, ContentCredentialsError) as exc:
        raise StoreError(500, f"C2PA credentials: {exc}") from None
    (mp4.parent / CA_CERT.name).write_bytes(credentials.trust_anchor_pem)
    return {"file": mp4.name, "manifest": read.manifest.get("label"),
            "trust_anchor": CA_CERT.name, "state": read.state,
            "signed_by": read.summary()["signed_by"]}


def sign_original(mp4: Path, credentials: Credentials, *, title: str, when: str,
                  evidence: dict[str, Any], description: str) -> ReadBack:
    """Sign ``mp4`` in place as an original export: created by capture, remuxed by the store.

    ``evidence`` (the store, the recordings and each device-signed segment's SHA-256) becomes
    the ``org.bodycam.evidence`` assertion. Returns the credentials as read back."""
    actions = [{"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE, "when": when,
                "softwareAgent": _generator(), "description": description}]
    manifest = {"claim_generator_info": [_generator()], "title": title, "format": MIME,
                "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}},
                               {"label": EVIDENCE_LABEL, "data": evidence}]}
    return _sign(mp4, mp4, credentials, manifest, None)


def sign_derived(mp4: Path, *, ingredient: Path, actions: list[dict[str, Any]],
                 credentials: Credentials, title: str | None = None,
                 out: Path | None = None) -> ReadBack:
    """Sign ``mp4`` (in place, or into ``out``) as made from the signed export ``ingredient``.

    The manifest names ``ingredient`` as its ``parentOf`` ingredient (its own credentials are
    carried along) and lists ``c2pa.opened`` on it, then ``actions``, for example
    ``[{"action": "c2pa.edited", "description": "faces blurred"}]``. An ingredient whose
    credentials do not verify under this store's CA is refused: a derived copy never vouches
    for footage the store did not sign or that was altered since."""
    if not isinstance(actions, list) or not actions or not all(
            isinstance(a, dict) and isinstance(a.get("action"), str) and a["action"]
            for a in actions):
        raise ContentCredentialsError("actions must be a non-empty list of objects, each with "
                                      "an \"action\" such as \"c2pa.edited\"")
    try:
        parent = read_credentials(ingredient, credentials.trust_anchor_pem)
    except ContentCredentialsError as exc:
        raise ContentCredentialsError(f"ingredient {exc}") from None
    if not parent.trusted:
        raise ContentCredentialsError(
            f"{ingredient.name}: its credentials do not verify under this store's CA "
            f"({parent.state}: {', '.join(parent.failures) or 'no failure code'}); not "
            "deriving from it")
    manifest = {"claim_generator_info": [_generator()], "title": title or mp4.name,
                "format": MIME,
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT]}},
                    *actions]}}]}
    parent_json = {"title": parent.manifest.get("title") or ingredient.name,
                   "relationship": "parentOf", "label": PARENT}
    return _sign(mp4, out or mp4, credentials, manifest, (ingredient, parent_json))


def _sign(source: Path, dest: Path, credentials: Credentials, manifest: dict[str, Any],
          ingredient: tuple[Path, dict[str, Any]] | None) -> ReadBack:
    """Sign ``source`` into a temporary beside ``dest``, read it back, fsync, rename: ``dest``
    is either the old file or the whole signed one, and only a signed file that verifies
    under the store's CA ever replaces it. (c2pa's own check after signing is off: it would
    hash the file a second time for what this read-back checks anyway.)"""
    settings = _settings(credentials.trust_anchor_pem)
    settings["verify"]["verify_after_sign"] = False
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".c2pa.tmp")
    tmp = Path(name)
    try:
        try:
            info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ED25519, credentials.chain_pem,
                                       credentials.signing_key_pem, None)
            with c2pa.Signer.from_info(info) as signer, \
                    c2pa.Context.from_dict(settings) as context, \
                    c2pa.Builder(manifest, context) as builder:
                if ingredient is not None:
                    with open(ingredient[0], "rb") as parent:
                        builder.add_ingredient(ingredient[1], MIME, parent)
                with open(source, "rb") as src, os.fdopen(fd, "w+b") as out:
                    fd = -1
                    builder.sign(signer, MIME, src, out)
                    out.flush()
                    os.fsync(out.fileno())
        except c2pa.C2paError as exc:
            raise ContentCredentialsError(f"{source.name}: cannot sign: {_one_line(exc)}") \
                from None
        except OSError as exc:
            raise ContentCredentialsError(f"{source.name}: cannot sign: {exc.strerror}") \
                from None
        read = read_credentials(tmp, credentials.trust_anchor_pem)
        if not read.trusted:
            raise ContentCredentialsError(
                f"{source.name}: signed, but the result does not verify under the store's CA "
                f"({read.state}: {', '.join(read.failures) or 'no failure code'})")
        durable_rename(tmp, dest)
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
    return read


def read_credentials(path: Path, trust_anchor_pem: bytes | None = None) -> ReadBack:
    """Read and validate ``path``'s Content Credentials with c2pa's Reader.

    With ``trust_anchor_pem`` (the store's ``c2pa-ca.pem``) a chain to that CA is
    ``Trusted``; without one the best state is ``Valid``, with the one failure
    ``signingCredential.untrusted``. A file without credentials, or not an MP4 at all, is a
    :class:`ContentCredentialsError` naming the file."""
    try:
        with c2pa.Context.from_dict(_settings(trust_anchor_pem)) as context, \
                open(path, "rb") as stream, c2pa.Reader(MIME, stream, None, context) as reader:
            store = json.loads(reader.json())
    except FileNotFoundError:
        raise ContentCredentialsError(f"{path}: no such file") from None
    except OSError as exc:
        raise ContentCredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    except c2pa.C2paError.ManifestNotFound:
        raise ContentCredentialsError(f"{path}: no C2PA Content Credentials in this file") \
            from None
    except c2pa.C2paError as exc:
        raise ContentCredentialsError(f"{path}: not readable as a C2PA-signed MP4: "
                                      f"{_one_line(exc)}") from None
    except ValueError as exc:  # c2pa's JSON: not expected to happen, but never a traceback
        raise ContentCredentialsError(f"{path}: c2pa's report is not JSON ({exc})") from None
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "")
    if not isinstance(active, dict):
        raise ContentCredentialsError(f"{path}: C2PA data without an active manifest")
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    return ReadBack(state=store.get("validation_state") or INVALID, manifest=active,
                    failures=_codes(results.get("failure")),
                    successes=_codes(results.get("success")), manifests=manifests)


def _codes(statuses: list[dict[str, Any]] | None) -> list[str]:
    return [str(s.get("code")) for s in statuses or []]
