"""Hardware abstraction: the interfaces the firmware sees, and the Raspberry Pi backend.

``device/`` imports only this package's interfaces; a backend (``sim`` or the Pi's) builds a
:class:`hal.hardware.Hardware` bundle and hands it to the daemon.
"""
