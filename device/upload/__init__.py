"""Docking: the camera empties itself into the evidence store (docs/STORE.md, FORMAT.md).

- ``uploader``: the :class:`~device.upload.uploader.Uploader`, one unit of work per ``step()``,
  on a thread of its own so the state machine never waits for the network;
- ``session``: what one stay in the dock knows and has done;
- ``link``: the pinned store key, the pinned TLS certificate, the connection;
- ``work``: what is left to upload, marked recordings first;
- ``records``: what the camera keeps about an upload (receipts, quarantine notes), and the
  receipt check that must pass before anything is deleted;
- ``backoff``: capped exponential backoff with jitter;
- ``settings``: settings the store pushes, checked, kept and applied.

The daemon's side (clock, settings and audit entries, on its own thread) is
``device/docking.py``.
"""
