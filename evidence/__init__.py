"""The evidence contract: what a camera writes and anyone checks, standing alone.

The data directory's names (:mod:`evidence.layout`), the device identity and key, the signed
segment manifest, receipts and request signing, the evidence time format (:mod:`evidence.utc`),
the hash chain under the camera's and the store's audit logs (:mod:`evidence.hashlog`), and the
verifier. It imports nothing else of this project (no device, hal, sim or store) and no media
library, so the evidence store and any third-party tool depend on it alone
(tests/test_evidence_contract.py checks that). The format is documented in docs/FORMAT.md.
"""
