"""The catalogue on a real PostgreSQL: same schema, migrations, replay protection and write
locking across workers."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("psycopg")

from store.catalogue import SCHEMA_VERSION, Catalogue, device_lock
from store.catalogue_pg import PostgresCatalogue, to_postgres

pytestmark = pytest.mark.engines  # -m 'not engines' leaves these out


def test_the_schema_is_the_sqlite_one(pg_database, tmp_path) -> None:
    pg = PostgresCatalogue(pg_database)
    lite = Catalogue(tmp_path / "c.sqlite")
    pg_tables = {r["table_name"]: {c["column_name"] for c in pg.all(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
        r["table_name"])} for r in pg.all(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    lite_tables = {r["name"]: {c["name"] for c in lite.all(f"PRAGMA table_info({r['name']})")}
                   for r in lite.all("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name NOT LIKE 'sqlite_%'")}
    assert pg_tables == lite_tables
    assert pg.schema_version == SCHEMA_VERSION == lite.schema_version
    pg.close()
    again = PostgresCatalogue(pg_database)  # a second start migrates nothing twice
    assert again.schema_version == SCHEMA_VERSION
    again.close()


def test_a_nonce_is_used_once_across_workers(pg_database) -> None:
    workers = [PostgresCatalogue(pg_database) for _ in range(2)]
    assert workers[0].use_nonce("bwv-1", "n1", 100.0, 0.0)
    assert not workers[1].use_nonce("bwv-1", "n1", 101.0, 0.0)
    assert workers[1].use_nonce("bwv-2", "n1", 101.0, 0.0)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race(w: PostgresCatalogue) -> None:
        barrier.wait()
        results.append(w.use_nonce("bwv-1", "raced", 102.0, 0.0))

    threads = [threading.Thread(target=race, args=(workers[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    for w in workers:
        w.close()


def test_transactions_naming_one_lock_do_not_interleave(pg_database) -> None:
    """Read-modify-write from two workers at once under one lock name loses no update."""
    workers = [PostgresCatalogue(pg_database) for _ in range(2)]
    workers[0].set_meta("counter", "0")

    def bump(w: PostgresCatalogue) -> None:
        for _ in range(25):
            with w.tx(device_lock("bwv-1")) as db:
                value = int(db.execute("SELECT value FROM meta WHERE key = ?",
                                       ("counter",)).fetchone()["value"])
                db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(value + 1), "counter"))

    threads = [threading.Thread(target=bump, args=(w,)) for w in workers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert workers[1].get_meta("counter") == "100"
    for w in workers:
        w.close()


def _free(dsn: str, name: str) -> bool:
    """Whether another session could take the lock ``name`` now (and gives it back)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                           (name,)).fetchone()[0]
        if got:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
        return bool(got)


def test_a_transaction_locks_only_the_names_it_gives(pg_database) -> None:
    """One camera's transaction holds its device's lock and nothing else: another worker's
    transaction for another camera commits meanwhile (with one global lock it would wait for
    ever), and the lock is free again once the transaction ends."""
    a, b = PostgresCatalogue(pg_database), PostgresCatalogue(pg_database)
    done = threading.Event()

    def other_camera() -> None:
        with b.tx(device_lock("bwv-B")) as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("b", "committed"))
        with b.tx() as db:  # and one naming nothing
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("c", "committed"))
        done.set()

    with a.tx(device_lock("bwv-A"), device_lock("bwv-A2")) as db:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("a", "open"))
        assert not _free(pg_database, device_lock("bwv-A"))
        assert not _free(pg_database, device_lock("bwv-A2"))
        assert _free(pg_database, device_lock("bwv-B"))
        worker = threading.Thread(target=other_camera)
        worker.start()
        worker.join(30)  # bounded: a deadlock fails the test rather than hanging it
        assert done.is_set(), "another camera's transaction waited for this one"
        assert b.get_meta("b") == "committed" and b.get_meta("a") is None  # not yet visible
        with a.tx(device_lock("bwv-A")) as inner:  # nested on this thread: re-entrant
            inner.execute("UPDATE meta SET value = ? WHERE key = ?", ("nested", "a"))
    assert b.get_meta("a") == "nested"
    assert _free(pg_database, device_lock("bwv-A"))
    a.close()
    b.close()


def test_a_failed_transaction_leaves_nothing(pg_database) -> None:
    cat = PostgresCatalogue(pg_database)
    with pytest.raises(RuntimeError), cat.tx() as db:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("half", "done"))
        raise RuntimeError("crash mid-change")
    assert cat.get_meta("half") is None
    cat.close()


def test_bytes_and_numbers_round_trip(pg_database) -> None:
    cat = PostgresCatalogue(pg_database)
    blob = bytes(range(256)) * 4
    with cat.tx() as db:
        db.execute("INSERT INTO quarantine (device_id, kind, file, reason, manifest, "
                   "content_size, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   ("bwv-1", "segment", "a.mp4", "why", blob, 5 << 32, "2026-12-01T00:00:00Z"))
        db.execute("INSERT OR IGNORE INTO devices VALUES (?, ?, ?, ?, ?)",
                   ("bwv-1", "pem", "fp", "label", "utc"))
        db.execute("INSERT OR IGNORE INTO devices VALUES (?, ?, ?, ?, ?)",
                   ("bwv-1", "other", "fp", "label", "utc"))
    row = cat.one("SELECT * FROM quarantine WHERE device_id = ?1 AND (?2 IS NULL OR kind = ?2)",
                  "bwv-1", None)
    assert bytes(row["manifest"]) == blob and row["content_size"] == 5 << 32 and row["id"] == 1
    assert cat.one("SELECT public_key_pem FROM devices")["public_key_pem"] == "pem"
    cat.close()


def test_translation() -> None:
    assert to_postgres("SELECT ?, ?", (1, 2)) == ("SELECT %(p0)s, %(p1)s", {"p0": 1, "p1": 2})
    assert to_postgres("WHERE a = ?1 OR b = ?1 AND c = ?2", ("x", "y"))[0] == \
        "WHERE a = %(p0)s OR b = %(p0)s AND c = %(p1)s"
    assert to_postgres("INSERT OR IGNORE INTO t VALUES (?)", (1,))[0] == \
        "INSERT INTO t VALUES (%(p0)s) ON CONFLICT DO NOTHING"
    assert to_postgres("SELECT 5 % 2", ())[0] == "SELECT 5 %% 2"
    with pytest.raises(ValueError, match="no value"):
        to_postgres("SELECT ?, ?", (1,))


def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(ConnectionError, match=r"cannot connect") as info:
        PostgresCatalogue("postgresql://bodycam:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value)
