"""The engines' fixtures (``s3_engine``, ``pg_engine``, ``pg_database``, ``bucket_name``) live in
:mod:`tests.engines`, a plugin of the whole suite, so the store's own tests run on them too."""

from tests.evidence_store.conftest import (  # noqa: F401 (fixtures used here)
    camera,
    recorded,
    store_backend,
)
