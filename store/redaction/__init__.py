"""Redacted copies of stored footage, for the public: faces blurred, audio silenced, and a
derivation manifest signed by the store that names the device-signed sources and every
operation (docs/STORE.md, "Redacted copies")."""

from __future__ import annotations


class RedactionError(ValueError):
    """A one-line reason why a redaction cannot be made or a redacted copy does not check."""
