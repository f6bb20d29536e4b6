"""The video pipeline, picamera2's shape: camera -> watermark -> encoder -> outputs.

The encoder comes from the hardware bundle (``hal/encoder.py``); its outputs are the preview
(``preview.py``), the pre-event buffer (``pre_event.py``) which opens into the storage guard
(``storage_guard.py``) in front of the segmented writer (``segmented.py``, ``segments.py``).
``pipeline.py`` runs the threads, ``recorder.py`` routes packets and in-band commands
(``commands.py``) to the outputs, ``reports.py`` is what the daemon hears back.
"""
