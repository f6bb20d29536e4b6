"""Evidence: the device identity and key, the signed segment manifest, and the verifier.

The on-disk format is documented in docs/FORMAT.md; :mod:`evidence.manifest` is its one
implementation.
"""
