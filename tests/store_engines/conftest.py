"""The engines' fixtures (``s3_engine``, ``pg_engine``, ``pg_database``, ``bucket_name``) live in
:mod:`tests.engines`, a plugin of the whole suite, so the store's own tests run on them too;
``engines`` here is a store's ``store.json`` keys for them."""

import pytest

from tests.evidence_store.conftest import (  # noqa: F401 (fixtures used here)
    camera,
    recorded,
    store_backend,
)


@pytest.fixture
def engines(s3_engine: dict[str, str], pg_database: str, objects_url: str,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """PostgreSQL (a fresh database) and S3 (a fresh prefix), credentials in the environment."""
    for name, value in s3_engine.items():
        monkeypatch.setenv(name, value)
    return {"catalogue": pg_database, "objects": objects_url}
