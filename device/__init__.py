"""The body camera's firmware logic: modes, gestures, indicators, pipeline and evidence.

Nothing here imports a hardware backend: the daemon is handed a :class:`hal.hardware.Hardware`.
"""
