"""``bodycam``: the command line. A stable interface: scripts and tests depend on it.

This module is the composition root: the only place in ``device/`` that names a backend, and
only to start one (``bodycam sim``, ``bodycam run``); the daemon itself is handed its hardware.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from device import control
from device.config import Config, ConfigError, describe_defaults, load_config
from device.evidence.verify import verify
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
    from sim.app import run_simulator  # the composition root picks the backend

    config = _config(args)
    return run_simulator(config, _data_dir(args, config), headless=args.headless,
                         virtual_clock=args.virtual_clock, serial=args.serial)


def cmd_run(args: argparse.Namespace) -> int:
    from hal.pi import PiSetupError  # the composition root picks the backend
    from hal.pi.app import run_pi

    config = _config(args)
    try:
        return run_pi(config, _data_dir(args, config), codec=args.codec, serial=args.serial)
    except PiSetupError as exc:
        print(f"bodycam run: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    status = control.request(_data_dir(args, config), {"cmd": "status"})["status"]
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return EXIT_OK
    rec = status.get("recording")
    lines = [
        f"mode        {status['mode']}" + (f"  (fault: {status['fault']})" if status['fault']
                                          else ""),
        f"led         {status['led']['text']}",
        f"flags       {', '.join(k for k, v in status['flags'].items() if v) or 'none'}",
        f"battery     {status['battery_percent']:.0f} %",
        f"storage     {status['storage_free_bytes'] / 2**30:.1f} GiB free",
        f"buffered    {status['buffered_s']:.1f} s pre-event",
        f"recording   {rec['id'] + ' for ' + format(rec['seconds'], '.1f') + ' s' if rec else '-'}",
        f"device      {status['device_id']}  {status['utc']}",
    ]
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
    reply = control.request(_data_dir(args, config), payload)
    print(f"{args.command}: mode is now {reply['mode']}")
    return EXIT_OK


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CliError(f"expected a number or 'real', got {text!r}") from None


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
    findings = verify(paths)
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for f in findings:
            print(f"{f.status.upper():<13} {f.path}  {f.detail}")
        bad = sum(not f.ok for f in findings)
        checked = sum(f.path.endswith(".mp4") for f in findings)
        print(f"{checked} segment(s) checked: " + ("all intact" if not bad and findings
                                                   else f"{bad} problem(s)" if bad
                                                   else "nothing to verify"))
    return EXIT_OK if findings and all(f.ok for f in findings) else EXIT_FAILED


def cmd_config(args: argparse.Namespace) -> int:
    if args.check:
        load_config(Path(args.check))
        print(f"{args.check}: valid")
    else:
        print(describe_defaults(), end="")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (no usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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

    p = sub.add_parser("sim", parents=[common], help="run the daemon on the simulator")
    p.add_argument("--headless", action="store_true", help="no terminal display or keyboard")
    p.add_argument("--virtual-clock", action="store_true",
                   help="time moves only with 'bodycam advance' (for scripts and tests)")
    _serial_option(p)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("run", parents=[common],
                       help="run the daemon on the Raspberry Pi prototype (systemd runs this)")
    p.add_argument("--codec", default="auto",
                   help="H.264 encoder; auto: h264_v4l2m2m where it works, else libx264, "
                        "unless the configuration names another (default: auto)")
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
    how.add_argument("--hold", type=float, metavar="SECONDS", help="hold for SECONDS")
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
    p.add_argument("percent", type=float)
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("storage", parents=[common],
                       help="limit the simulated free storage (MiB), or 'real'")
    p.add_argument("free_mb")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("camera", parents=[common], help="unplug or replug the simulated sensor")
    p.add_argument("action", choices=("unplug", "replug"))
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("advance", parents=[common],
                       help="move a --virtual-clock simulator's time forward")
    p.add_argument("seconds", type=float)
    p.set_defaults(func=cmd_advance)

    p = sub.add_parser("shutdown", parents=[common], help="power the camera off cleanly")
    p.set_defaults(func=cmd_shutdown)

    p = sub.add_parser("verify", help="check segments, signatures and chains")
    p.add_argument("paths", nargs="+", metavar="PATH", help="segment files or data directories")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("config", help="print every configuration key with its default")
    p.add_argument("--check", metavar="FILE", help="validate FILE instead")
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ConfigError, control.ControlError) as exc:
        print(f"bodycam {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, CliError) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
