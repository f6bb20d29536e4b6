"""The evidence store: ``bodycam store``, where docked cameras upload their footage.

It verifies every segment against the uploading device's enrolled key and the recording's hash
chain, answers with a receipt signed by the store key, keeps what fails in quarantine, deletes
non-evidential footage after the retention period and exports recordings for court. The HTTP API
and the data directory are documented in docs/STORE.md.

Modules: :mod:`store.service` (the store as one object), :mod:`store.objects` (content-addressed
storage behind an interface), :mod:`store.catalogue` (SQLite), :mod:`store.ingest` (upload and
verification), :mod:`store.auth` (device signatures and the operator token), :mod:`store.auditlog`
(the store's hash-chained log), :mod:`store.retention`, :mod:`store.export`, :mod:`store.http`
(the server) and :mod:`store.cli` (the ``bodycam store`` commands).
"""
