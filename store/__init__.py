"""The evidence store: ``bodycam store``, where docked cameras upload their footage.

It verifies every segment against the uploading device's enrolled key and the recording's hash
chain, answers with a receipt signed by the store key, keeps what fails in quarantine, deletes
non-evidential footage after the retention period and exports recordings for court. The HTTP API
and the data directory are documented in docs/STORE.md.

Modules: :mod:`store.service` (the store as one object), :mod:`store.ingest` (uploads and their
verification), :mod:`store.auth` (device signatures, the operator token), :mod:`store.objects`
(content-addressed storage behind an interface), :mod:`store.staging` (uploads in progress),
:mod:`store.catalogue` (SQLite), :mod:`store.auditlog` (the store's hash-chained log),
:mod:`store.retention`, :mod:`store.export`, :mod:`store.http` (the ASGI app and the
in-process server), :mod:`store.workers` (``serve --workers N``), :mod:`store.locks` (locks
across workers),
:mod:`store.validate` and :mod:`store.errors` (what comes from the network and what goes back),
:mod:`store.config`, :mod:`store.clock`, :mod:`store.operator_client` and :mod:`store.cli`.
"""
