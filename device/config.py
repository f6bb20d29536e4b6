"""Configuration: every timing, pattern and size the firmware uses, with the reference's defaults.

A TOML file sets any subset of the keys below, by section (``[camera] width = 1920``). An unknown
key, a wrong type or an out-of-range value is a :class:`ConfigError` naming the file, section and
key, and what would be right. ``bodycam config`` prints every key with its default and meaning
(a commented TOML file that loads back as the defaults); ``bodycam config --check FILE``
validates a file. The README's configuration section points there; there is no separate
reference page. Backends' sections (``[pins]`` of the Pi, ``[simulator]``) are not defined
here: each installed backend plug-in gives its section's schema (``hal/backend.py``), checked
by the same rules.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evidence.crypt import CryptError, force_key_from_der
from evidence.layout import Layout
from evidence.messages import plain, show
from hal.backend import Backend, SectionError, backends, opt
from hal.indicators import COLOURS
from hal.serial_ports import parse_port_spec

Pattern = tuple[tuple[float, float], ...]


def beeps(count: int, hz: float = 2000.0, on: float = 0.08, off: float = 0.08) -> Pattern:
    """``count`` short beeps: the reference's warning patterns."""
    steps: list[tuple[float, float]] = []
    for i in range(count):
        steps.append((hz, on))
        if i < count - 1:
            steps.append((0.0, off))
    return tuple(steps)


#: Trigger names: identifiers, as the serial console and the control socket name them.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
CODEC = re.compile(r"[A-Za-z0-9_]{1,64}")
MAX_NAMES = 64
MAX_STEPS = 32
MAX_STRING = 4096
#: A configuration file larger than this is not one (``--check /dev/zero`` must not hang).
MAX_FILE = 1 << 20


class ConfigError(ValueError):
    """A configuration value is wrong; the message names where and why, in one line."""


@dataclass(frozen=True)
class DeviceSection:
    model: str = opt("BWV-OPEN-1", "Device model, burned into every frame and manifest.",
                     text="label")
    serial: str = opt("SIM00001", "Device serial number, burned into every frame and manifest.",
                      text="label")
    create_key_on_first_start: bool = opt(
        True, "Make the device key at the first start of an empty data directory (never when "
        "either half of a key is there). A fielded camera sets this false: it is provisioned "
        "once ('bodycam provision') and without its key faults rather than record.")


@dataclass(frozen=True)
class CameraSection:
    width: int = opt(1280, "Frame width in pixels.", 16, 7680)
    height: int = opt(720, "Frame height in pixels.", 16, 4320)
    fps: int = opt(30, "Frames per second.", 1, 120)


@dataclass(frozen=True)
class EncoderSection:
    codec: str = opt("libx264", "FFmpeg H.264 encoder (libx264; h264_v4l2m2m on a Pi 4).",
                     text="codec")
    preset: str = opt("veryfast", "libx264 speed preset.",
                      choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium"))
    crf: int = opt(23, "libx264 constant rate factor (quality) when bitrate_kbps is 0.", 0, 51)
    bitrate_kbps: int = opt(0, "Target bitrate in kbit/s; 0 means constant quality (crf).",
                            0, 100_000)
    keyframe_interval_s: float = opt(1.0, "Seconds between keyframes: the unit of pre-event "
                                     "eviction, of segment cuts and of power-loss exposure.",
                                     0.1, 10.0)
    adapt: bool = opt(True, "Keep real time under load: step to a faster preset (libx264) or a "
                      "lower bitrate (a hardware encoder) before a frame is lost, and back "
                      "when the load goes; each change at a keyframe.")
    adapt_floor: str = opt("ultrafast", "The fastest libx264 preset the watch may step to: "
                           "the least compression it may trade for real time.",
                           choices=("ultrafast", "superfast", "veryfast", "faster", "fast",
                                    "medium"))
    adapt_min_bitrate_kbps: int = opt(1500, "The lowest bitrate the watch may step a hardware "
                                      "encoder to, kbit/s.", 100, 100_000)
    adapt_preview_min_fps: float = opt(2.0, "With a hardware encoder each of the watch's steps "
                                       "also halves the rate of frames handed to the preview "
                                       "(its scaling and JPEG work), down to this many a "
                                       "second.", 0.5, 60.0)
    adapt_high: float = opt(0.8, "Real time is at risk when the encoder thread's work per frame "
                            "takes more than this share of the frame interval.", 0.1, 2.0)
    adapt_low: float = opt(0.45, "The load is gone when that work takes less than this share "
                           "of the frame interval (and the frame queue is empty).", 0.05, 1.0)
    adapt_queue: int = opt(3, "Real time is at risk when this many frames wait in the frame "
                           "queue (the real clock only).", 1, 64)
    adapt_risk_s: float = opt(0.25, "How long real time must be at risk before a step to a "
                              "faster setting.", 0.0, 10.0)
    adapt_calm_s: float = opt(10.0, "How long the load must be gone before a step back "
                              "(doubled after a step back that had to be undone, up to 8 "
                              "times).", 1.0, 600.0)


#: The sample rates AAC-LC defines (ISO/IEC 14496-3, its sampling-frequency index).
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


@dataclass(frozen=True)
class AudioSection:
    """Sound, recorded with every recording when the hardware has a microphone."""

    enabled: bool = opt(True, "Record sound with the picture (when the camera has a "
                        "microphone).")
    codec: str = opt("aac", "Audio codec of the recordings' second track (AAC-LC).",
                     choices=("aac",))
    rate: int = opt(48000, "Sample rate, Hz (one AAC-LC defines: 8000 to 96000).", 8000, 96000)
    channels: int = opt(1, "Channels: 1 (mono) or 2.", 1, 2)
    bitrate_kbps: int = opt(64, "AAC bitrate, kbit/s.", 16, 320)
    device: str = opt("default", "Capture device of a board's microphone (on the Pi, an ALSA "
                      "name: default, hw:1,0, plughw:CARD=Device); the simulator ignores it.")
    mute_allowed: bool = opt(True, "The FUNCTION hold may mute the microphone (digital "
                             "silence, listed in each manifest); false: the hold is refused "
                             "and audited.")


@dataclass(frozen=True)
class RecordingSection:
    pre_event_s: float = opt(30.0, "Pre-event buffer: seconds kept before a record press.",
                             0.0, 120.0)
    pre_event_max_mb: float = opt(256.0, "Upper bound on the pre-event buffer's memory, MiB.",
                                  1.0, 4096.0)
    segment_s: float = opt(60.0, "Length of one segment file of a recording, seconds.",
                           2.0, 4 * 3600.0)
    fsync_interval_s: float = opt(1.0, "Longest time written footage waits before fsync.",
                                  0.05, 10.0)
    pre_event_audio: bool = opt(False, "Keep sound in the pre-event buffer; false: the "
                                "pre-event part of a recording is silent (its manifest says "
                                "where sound begins).")


@dataclass(frozen=True)
class GestureSection:
    debounce_s: float = opt(0.03, "Edges closer together than this are contact bounce.", 0.0, 0.5)
    double_press_window_s: float = opt(0.6, "Longest gap between the two presses of a double.",
                                       0.1, 2.0)
    hold_s: float = opt(3.0, "How long a press must last to be a hold (stop, power off, "
                        "mute, stealth).", 0.5, 10.0)
    late_s: float = opt(0.3, "The most a lone press or a hold is decided after it falls due "
                        "while edges reach the recogniser late (it waits as late as they have "
                        "lately come, not at all while they come on time).", 0.0, 1.0)
    confirm_stop: bool = opt(False, "A stop (record hold) must be confirmed by a press of "
                             "record within confirm_window_s.")
    confirm_window_s: float = opt(5.0, "Time to confirm a stop when confirm_stop is on.",
                                  1.0, 30.0)
    program_hold: str = opt("stealth", "What holding the program button toggles.",
                            choices=("stealth", "standby"))


@dataclass(frozen=True)
class IndicatorSection:
    blink_on_s: float = opt(0.5, "LED blink: time lit.", 0.05, 5.0)
    blink_off_s: float = opt(0.5, "LED blink: time dark.", 0.05, 5.0)
    reminder_interval_s: float = opt(120.0, "While recording, start tones and vibration repeat "
                                     "this often (a force may set it shorter).", 5.0, 3600.0)
    boot_tones: Pattern = opt(((660.0, 0.15), (880.0, 0.25)),
                              "Two rising tones when boot is done: [[hz, seconds], ...].")
    start_tones: Pattern = opt(((880.0, 0.12), (0.0, 0.08), (880.0, 0.12)),
                               "Two tones at recording start and at every reminder.")
    start_vibration: Pattern = opt(((0.2, 0.15), (0.2, 0.0)),
                                   "Two vibrations at start and reminder: [[on_s, off_s], ...].")
    stop_tones: Pattern = opt(((440.0, 1.0),), "One long tone when a recording stops.")
    confirm_tones: Pattern = opt(((660.0, 0.1), (0.0, 0.1), (440.0, 0.1)),
                                 "Prompt to confirm a stop (when confirm_stop is on).")
    mute_colour: str = opt("blue", "Muted: the LED blinks this colour in its dark phase.",
                           choices=tuple(COLOURS))
    docked_colour: str = opt("amber", "Docked (charging and uploading): solid LED colour.",
                             choices=tuple(COLOURS))
    low_battery_tones: Pattern = opt(beeps(4), "Low battery: four quick beeps...")
    low_battery_interval_s: float = opt(20.0, "...every this many seconds.", 1.0, 3600.0)
    storage_full_tones: Pattern = opt(beeps(3), "Storage full: three beeps.")
    error_tones: Pattern = opt(beeps(5), "Clock not set or other error: five quick beeps...")
    error_interval_s: float = opt(20.0, "...every this many seconds.", 1.0, 3600.0)
    standby_vibration: Pattern = opt(((0.4, 0.0),), "Standby reminder vibration...")
    standby_reminder_s: float = opt(900.0, "...every this many seconds (15 min).", 10.0, 86400.0)


@dataclass(frozen=True)
class PowerSection:
    low_battery_pct: float = opt(10.0, "Below this the low-battery warning sounds.", 0.0, 100.0)
    critical_battery_pct: float = opt(3.0, "Below this a recording is finalised and signed and "
                                      "the camera powers off.", 0.0, 100.0)
    poll_s: float = opt(10.0, "How often battery and storage are read.", 0.5, 600.0)


@dataclass(frozen=True)
class AuditSection:
    checkpoint_interval_s: float = opt(300.0, "A signed checkpoint is appended this often (and "
                                       "at shutdown).", 1.0, 86400.0)


@dataclass(frozen=True)
class TriggerSection:
    names: tuple[str, ...] = opt(("holster", "taser", "lightbar", "peer", "gunshot"),
                                 "Auto-activation inputs: each starts a recording from "
                                 "buffering or standby, with its name as the reason.")


@dataclass(frozen=True)
class LocationSection:
    """When the GNSS receiver is asked for a fix (docs/FORMAT.md, "Location")."""

    recording_interval_s: float = opt(10.0, "While recording a fix is taken this often and "
                                      "goes into the segment's manifest.", 1.0, 3600.0)
    buffering_interval_s: float = opt(900.0, "While buffering a fix is taken this often (15 "
                                      "min; audited on first fix, loss and regain). None in "
                                      "standby or docked: the receiver is off.", 10.0, 86400.0)
    max_age_s: float = opt(5.0, "A reading older than this counts as no fix.", 0.5, 600.0)
    watermark: bool = opt(False, "Burn the last position into every frame's watermark "
                          "(off: only the manifest carries it).")


@dataclass(frozen=True)
class StorageSection:
    data_dir: str = opt("bodycam-data", "Where footage, keys and the control socket live.")
    low_mb: float = opt(1024.0, "Free space below which the storage-low warning shows, MiB.",
                        0.0, 1e7)
    reserve_mb: float = opt(64.0, "Free space kept in reserve: below it the card counts as full "
                            "and a recording is finalised, MiB.", 0.0, 1e6)


@dataclass(frozen=True)
class UploadSection:
    """Docking: where footage goes and how (docs/STORE.md, "For the camera-side uploader")."""

    store_url: str = opt("", "Evidence store, http://HOST:PORT or https://HOST:PORT; empty: "
                         "no uploads (the dock only charges).")
    store_public_key: str = opt(Layout.STORE_KEY, "The store's public key (its store.pub.pem), "
                                "pinned to check receipts; relative to the data directory.")
    tls_cert: str = opt("", "For an https store: its certificate (PEM), pinned instead of the "
                        "system's CAs; relative to the data directory. Empty: system CAs.")
    chunk_kb: int = opt(1024, "Bytes per upload request, KiB (never more than the store "
                        "accepts).", 4, 262144)
    timeout_s: float = opt(30.0, "A store request that gets no answer for this long fails "
                           "(and is retried).", 1.0, 600.0)
    backoff_base_s: float = opt(2.0, "First retry delay after a failed request; it doubles "
                                "with each failure...", 0.01, 3600.0)
    backoff_cap_s: float = opt(300.0, "...up to this; each delay is jittered between half "
                               "and all of it.", 0.01, 86400.0)
    clock_tolerance_s: float = opt(1.0, "On dock the clock is set from the store when it is "
                                   "off by more than this, or not set at all.", 0.0, 3600.0)
    store_settings: bool = opt(True, "Apply the settings the store pushes on dock (each "
                               "change audited); false: ignore them.")


@dataclass(frozen=True)
class SerialSection:
    """The serial console (docs/SERIAL.md): the test rig, a vehicle controller or a peer camera
    drive the camera through it."""

    port: str = opt("off", "Serial console: a device or pyserial URL (/dev/serial0 for the "
                    "Pi's UART on header pins 8/10, /dev/ttyGS0 for a USB gadget, "
                    "rfc2217://host:port), 'pty' (a pseudo-terminal, its path logged), "
                    "'tcp:PORT' or 'tcp:HOST:PORT' (a TCP server), or 'off'.")
    baudrate: int = opt(115200, "Serial console speed, for a real serial port.", 300, 4_000_000)


@dataclass(frozen=True)
class EncryptionSection:
    """Encryption at rest (docs/FORMAT.md, "Encryption at rest")."""

    enabled: bool = opt(True, "Encrypt every segment (AES-256-CTR, a fresh key per segment "
                        "wrapped with RSA-OAEP to the force key) so a lost card gives away no "
                        "footage; a camera without a usable force key faults at boot. False is "
                        "a development setting only: footage lies on the card in the clear, "
                        "and status and the panel say 'encryption off (development setting)'.")
    force_public_key: str = opt(Layout.FORCE_KEY, "The force's RSA public key (PEM) that "
                                "segment keys are wrapped to, pinned at provisioning "
                                "('bodycam provision --force-key'); relative to the data "
                                "directory.")
    force_key: str = opt("", "A force key as base64 DER (SubjectPublicKeyInfo): set by the "
                         "store's signed settings to rotate it (docs/STORE.md); when set it "
                         "takes the place of force_public_key from the next segment on.")


#: The firmware's own sections, in the order ``bodycam config`` prints them. The installed
#: backends' sections come between [triggers] and [upload].
_FIRMWARE_HEAD: tuple[tuple[str, type], ...] = (
    ("device", DeviceSection), ("camera", CameraSection), ("encoder", EncoderSection),
    ("audio", AudioSection), ("recording", RecordingSection), ("gestures", GestureSection),
    ("indicators", IndicatorSection), ("storage", StorageSection), ("power", PowerSection),
    ("audit", AuditSection), ("triggers", TriggerSection), ("location", LocationSection))
_FIRMWARE_TAIL: tuple[tuple[str, type], ...] = (
    ("upload", UploadSection), ("serial", SerialSection), ("encryption", EncryptionSection))


def _backend_sections() -> dict[str, Backend]:
    """Each installed backend's section, by the backend that reads it. By section name, last
    first: the order this file has always had ([simulator], then [pins]). A section two
    backends share, or one the firmware has, is read by the first only."""
    taken = {name for name, _ in _FIRMWARE_HEAD + _FIRMWARE_TAIL}
    found: dict[str, Backend] = {}
    for backend in backends().values():
        if backend.section and backend.schema and backend.section not in taken | found.keys():
            found[backend.section] = backend
    return dict(sorted(found.items(), reverse=True))


#: Which backend reads, and checks as a whole, which section.
_BACKEND_SECTIONS = _backend_sections()


def _replace(self: Any, source: str = "override", **sections: dict[str, Any]) -> Any:
    """A copy with keys changed, validated like a file: ``replace(camera={"fps": 15})``.
    ``source`` names where the changes came from in an error."""
    merged: dict[str, Any] = {}
    for name, values in sections.items():
        current = getattr(self, name, None) if name in _SECTIONS else None
        # Anything but a table over a known section is left for _build to name.
        merged[name] = ({**_section_dict(current), **values}
                        if current is not None and isinstance(values, dict) else values)
    return _build(merged, source, base=self)


#: Every section, the firmware's and the installed backends', each a frozen dataclass of
#: :func:`opt` keys: ``Config().camera.fps``, ``Config().pins.record``.
Config: Any = dataclasses.make_dataclass(
    "Config",
    [(name, schema, field(default_factory=schema))
     for name, schema in (*_FIRMWARE_HEAD,
                          *((name, b.schema) for name, b in _BACKEND_SECTIONS.items()),
                          *_FIRMWARE_TAIL)],
    namespace={"replace": _replace, "__doc__": "The whole configuration, by section."},
    frozen=True)
Config.__module__ = __name__


_SECTIONS = frozenset(f.name for f in dataclasses.fields(Config))


def _section_dict(section: object) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}  # type: ignore[arg-type]


def _check(where: str, f: dataclasses.Field[Any], value: Any) -> Any:
    meta, default = f.metadata, f.default
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {show(value, True)}")
        return value
    if isinstance(default, int | float):
        return _number(where, default, value, meta["lo"], meta["hi"])
    if isinstance(default, str):
        return _string(where, f, value)
    if isinstance(default, tuple) and default and isinstance(default[0], str):
        if not isinstance(value, list | tuple) or len(value) > MAX_NAMES or not all(
                isinstance(v, str) and NAME.fullmatch(v) for v in value):
            raise ConfigError(f"{where}: expected a list of at most {MAX_NAMES} names (letters, "
                              f"digits, _; at most 32 characters), got {show(value, True)}")
        if len(set(value)) < len(value):
            twice = next(v for v in value if value.count(v) > 1)
            raise ConfigError(f"{where}: {show(twice, True)} is listed twice")
        return tuple(value)
    if isinstance(default, tuple):
        return _pattern(where, f.name, value)
    raise ConfigError(f"{where}: unsupported setting")  # pragma: no cover


def _number(where: str, default: float, value: Any, lo: float, hi: float) -> float:
    """A finite number in [lo, hi]; a whole one (an integer, not 2.0) where the default is."""
    whole = isinstance(default, int)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {show(value, True)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number from {lo:g} to {hi:g}, "
                          f"got {show(value, True)}")
    if whole and not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {show(value, True)}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: {show(value, True)} is out of range {lo:g} to {hi:g}")
    return type(default)(value)


def _string(where: str, f: dataclasses.Field[Any], value: Any) -> str:
    # An empty string is accepted only where it is the default ("not configured").
    if not isinstance(value, str) or (not value and f.default):
        raise ConfigError(f"{where}: expected a non-empty string, got {show(value, True)}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{where}: {show(value, True)} is not one of {', '.join(choices)}")
    bad = next((i for i, ch in enumerate(value) if ch < " " or ch == "\x7f"), None)
    if bad is not None:
        raise ConfigError(f"{where}: contains control character 0x{ord(value[bad]):02x} at "
                          f"offset {bad}")
    text = f.metadata.get("text")
    if text == "label" and (len(value) > 64 or not value.isascii()):
        raise ConfigError(f"{where}: expected at most 64 printable ASCII characters (it is "
                          f"burned into every frame), got {show(value, True)}")
    if text == "codec" and not CODEC.fullmatch(value):
        raise ConfigError(f"{where}: expected an FFmpeg encoder name (letters, digits, _), "
                          f"got {show(value, True)}")
    if len(value) > MAX_STRING:
        raise ConfigError(f"{where}: longer than {MAX_STRING} characters")
    return value


#: Tone patterns are [[hz, seconds], ...]; vibration patterns [[on_s, off_s], ...].
_TONE_STEP = ((0.0, 20000.0), (0.0, 10.0))
_VIBRATION_STEP = ((0.0, 10.0), (0.0, 10.0))


def _pattern(where: str, name: str, value: Any) -> Pattern:
    tones = name.endswith("_tones")
    (lo_a, hi_a), (lo_b, hi_b) = _TONE_STEP if tones else _VIBRATION_STEP
    first, second = ("hz", "seconds") if tones else ("on_s", "off_s")
    shape = f"[[{first}, {second}], ...]"
    ok = isinstance(value, list | tuple) and 0 < len(value) <= MAX_STEPS and all(
        isinstance(p, list | tuple) and len(p) == 2 and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in p) for p in value)
    if not ok:
        raise ConfigError(f"{where}: expected a list of 1 to {MAX_STEPS} [number, number] pairs "
                          f"{shape}, got {show(value, True)}")
    for a, b in value:
        if not (math.isfinite(a) and math.isfinite(b) and lo_a <= a <= hi_a
                and lo_b <= b <= hi_b):
            raise ConfigError(f"{where}: step {show([a, b], True)} is out of range ({first} "
                              f"{lo_a:g} to {hi_a:g}, {second} {lo_b:g} to {hi_b:g})")
    return tuple((float(a), float(b)) for a, b in value)


def pattern_seconds(pattern: Pattern, tones: bool) -> float:
    """How long a pattern plays: the sum of its steps' durations."""
    return sum(b if tones else a + b for a, b in pattern)


def _build(data: dict[str, Any], source: str, base: Config | None = None) -> Config:
    base = base or Config()
    sections: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(Config)}
    for name, values in data.items():
        if name not in known:
            raise ConfigError(f"{source}: unknown section [{name}] "
                              f"(known: {', '.join(known)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{name}] must be a table of keys")
        current = getattr(base, name)
        fields = {f.name: f for f in dataclasses.fields(current)}
        changes = {}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"{source}: unknown key {name}.{key} "
                                  f"(known in [{name}]: {', '.join(fields)})")
            changes[key] = _check(f"{source}: {name}.{key}", fields[key], value)
        sections[name] = dataclasses.replace(current, **changes)
    config = dataclasses.replace(base, **sections)
    _check_consistency(config, source)
    return config


def _check_consistency(config: Config, source: str) -> None:
    for name, backend in _BACKEND_SECTIONS.items():
        try:
            backend.check(getattr(config, name), source)
        except SectionError as exc:
            raise ConfigError(str(exc)) from None
    try:
        parse_port_spec(config.serial.port)
    except ValueError as exc:
        raise ConfigError(f"{source}: serial.port: {exc}") from None
    cam = config.camera
    if cam.width % 2 or cam.height % 2:
        raise ConfigError(f"{source}: camera.width and camera.height must be even for H.264 "
                          f"4:2:0, got {cam.width}x{cam.height}")
    if config.power.critical_battery_pct >= config.power.low_battery_pct:
        raise ConfigError(f"{source}: power.critical_battery_pct must be below "
                          f"power.low_battery_pct")
    gestures = config.gestures
    if gestures.debounce_s >= gestures.double_press_window_s:
        raise ConfigError(f"{source}: gestures.debounce_s ({gestures.debounce_s:g}) must be below "
                          f"gestures.double_press_window_s "
                          f"({gestures.double_press_window_s:g})")
    _check_repeating(config.indicators, source)
    if config.encoder.adapt_low >= config.encoder.adapt_high:
        raise ConfigError(f"{source}: encoder.adapt_low ({config.encoder.adapt_low:g}) must be "
                          f"below encoder.adapt_high ({config.encoder.adapt_high:g})")
    if config.audio.rate not in AAC_RATES:
        raise ConfigError(f"{source}: audio.rate {config.audio.rate} is not a sample rate "
                          f"AAC-LC takes ({', '.join(map(str, AAC_RATES))})")
    if config.recording.segment_s < config.encoder.keyframe_interval_s:
        raise ConfigError(f"{source}: recording.segment_s ({config.recording.segment_s:g}) must "
                          f"be at least encoder.keyframe_interval_s "
                          f"({config.encoder.keyframe_interval_s:g})")
    _check_upload(config.upload, source)
    if config.encryption.force_key:
        try:
            force_key_from_der(config.encryption.force_key)
        except CryptError as exc:
            raise ConfigError(f"{source}: encryption.force_key: {exc}") from None


#: A repeating warning's pattern must end before it sounds again, or the patterns queue up
#: without end: (pattern key, interval key).
_REPEATS = (("start_tones", "reminder_interval_s"), ("start_vibration", "reminder_interval_s"),
            ("low_battery_tones", "low_battery_interval_s"),
            ("error_tones", "error_interval_s"), ("standby_vibration", "standby_reminder_s"))


def _check_repeating(ind: IndicatorSection, source: str) -> None:
    for pattern, interval in _REPEATS:
        took = pattern_seconds(getattr(ind, pattern), pattern.endswith("_tones"))
        if took >= getattr(ind, interval):
            raise ConfigError(f"{source}: indicators.{pattern} plays for {took:g} s, longer "
                              f"than indicators.{interval} ({getattr(ind, interval):g} s) "
                              f"between repeats")


def _check_upload(upload: UploadSection, source: str) -> None:
    url = upload.store_url
    if url:
        problem = url_problem(url)
        if problem:
            raise ConfigError(f"{source}: upload.store_url {show(url, True)} is not "
                              f"http(s)://HOST[:PORT]: {problem}")
    if upload.tls_cert and not url.startswith("https:"):
        raise ConfigError(f"{source}: upload.tls_cert is set but upload.store_url is not https")
    if upload.backoff_cap_s < upload.backoff_base_s:
        raise ConfigError(f"{source}: upload.backoff_cap_s ({upload.backoff_cap_s:g}) must be at "
                          f"least upload.backoff_base_s ({upload.backoff_base_s:g})")


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def url_problem(url: str) -> str | None:
    """What keeps ``url`` from being an evidence store's http(s)://HOST[:PORT], or None."""
    if any(ch.isspace() or ch < " " or ch == "\x7f" for ch in url):
        return "it contains a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return "the port is not a number from 1 to 65535" if "port" in str(exc).lower() else (
            "the host is not a valid address")
    if parts.scheme not in ("http", "https") or not url.lower().startswith(parts.scheme + "://"):
        return "it must start with http:// or https://"
    if "@" in parts.netloc:
        return "it must not carry a user name or password"
    host = parts.hostname or ""
    if not host:
        return "it names no host"
    if port == 0 or parts.netloc.endswith(":"):
        return "the port is not a number from 1 to 65535"
    if parts.path not in ("", "/") or "?" in url or "#" in url:
        return "it must not have a path, query or fragment"
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "the host is not a valid IPv6 address"
        return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
        return "the host is not a valid name or address"
    return None


def load_config(path: Path | None = None) -> Config:
    """Read ``path`` (TOML) over the defaults; no path means the defaults."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or plain(exc)}") from None
    if len(raw) > MAX_FILE:
        raise ConfigError(f"{path}: larger than {MAX_FILE >> 20} MiB; not a configuration file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                          f"{exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except ValueError:  # an integer of more digits than Python will read
        raise ConfigError(f"{path}: not valid TOML: a number has too many digits") from None
    return _build(data, str(path))


def describe_defaults() -> str:
    """Every key with its default and meaning, as a commented TOML file."""
    lines = ["# bodycam configuration: every key, with its default."]
    config = Config()
    for section in dataclasses.fields(Config):
        lines.append(f"\n[{section.name}]")
        for f in dataclasses.fields(getattr(config, section.name)):
            value = getattr(getattr(config, section.name), f.name)
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"{f.name} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "[" + ", ".join("[" + ", ".join(f"{x:g}" for x in p) + "]" for p in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)
