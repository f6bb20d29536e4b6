"""HTTPS: the store serves TLS; a camera that pins the store's certificate uploads over it."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evidence.store_client import DeviceClient, StoreConnection, StoreHttpError
from store.http import StoreHTTPServer, tls_context
from tests.evidence_store.conftest import Camera, Running


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_upload_over_https_to_a_pinned_certificate(running: Running, enrolled: Camera,
                                                   tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "store")
    server = StoreHTTPServer(running.store, "127.0.0.1", 0, tls_context(cert, key))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        assert server.url.startswith("https://")
        pinned = ssl.create_default_context(cafile=str(cert))
        client = DeviceClient(StoreConnection(server.url, ssl_context=pinned),
                              enrolled.identity.private_key, enrolled.device_id,
                              clock=running.clock)
        assert client.upload_segment(enrolled.segments()[0])["state"] == "stored"

        impostor, _ = self_signed(tmp_path, "impostor")
        wrong = ssl.create_default_context(cafile=str(impostor))
        with pytest.raises(StoreHttpError, match="CERTIFICATE_VERIFY_FAILED"):
            StoreConnection(server.url, ssl_context=wrong).info()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
