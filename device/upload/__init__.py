"""Docking: the camera empties itself into the evidence store (docs/STORE.md, FORMAT.md).

- ``uploader``: the :class:`~device.upload.uploader.Uploader`, one unit of work per ``step()``,
  on a thread of its own so the state machine never waits for the network;
- ``work``: what is left to upload, marked recordings first;
- ``records``: what the camera keeps about an upload (receipts, quarantine notes);
- ``backoff``: capped exponential backoff with jitter;
- ``settings``: settings the store pushes, checked, kept and applied.
"""
