"""``bodycam``: the command line. A stable interface: scripts and tests depend on it.

This module is the composition root: the only place in ``device/`` that names a backend, and
only to start one (``bodycam sim``, ``bodycam run``); the daemon itself is handed its hardware.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device import control
from device.config import Config, ConfigError, describe_defaults, load_config
from device.control import MAX_HOLD_S
from device.status import ENCRYPTION_OFF, Status
from evidence import report
from evidence.cliutil import OneLineParser as _Parser
from evidence.crypt import (
    CryptError,
    force_key_fingerprint,
    load_force_private_key,
    load_force_public_key,
)
from evidence.crypt import (
    public_pem as force_public_pem,
)
from evidence.decrypt import decrypt_file
from evidence.fsutil import atomic_write
from evidence.identity import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    IdentityError,
    device_id_for,
    fingerprint,
    load_public_key,
    provision,
    public_pem,
)
from evidence.layout import Layout
from evidence.messages import show
from evidence.verify import KeyRing, verify
from hal.backend import BackendError
from hal.inputs import BUTTON_NAMES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A one-line error for the person at the terminal."""


def _data_dir(args: argparse.Namespace, config: Config) -> Path:
    chosen = args.data_dir or os.environ.get("BODYCAM_DATA_DIR") or config.storage.data_dir
    return Path(chosen).expanduser().absolute()


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if getattr(args, "config", None) else None)


def cmd_sim(args: argparse.Namespace) -> int:
    from device.runner import FrontendError, frontend  # loads the daemon: not for every command

    config = _config(args)
    try:
        simulator = frontend("sim")  # sim/app.py, by its entry point: the firmware names none
    except FrontendError as exc:
        raise CliError(str(exc)) from None
    if args.headless or args.tui:
        if args.web_host is not None or args.web_port is not None:
            raise CliError("--web-host and --web-port are for the browser panel, not "
                           "--headless or --tui")
        return simulator.run(config, _data_dir(args, config), headless=args.headless,
                             virtual_clock=args.virtual_clock, clock_unset=args.clock_unset,
                             exit_with_stdin=args.exit_with_stdin, serial=args.serial)
    if args.serial is not None:
        raise CliError("--serial goes with --headless or --tui (the browser panel's daemon "
                       "serves no console)")
    try:
        return simulator.panel(config, _data_dir(args, config), config_file=args.config,
                               virtual_clock=args.virtual_clock, clock_unset=args.clock_unset,
                               host=args.web_host, port=args.web_port)
    except FrontendError as exc:
        raise CliError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535 (0: any free "
                                         f"one), got {show(text)}")
    return port


def _float(text: str) -> float | None:
    """A finite number from the command line, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _number_type(what: str, lo: float, hi: float, lo_open: bool = False
                 ) -> Callable[[str], float]:
    """An argparse type for a number in a range: a bad one is a usage error (exit 2) in plain
    words, as every other bad argument is, rather than the daemon's refusal (exit 1)."""
    low = f"more than {lo:g}" if lo_open else f"from {lo:g}"
    span = f"{low} and at most {hi:g}" if lo_open else f"{low} to {hi:g}"

    def convert(text: str) -> float:
        value = _float(text)
        if value is None or value < lo or value > hi or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"expected {what} {span}, got {show(text)}")
        return value
    return convert


def cmd_run(args: argparse.Namespace) -> int:
    from device.runner import run  # loads the daemon: not for every command

    config = _config(args)
    try:
        return run(config, _data_dir(args, config), backend=args.backend, codec=args.codec,
                   serial=args.serial)
    except BackendError as exc:
        print(f"bodycam run: error: {exc}", file=sys.stderr)
        return EXIT_FAILED

def cmd_transparency(args: argparse.Namespace) -> int:
    from evidence.transparency_audit import main as transparency_main  # the contract's

    return transparency_main(args.transparency_args)


def cmd_store(args: argparse.Namespace) -> int:
    from device.runner import FrontendError, frontend

    try:
        store_main = frontend("store")  # store/cli.py: the evidence store, a separate package
    except FrontendError as exc:
        raise CliError(str(exc)) from None
    return store_main(args.store_args)


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    reply = control.request(_data_dir(args, config), {"cmd": "status"})["status"]
    if args.json:  # as the daemon sent it
        print(json.dumps(reply, indent=2, sort_keys=True))
        return EXIT_OK
    try:
        status = Status.from_json(reply)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise control.ControlError(f"the daemon's status is not one this bodycam reads "
                                   f"(at {exc!s:.60}); 'bodycam status --json' shows it"
                                   ) from None
    rec = status.recording
    lines = [
        f"mode        {status.mode}" + (f"  (fault: {status.fault})" if status.fault else ""),
        f"led         {status.led.describe()}",
        f"flags       {', '.join(status.flags_up) or 'none'}",
        f"battery     {status.battery_percent:.0f} %",
        f"storage     {status.storage_free_bytes / 2**30:.1f} GiB free",
        f"buffered    {status.buffered_s:.1f} s pre-event",
        f"recording   {rec.id + ' for ' + format(rec.seconds, '.1f') + ' s' if rec else '-'}",
        f"device      {status.device_id}  {status.utc}",
        f"encryption  {status.encryption}",
        f"officer     {status.officer}",
    ]
    if status.encryption == ENCRYPTION_OFF:  # a development setting: said in so many words
        lines.append("warning     encryption off (development setting): footage lies on the "
                     "card in the clear")
    for r in status.recovered:  # what this boot found after a power cut
        lines.append(f"recovered   {r['file']}: " + (
            f"FAILED: {r['detail']}" if r["detail"] else
            f"{r['frames']} frames kept, signed as recovered"
            + (f" (torn tail of {r['torn_bytes']} bytes kept beside it)"
               if r["torn_bytes"] else "")))
    upload = status.upload
    if upload and upload["state"] != "off":
        lines.append(f"upload      {upload['state']}: {upload['pending_segments']} segment(s) "
                     f"on the camera, {upload['bytes_sent'] / 1e6:.1f} MB sent, "
                     f"{upload['receipts']} receipt(s)"
                     + (f"; last error: {upload['last_error']}" if upload["last_error"] else ""))
    print("\n".join(lines))
    return EXIT_OK


def cmd_press(args: argparse.Namespace) -> int:
    config = _config(args)
    payload: dict[str, Any] = {"cmd": "press", "button": args.button, "gesture": "press"}
    if args.double:
        payload["gesture"] = "double"
    elif args.hold is not None:
        payload.update(gesture="hold", seconds=args.hold)
    reply = control.request(_data_dir(args, config), payload)
    if "pending_until" in reply:
        print(f"{args.button} {payload['gesture']}: under way until simulated time "
              f"{reply['pending_until']:.3f} s ('bodycam advance' moves the clock)")
    else:
        print(f"{args.button} {payload['gesture']}: mode is now {reply['mode']}")
    return EXIT_OK


def cmd_marker(args: argparse.Namespace) -> int:
    config = _config(args)
    control.request(_data_dir(args, config), {"cmd": "marker", "note": args.note})
    print("marker placed")
    return EXIT_OK


def cmd_trigger(args: argparse.Namespace) -> int:
    config = _config(args)
    reply = control.request(_data_dir(args, config), {"cmd": "trigger", "name": args.name})
    print(f"trigger {args.name}: " + ("recording started" if reply["started"]
                                      else f"no action in mode {reply['mode']}"))
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    """Inputs only a simulator has: dock, battery level, storage, camera faults."""
    config = _config(args)
    payload: dict[str, Any] = {"cmd": args.command}
    if args.command == "battery":
        payload["percent"] = args.percent
    elif args.command == "storage":
        payload["free_mb"] = None if args.free_mb == "real" else _number(args.free_mb)
    elif args.command == "camera":
        payload["action"] = args.action
    elif args.command == "microphone":
        payload["action"] = args.action
        if args.seconds is not None:
            if args.action != "speak":
                raise CliError(f"microphone {args.action} takes no --seconds")
            payload["seconds"] = args.seconds
    reply = control.request(_data_dir(args, config), payload)
    print(f"{args.command}: mode is now {reply['mode']}")
    return EXIT_OK


def _lat_lon(text: str) -> tuple[float, float]:
    """``LAT,LON`` in decimal degrees (WGS84): a bad one is a usage error in one line."""
    parts = text.split(",")
    values = [_float(p.strip()) for p in parts] if len(parts) == 2 else []
    if len(values) != 2 or values[0] is None or values[1] is None \
            or not -90 <= values[0] <= 90 or not -180 <= values[1] <= 180:
        raise argparse.ArgumentTypeError(f"expected LAT,LON in degrees (latitude -90 to 90, "
                                         f"longitude -180 to 180), got {show(text)}")
    return values[0], values[1]


def cmd_location(args: argparse.Namespace) -> int:
    """The simulated receiver: move (pin at a point), lose, regain, walk (the route)."""
    config = _config(args)
    payload: dict[str, Any] = {"cmd": "location", "action": args.action}
    if args.action == "move":
        if args.where is None:
            raise CliError("location move needs LAT,LON (such as 51.5007,-0.1246)")
        payload["lat"], payload["lon"] = args.where
    elif args.where is not None:
        raise CliError(f"location {args.action} takes no LAT,LON")
    reply = control.request(_data_dir(args, config), payload)
    loc = reply["location"]
    fix = loc.get("fix")
    where = (f"fix {fix['lat']:.6f},{fix['lon']:.6f} ±{fix['accuracy_m']:g} m"
             if fix else "no fix")
    print(f"location {args.action}: receiver {loc.get('receiver')}, {where}")
    return EXIT_OK


def _number(text: str) -> float:
    value = _float(text)
    if value is None or value < 0:
        raise CliError(f'expected a number of MiB >= 0 or "real", got {show(text)}')
    return value


def cmd_advance(args: argparse.Namespace) -> int:
    config = _config(args)
    reply = control.request(_data_dir(args, config), {"cmd": "advance", "seconds": args.seconds})
    print(f"simulated time is now {reply['monotonic']:.3f} s")
    return EXIT_OK


def cmd_shutdown(args: argparse.Namespace) -> int:
    config = _config(args)
    control.request(_data_dir(args, config), {"cmd": "shutdown"})
    print("camera is off")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CliError(f"no such file or directory: {', '.join(missing)}")
    try:
        keys = KeyRing.from_dir(Path(args.keys)) if args.keys else None
    except IdentityError as exc:
        raise CliError(str(exc)) from None
    try:
        ring = (keys or KeyRing()).with_store_key(Path(args.store_key) if args.store_key
                                                  else None)
    except IdentityError as exc:
        raise CliError(f"--store-key {exc}") from None
    if args.force_key:
        try:
            ring = ring.with_force_key(load_force_private_key(Path(args.force_key)))
        except CryptError as exc:
            raise CliError(f"--force-key {exc}") from None
    findings = verify(paths, ring)
    print(report.as_json(findings) if args.json else report.table(findings))
    return EXIT_OK if report.intact(findings) else EXIT_FAILED


def cmd_decrypt(args: argparse.Namespace) -> int:
    """Decrypt a segment with the force's private key; the plaintext's SHA-256 is checked
    against the one the device signed (docs/FORMAT.md, "Encryption at rest")."""
    mp4 = Path(args.segment)
    out = Path(args.out) if args.out else Path.cwd() / mp4.name
    if out.is_dir():
        out = out / mp4.name
    try:
        key = load_force_private_key(Path(args.key))
        manifest, digest = decrypt_file(mp4, key, out)
    except CryptError as exc:
        raise CliError(str(exc)) from None
    print(f"{out}: {manifest.frame_count} frames of {manifest.recording_id} "
          f"#{manifest.segment_index}, plaintext SHA-256 {digest} as signed")
    return EXIT_OK


def _pin_force_key(source: Path, data_dir: Path) -> str:
    """Pin the force's public key in the data directory; its fingerprint."""
    try:
        key = load_force_public_key(source)
    except CryptError as exc:
        raise CliError(f"--force-key: {exc}") from None
    try:
        atomic_write(data_dir / Layout.FORCE_KEY, force_public_pem(key), mode=0o644)
    except OSError as exc:
        raise CliError(f"cannot pin the force key: {exc.strerror}") from None
    return force_key_fingerprint(key)


def _force_key_note(config: Config, data_dir: Path) -> str:
    """What provisioning without ``--force-key`` leaves: encryption is on by default, and a
    camera without a force key faults at boot, so the operator hears it now, not at boot."""
    if not config.encryption.enabled:
        return "force key     none: encryption off (development setting): footage in the clear"
    pinned = Path(config.encryption.force_public_key).expanduser()
    pinned = pinned if pinned.is_absolute() else data_dir / pinned
    if config.encryption.force_key:
        return "force key     encryption.force_key (the store's signed settings)"
    if pinned.exists():
        return f"force key     {pinned} (pinned before)"
    return (f"force key     NONE pinned: the camera faults at boot (force key missing: no "
            f"{pinned}) until 'bodycam provision --force-key FORCE.pub.pem' pins the force's "
            f"public key (or encryption.enabled = false, a development setting)")


def cmd_provision(args: argparse.Namespace) -> int:
    """Make the device key once; print what an evidence store needs to enrol it."""
    config = _config(args)
    data_dir = _data_dir(args, config)
    identity = provision(data_dir, config.device.model, config.device.serial, force=args.force)
    if args.force_key:
        print(f"force key     {data_dir / Layout.FORCE_KEY} (pinned), fingerprint "
              f"SHA256:{_pin_force_key(Path(args.force_key), data_dir)}")
    else:
        print(_force_key_note(config, data_dir))
    print(f"provisioned   {identity.device_id} (model {identity.model}, serial "
          f"{identity.serial})\n"
          f"private key   {data_dir / PRIVATE_KEY} (owner only)\n"
          f"public key    {data_dir / PUBLIC_KEY}\n"
          f"fingerprint   SHA256:{identity.fingerprint}")
    print(public_pem(identity.public_key).decode(), end="")
    return EXIT_OK


def cmd_export_key(args: argparse.Namespace) -> int:
    """The public key for enrolment: PEM on stdout, or a file named after the device."""
    config = _config(args)
    key_file = _data_dir(args, config) / PUBLIC_KEY
    if not key_file.exists():
        raise IdentityError(f"{key_file}: no device key here (run 'bodycam provision')")
    key = load_public_key(key_file)
    pem = public_pem(key)
    if args.out is None:
        print(pem.decode(), end="")
        return EXIT_OK
    out = Path(args.out)
    # "enrolled/" names a directory even before it exists (Path() drops the slash): make it
    if args.out.endswith(("/", os.sep)) or out.is_dir():
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot make directory {out}: {exc.strerror}") from None
        out = out / f"{device_id_for(key)}.pem"
    try:
        atomic_write(out, pem)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror}") from None
    print(f"{out}: public key of {device_id_for(key)}, fingerprint SHA256:{fingerprint(key)}")
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    if args.check:
        load_config(Path(args.check))
        print(f"{args.check}: valid")
    else:
        print(describe_defaults(), end="")
    return EXIT_OK


def _serial_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serial", metavar="SPEC",
                        help="serve the serial console (docs/SERIAL.md) on pty, tcp:PORT, "
                             "tcp:HOST:PORT, a device or a pyserial URL, or off; overrides "
                             "serial.port of the config")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bodycam", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (default: $BODYCAM_DATA_DIR, else "
                                            "storage.data_dir from the config, ./bodycam-data)")
    common.add_argument("--config", help="TOML configuration file")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    p = sub.add_parser("sim", parents=[common],
                       help="run the daemon on the simulator, with its panel in the browser")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--headless", action="store_true",
                      help="no panel: print what the camera shows, one line each")
    view.add_argument("--tui", action="store_true",
                      help="the panel in this terminal (keys press the buttons)")
    p.add_argument("--web-host", metavar="HOST",
                   help="address the browser panel listens on (default 127.0.0.1: this "
                        "machine only)")
    p.add_argument("--web-port", metavar="PORT", type=_port,
                   help="its port (default 8470, or any free one if that is taken; 0: any)")
    p.add_argument("--virtual-clock", action="store_true",
                   help="time moves only with 'bodycam advance' (for scripts and tests)")
    p.add_argument("--clock-unset", action="store_true",
                   help="the simulated real-time clock has lost its time: boot with the "
                        "clock not set")
    p.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)
    _serial_option(p)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("run", parents=[common],
                       help="run the daemon on the Raspberry Pi prototype (systemd runs this)")
    p.add_argument("--codec", default="auto",
                   help="H.264 encoder; auto: h264_v4l2m2m where it works, else libx264, "
                        "unless the configuration names another (default: auto)")
    p.add_argument("--backend", default="pi",
                   help="the hardware, by the name of an installed backend plug-in "
                        "(default: pi)")
    _serial_option(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", parents=[common], help="show the running camera's state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("press", parents=[common], help="press a button of the running camera")
    p.add_argument("button", choices=BUTTON_NAMES, metavar="BUTTON",
                   help=f"one of: {', '.join(BUTTON_NAMES)}")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--double", action="store_true", help="double-press")
    how.add_argument("--hold", type=_number_type("seconds", 0, MAX_HOLD_S, lo_open=True),
                     metavar="SECONDS", help=f"hold for SECONDS (at most {MAX_HOLD_S:g})")
    p.set_defaults(func=cmd_press)

    p = sub.add_parser("marker", parents=[common], help="bookmark the current recording")
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_marker)

    p = sub.add_parser("trigger", parents=[common],
                       help="an auto-activation input fires (holster, taser, ...)")
    p.add_argument("name")
    p.set_defaults(func=cmd_trigger)

    for name, text in (("dock", "put the simulated camera in its dock"),
                       ("undock", "take the simulated camera out of its dock")):
        sub.add_parser(name, parents=[common], help=text).set_defaults(func=cmd_simulate)
    p = sub.add_parser("battery", parents=[common], help="set the simulated battery level")
    p.add_argument("percent", type=_number_type("a percentage", 0, 100))
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("storage", parents=[common],
                       help="limit the simulated free storage (MiB), or 'real'")
    p.add_argument("free_mb")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("camera", parents=[common], help="unplug or replug the simulated sensor")
    p.add_argument("action", choices=("unplug", "replug"))
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("microphone", parents=[common],
                       help="speak into the simulated microphone, or unplug or replug it")
    p.add_argument("action", choices=("speak", "unplug", "replug"))
    p.add_argument("--seconds", type=_number_type("seconds", 0, 60), metavar="SECONDS",
                   help="how long the voice lasts (speak; default 2, at most 60)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("location", parents=[common],
                       help="the simulated GNSS receiver: move LAT,LON | lose | regain | walk")
    p.add_argument("action", choices=("move", "lose", "regain", "walk"))
    p.add_argument("where", nargs="?", type=_lat_lon, metavar="LAT,LON")
    p.set_defaults(func=cmd_location)

    p = sub.add_parser("advance", parents=[common],
                       help="move a --virtual-clock simulator's time forward")
    p.add_argument("seconds", type=_number_type("seconds", 0, 3600))
    p.set_defaults(func=cmd_advance)

    p = sub.add_parser("shutdown", parents=[common], help="power the camera off cleanly")
    p.set_defaults(func=cmd_shutdown)

    p = sub.add_parser("verify", help="check segments, recordings, audit logs and how they "
                                      "agree (exit 0 intact, 1 not, 2 bad usage)")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="segment files, recording folders or data directories")
    p.add_argument("--keys", metavar="DIR",
                   help="check against these enrolled device keys (*.pem, Ed25519), matched "
                        "by device id, instead of the key in the data directory")
    p.add_argument("--store-key", metavar="FILE",
                   help="check store receipts against this store public key (store.pub.pem) "
                        "instead of the pinned one (DATA_DIR/store.pub.pem, or DIR/store.pub.pem "
                        "with --keys)")
    p.add_argument("--force-key", metavar="FILE",
                   help="the force's RSA private key: also decrypt each encrypted segment (in "
                        "memory) and check it against its signed plaintext hash")
    p.add_argument("--json", action="store_true", help="a status and reason code per item")
    p.set_defaults(func=cmd_verify)

    # Everything after 'transparency' goes to evidence.transparency_audit (its own --help).
    p = sub.add_parser("transparency", add_help=False, prefix_chars="\0",
                       help="check an evidence store's public transparency log (no token)")
    p.add_argument("transparency_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_transparency)

    # Everything after 'store' goes to store.cli, which has its own --help.
    p = sub.add_parser("store", add_help=False, prefix_chars="\0",
                       help="the evidence store service and its operator commands")
    p.add_argument("store_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("provision", parents=[common],
                       help="make the device key and identity (once); print the public key")
    p.add_argument("--force", action="store_true",
                   help="replace an existing key (its public key is kept in retired-keys/)")
    p.add_argument("--force-key", metavar="FILE",
                   help="pin the force's RSA public key (PEM) that segments are encrypted to "
                        "(DATA_DIR/force.pub.pem); encryption is on by default, and a camera "
                        "without it faults at boot (unless encryption.enabled = false, a "
                        "development setting)")
    p.set_defaults(func=cmd_provision)

    p = sub.add_parser("decrypt", help="decrypt an encrypted segment with the force's private "
                                       "key, checking it against the signed plaintext hash")
    p.add_argument("segment", metavar="SEGMENT", help="the segment's .mp4 (its manifest beside it)")
    p.add_argument("--key", metavar="FILE", required=True,
                   help="the force's RSA private key (unencrypted PEM)")
    p.add_argument("--out", metavar="FILE",
                   help="where the plain MP4 goes (default: the segment's name in the current "
                        "directory); never overwritten, never beside the segment")
    p.set_defaults(func=cmd_decrypt)

    p = sub.add_parser("export-key", parents=[common],
                       help="print the device's public key (PEM) for enrolment in a store")
    p.add_argument("--out", metavar="PATH",
                   help="write it to PATH instead (an existing directory, or one ending "
                        "in / that is made if missing: PATH/DEVICE_ID.pem)")
    p.set_defaults(func=cmd_export_key)

    p = sub.add_parser("config", help="print every configuration key with its default")
    p.add_argument("--check", metavar="FILE", help="validate FILE instead")
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ConfigError, IdentityError, control.ControlError) as exc:
        print(f"bodycam {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, CliError) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`bodycam ... | head`): no error of ours. Point stdout at
        # /dev/null so the flush at exit does not raise again; exit as a tool killed by
        # SIGPIPE does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
