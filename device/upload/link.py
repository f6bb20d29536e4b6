"""The camera's link to its store: the pinned store key, the pinned TLS certificate, a connection.

Everything here comes from the ``[upload]`` configuration and the data directory; a problem is
the configuration's (a missing key file, an unusable certificate, a bad URL), reported as one
:class:`LinkError` line rather than retried.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.config import UploadSection
from evidence.identity import DeviceIdentity, IdentityError, load_public_key
from evidence.receipt import store_id_for
from evidence.store_client import DeviceClient, StoreConnection


class LinkError(Exception):
    """The store cannot be reached as configured; the message says which key and why."""


def config_path(data_dir: Path, value: str) -> Path:
    """A path from ``[upload]``: relative ones are in the data directory."""
    return data_dir / Path(value).expanduser()


def open_link(config: UploadSection, data_dir: Path, identity: DeviceIdentity,
              wall: Callable[[], float]) -> tuple[DeviceClient, Ed25519PublicKey]:
    """A client signing as ``identity`` (with ``wall`` time) for the store of the pinned key,
    and that key: requests are bound to the store the camera trusts, not to one that answers."""
    try:
        store_key = load_public_key(config_path(data_dir, config.store_public_key))
    except IdentityError as exc:
        raise LinkError(f"upload.store_public_key {exc}") from None
    context = None
    if config.tls_cert:
        cert = config_path(data_dir, config.tls_cert)
        try:
            context = ssl.create_default_context(cafile=str(cert))
        except (OSError, ssl.SSLError) as exc:
            raise LinkError(f"upload.tls_cert {cert}: not a usable certificate ({exc})") from None
    try:
        connection = StoreConnection(config.store_url, config.timeout_s, context)
    except ValueError as exc:
        raise LinkError(f"upload.store_url: {exc}") from None
    client = DeviceClient(connection, identity.private_key, identity.device_id, clock=wall,
                          chunk_bytes=config.chunk_kb * 1024, store_id=store_id_for(store_key))
    return client, store_key
