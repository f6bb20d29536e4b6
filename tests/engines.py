"""The real engines of the store at a force's scale: Ceph's S3 gateway and PostgreSQL (a pytest
plugin of the whole suite, registered in tests/conftest.py).

CI starts both before `make test` (`.ci/run`, with scripts/ceph-rgw.sh and scripts/postgres.sh)
and passes their addresses in the environment. Where the variables are unset the fixtures start
throwaway engines themselves with the same scripts, and where the engine's programs are not
installed the tests that need it skip, saying which packages bring it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "in_process_store(why): the test changes the serving store's own code (a "
        "forged store, a shorter timeout), so the `running` store is served in the test's "
        "process on the engines too, not by worker processes")


def _env_from(script: str, directory: Path) -> dict[str, str]:
    done = subprocess.run(["bash", str(ROOT / "scripts" / script), "up", str(directory)],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"{script} up failed: {done.stderr.strip().splitlines()[-1:]}")
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def s3_engine(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The S3 endpoint and credentials of a Ceph RGW with Object Lock."""
    if os.environ.get("BODYCAM_S3_ENDPOINT"):
        yield {k: os.environ[k] for k in ("BODYCAM_S3_ENDPOINT", "BODYCAM_S3_ACCESS_KEY",
                                          "BODYCAM_S3_SECRET_KEY")}
        return
    if not (shutil.which("radosgw") and shutil.which("ceph-mon") and shutil.which("ceph-osd")):
        pytest.skip("Ceph's S3 gateway is not installed (apt-get install ceph-mon ceph-osd "
                    "radosgw ceph-common), and BODYCAM_S3_ENDPOINT is not set")
    directory = tmp_path_factory.mktemp("ceph")
    env = _env_from("ceph-rgw.sh", directory)
    try:
        yield env
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "ceph-rgw.sh"), "down", str(directory)],
                       capture_output=True, timeout=60, check=False)


@pytest.fixture
def bucket_name() -> str:
    return "bodycam-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def suite_bucket() -> str:
    """One bucket for the whole run; each store gets its own prefix in it (``objects_url``).
    Locked objects make a bucket undeletable, and the gateway allows a user 1000 buckets."""
    return "bodycam-suite-" + uuid.uuid4().hex[:12]


@pytest.fixture
def objects_url(suite_bucket: str) -> str:
    """``s3://BUCKET/PREFIX`` for one test's store: a fresh prefix in the suite's bucket."""
    return f"s3://{suite_bucket}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[str]:
    """The DSN of a PostgreSQL server."""
    if os.environ.get("BODYCAM_PG_DSN"):
        yield os.environ["BODYCAM_PG_DSN"]
        return
    if not (shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql), and "
                    "BODYCAM_PG_DSN is not set")
    # Outside pytest's own 0700 folder: the cluster belongs to an unprivileged user under root.
    directory = Path(tempfile.mkdtemp(prefix="bodycam-pg-"))
    directory.chmod(0o755)
    env = _env_from("postgres.sh", directory / "cluster")
    try:
        yield env["BODYCAM_PG_DSN"]
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "down",
                        str(directory / "cluster")], capture_output=True, timeout=60, check=False)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg_database(pg_engine) -> Iterator[str]:
    """A fresh, empty database on the server, dropped afterwards."""
    import psycopg

    name = "bodycam_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_engine, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = pg_engine.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_engine, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Worker processes serving a store on the engines (the embedded case serves in-process).
WORKERS = 2


@pytest.fixture(scope="module")
def worker_pools(tmp_path_factory: pytest.TempPathFactory,
                 s3_engine: dict[str, str]) -> Iterator[Any]:
    """One pool of :data:`WORKERS` worker processes (:class:`tests.worker_pool.Pools`) for a
    module's tests on the engines, here so every module that serves a store (``running``) has
    it; each test's fresh store is switched in (``Running.start``), so no test pays for
    spawning them."""
    from store.service import init_store
    from tests.worker_pool import Pools

    home = tmp_path_factory.mktemp("pool") / "home"
    init_store(home)
    pools = Pools(home, WORKERS, {**os.environ, **s3_engine})
    yield pools
    pools.stop()
