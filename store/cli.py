"""bodycam store: run the evidence store, and the operator's commands against it.

``init`` and ``serve`` work on the store directory (``--dir``, default ``$BODYCAM_STORE_DIR``,
else ``./bodycam-store``). Operator commands talk to a running store over HTTP (``--url``,
default ``$BODYCAM_STORE_URL``, else http://127.0.0.1:8471, not the panel's 8470) with the
operator token (``$BODYCAM_STORE_TOKEN`` or ``--token-file``), which they send only once the
address answers as a bodycam store, and as the one pinned by ``--store-key`` (default
``$BODYCAM_STORE_KEY``) when one is. ``audit`` checks the store's audit log chain locally;
``redact`` makes a redacted copy signed by the store key (so it runs where the store directory
is) and ``check-redaction`` checks one with nothing but the store's public key.
``credentials`` reads an MP4's C2PA Content Credentials (no store needed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.cliutil import EXIT_USAGE, OneLineParser
from evidence.fsutil import atomic_write
from evidence.identity import IdentityError, public_key_from_pem
from evidence.store_client import StoreConnection, StoreHttpError
from store.auditlog import verify_chain
from store.config import StoreConfig, StoreConfigError
from store.credentials import CA_CERT
from store.operator_client import OperatorClient
from store.public_cli import PublicCliError
from store.public_cli import add_commands as add_public_commands
from store.redaction import RedactionError
from store.service import (
    AUDIT,
    Store,
    StoreDirError,
    choose_engines,
    init_store,
    new_operator_token,
)

#: Not the browser panel's 8470: the operator's token must never go to the panel by default.
DEFAULT_PORT = 8471
EXIT_OK, EXIT_FAILED = 0, 1


class StoreCliError(Exception):
    """A one-line error for the person at the terminal."""


def _dir(args: argparse.Namespace) -> Path:
    chosen = args.dir or os.environ.get("BODYCAM_STORE_DIR") or "bodycam-store"
    return Path(chosen).expanduser().absolute()


def _operator(args: argparse.Namespace) -> OperatorClient:
    token = os.environ.get("BODYCAM_STORE_TOKEN", "")
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise StoreCliError(f"--token-file {args.token_file}: {exc.strerror}") from None
    if not token:
        raise StoreCliError("no operator token: set BODYCAM_STORE_TOKEN or pass --token-file "
                            "(the token 'bodycam store init' printed)")
    url = args.url or os.environ.get("BODYCAM_STORE_URL") or f"http://127.0.0.1:{DEFAULT_PORT}"
    try:
        connection = StoreConnection(url)
    except ValueError as exc:
        raise StoreCliError(str(exc)) from None
    return OperatorClient(connection, token, _pinned_key(args))


def _pinned_key(args: argparse.Namespace) -> Ed25519PublicKey | None:
    """The store key the operator expects (``--store-key``, else ``$BODYCAM_STORE_KEY``)."""
    chosen = args.store_key or os.environ.get("BODYCAM_STORE_KEY")
    if not chosen:
        return None
    where = "--store-key" if args.store_key else "$BODYCAM_STORE_KEY"
    try:
        return public_key_from_pem(Path(chosen).read_bytes(), f"{where} {chosen}")
    except OSError as exc:
        raise StoreCliError(f"{where} {chosen}: {exc.strerror}") from None
    except IdentityError as exc:
        raise StoreCliError(str(exc)) from None


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _engines(args: argparse.Namespace) -> dict[str, str]:
    """``--catalogue``/``--objects``, checked: a password never on the command line (another
    user's ``ps`` shows it), so a DSN's goes in ``$PGPASSWORD``, ``~/.pgpass`` or store.json."""
    chosen = {k: v for k, v in (("catalogue", args.catalogue), ("objects", args.objects)) if v}
    catalogue = chosen.get("catalogue", "")
    if re.search(r"://[^/@]*:[^/@]*@", catalogue) or re.search(r"(^|[?&\s])password=",
                                                                 catalogue):
        raise StoreCliError("--catalogue: the DSN holds a password; put it in $PGPASSWORD or "
                            "~/.pgpass (or the store's store.json), not on the command line")
    try:
        StoreConfig(**chosen)
    except StoreConfigError as exc:
        raise StoreCliError(f"--{exc}") from None
    return chosen


def cmd_init(args: argparse.Namespace) -> int:
    directory = _dir(args)
    engines = _engines(args)
    if args.new_token:
        if engines:
            raise StoreCliError("--new-token changes only the token; the engines are in "
                                "store.json")
        Store(directory).close()  # refuses a directory that is not a store
        token = new_operator_token(directory)
    else:
        config = StoreConfig(retention_days=args.retention_days, **engines)
        directory.mkdir(parents=True, exist_ok=True)
        token = init_store(directory, config)
        print(f"evidence store created in {directory} (retention {args.retention_days:g} days); "
              f"cameras pin {directory / 'store.pub.pem'}")
        print(f"C2PA trust anchor for exported MP4s: {directory / CA_CERT}")
    if args.token_file:
        atomic_write(Path(args.token_file), (token + "\n").encode(), mode=0o600)
        print(f"operator token written to {args.token_file} (keep it secret)")
    else:
        print(f"operator token (shown once; the store keeps only its hash):\n{token}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from store.http import StoreHTTPServer, listen, tls_context
    from store.retention import run_periodically
    from store.workers import serve_workers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(message)s")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise StoreCliError("--tls-cert and --tls-key go together")
    if not 1 <= args.workers <= 64:
        raise StoreCliError(f"--workers {args.workers}: give 1 to 64 worker processes")
    try:
        tls = tls_context(Path(args.tls_cert), Path(args.tls_key)) if args.tls_cert else None
    except (OSError, ssl.SSLError) as exc:
        raise StoreCliError(f"TLS certificate or key unusable: {exc}") from None
    engines = _engines(args)
    if engines:
        Store(_dir(args)).close()  # refuses a directory that is not a store
        choose_engines(_dir(args), engines.get("catalogue"), engines.get("objects"))
    store = Store(_dir(args))
    try:
        if args.workers == 1:
            server = StoreHTTPServer(store, args.host, args.port, tls)
            sock = server.socket
        else:
            sock = listen(args.host, args.port)
    except OSError as exc:
        store.close()
        raise StoreCliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    host, port = sock.getsockname()[:2]
    url = f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"bodycam store {store.store_id}: listening on {url}, data in {store.directory}"
          + (f", {args.workers} worker processes" if args.workers > 1 else ""), flush=True)
    if args.workers > 1:
        try:
            serve_workers(store, sock, args.workers,
                          (args.tls_cert, args.tls_key) if args.tls_cert else None)
        finally:
            sock.close()
            store.close()
        return EXIT_OK
    stop = threading.Event()
    retention = threading.Thread(target=run_periodically, name="retention", daemon=True,
                                 args=(store.retention, store.config.retention_interval_s, stop))
    retention.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        retention.join(timeout=5)
        store.close()
    return EXIT_OK


def cmd_enrol(args: argparse.Namespace) -> int:
    try:
        pem = Path(args.pubkey).read_bytes()
    except OSError as exc:
        raise StoreCliError(f"{args.pubkey}: {exc.strerror}") from None
    result = _operator(args).enrol(pem, args.label)
    verb = "enrolled" if result["enrolled"] else "already enrolled"
    print(f"{verb}: {result['device_id']} (key SHA-256 {result['fingerprint']})")
    return EXIT_OK


def cmd_flag(args: argparse.Namespace) -> int:
    rec = _operator(args).flag(args.recording_id, args.case, args.device)
    print(f"flagged {rec['recording_id']} ({rec['device_id']}) as evidence for case "
          f"{rec['case_ref']}: kept until unflagged")
    return EXIT_OK


def cmd_unflag(args: argparse.Namespace) -> int:
    rec = _operator(args).unflag(args.recording_id, args.device)
    print(f"unflagged {rec['recording_id']}: deleted after {rec['delete_after_utc']}")
    return EXIT_OK


def cmd_categorise(args: argparse.Namespace) -> int:
    rec = _operator(args).categorise(args.recording_id, args.category, args.device)
    keep = (f"deleted after {rec['delete_after_utc']}" if rec["delete_after_utc"] else
            "kept until its category changes" if not rec["case_ref"] else
            "kept until unflagged")
    print(f"{rec['recording_id']} ({rec['device_id']}) is {rec['category']!r}"
          f"{'' if rec.get('changed', True) else ' already'}: {keep}")
    return EXIT_OK


def cmd_assign(args: argparse.Namespace) -> int:
    from evidence.assignment import collar_problem, officer_problem

    if args.clear:
        if args.officer or args.collar:
            raise StoreCliError("give --clear, or --officer and --collar, not both")
        got = _operator(args).assign(args.device_id, None, None, clear=True)
        print(f"{args.device_id} is unassigned from its next dock"
              f"{'' if got['changed'] else ' (it was already)'}")
        return EXIT_OK
    if args.officer is None or args.collar is None:
        raise StoreCliError("give --officer ID and --collar NUMBER (or --clear)")
    for flag, problem in (("--officer", officer_problem(args.officer)),
                          ("--collar", collar_problem(args.collar))):
        if problem:
            raise StoreCliError(f"{flag}: {problem}")
    got = _operator(args).assign(args.device_id, args.officer, args.collar)
    print(f"{args.device_id} is assigned to officer {got['officer_id']} (collar "
          f"{got['collar']}) from its next dock{'' if got['changed'] else ' (unchanged)'}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    client = _operator(args)
    if args.quarantine:
        rows = client.quarantine()
        if args.json:
            _print(rows)
            return EXIT_OK
        for q in rows:
            print(f"Q{q['id']:<5} {q['device_id']}  {q['file']}  {q['reason']}")
        print(f"{len(rows)} quarantined upload(s)")
        return EXIT_OK
    rows = client.recordings(args.device, args.since, args.until)
    if args.json:
        _print(rows)
        return EXIT_OK
    for r in rows:
        state = (f"deleted {r['deleted_utc']}" if r["deleted_utc"] else
                 f"EVIDENCE case {r['case_ref']}" if r["case_ref"] else
                 f"delete after {r['delete_after_utc']}" if r["delete_after_utc"] else
                 f"kept ({r.get('category')})")
        state += f"  [{r.get('category') or 'uncategorised'}]"
        print(f"{r['recording_id']}  {r['device_id']}  {r['start_utc']}  {r['segments']:>3} seg "
              f"{'complete  ' if r['complete'] else 'incomplete'}  {state}")
    print(f"{len(rows)} recording(s)")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    if not args.recording_id and not (args.device and args.since and args.until):
        raise StoreCliError("name a RECORDING_ID, or --device with --from and --to")
    out = Path(args.out)
    _operator(args).export(out, args.recording_id, args.device, args.since, args.until)
    print(f"export written to {out}: export.mp4, the original segments, report.json "
          "(signed by the store)")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    deleted = _operator(args).retention()["deleted"]
    for d in deleted:
        print(f"deleted {d['recording_id']} ({d['device_id']}, recorded {d['recorded_utc']}, "
              f"{d['segments']} segment(s))")
    print(f"{len(deleted)} recording(s) deleted by retention")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    count, problems = verify_chain(_dir(args) / AUDIT)
    for problem in problems:
        print(problem)
    print(f"{count} audit entries: " + ("chain intact" if not problems else
                                        f"{len(problems)} problem(s)"))
    return EXIT_FAILED if problems else EXIT_OK


def cmd_redact(args: argparse.Namespace) -> int:
    from store.redaction.plan import (
        BOX_OPS,
        build_plan,
        load_plan,
        parse_box_spec,
        parse_silence_spec,
    )
    from store.redaction.run import redact_in_store

    plan = build_plan(load_plan(Path(args.plan)) if args.plan else {}, args.reviewer)
    plan.boxes += [parse_box_spec(op, spec) for op in BOX_OPS for spec in getattr(args, op)]
    plan.silence += [parse_silence_spec(spec) for spec in args.silence]
    plan.auto = plan.auto and not args.no_auto
    store = Store(_dir(args))
    try:
        derivation = redact_in_store(store, Path(args.source) if args.source else None,
                                     args.recording, args.device, plan, Path(args.out))
    finally:
        store.close()
    frames, boxes = derivation["output"]["frame_count"], len(derivation["blurred"])
    print(f"redacted copy written to {args.out}: redacted.mp4 ({frames} frames, {boxes} "
          f"blurred box range(s), {len(derivation['silenced'])} silenced range(s)), "
          "derivation.json signed by the store")
    return EXIT_OK


def cmd_check_redaction(args: argparse.Namespace) -> int:
    from store.redaction.derivation import verify_derivation
    from store.redaction.run import unpacked

    key = _pinned_key(args)
    if key is None:
        raise StoreCliError("name the store's public key: --store-key store.pub.pem")
    if args.sources:
        with unpacked(Path(args.sources)) as root:
            problems = verify_derivation(Path(args.folder), key, root)
    else:
        problems = verify_derivation(Path(args.folder), key)
    for problem in problems:
        print(f"FAILED {problem}")
    if not problems:
        print("OK the redacted copy is the one the store signed" +
              (", made from the device-signed sources" if args.sources else
               " (sources not checked: --sources EXPORT)"))
    return EXIT_FAILED if problems else EXIT_OK


def cmd_credentials(args: argparse.Namespace) -> int:
    """Read an MP4's C2PA Content Credentials with c2pa's Reader; 0 only when intact and
    signed under the given trust anchor (the export's c2pa-ca.pem)."""
    from store.c2pa_sign import ContentCredentialsError, read_credentials
    from store.credentials import CredentialsError, load_trust_anchor

    try:
        anchor = load_trust_anchor(Path(args.trust_anchor)) if args.trust_anchor else None
        read = read_credentials(Path(args.mp4), anchor)
    except (CredentialsError, ContentCredentialsError) as exc:
        print(f"bodycam store credentials: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print(read.summary())
    if read.trusted:
        return EXIT_OK
    hint = "" if anchor else " (no --trust-anchor given: pass the export's c2pa-ca.pem)"
    print(f"bodycam store credentials: {args.mp4}: {read.state}: "
          f"{', '.join(read.failures)}{hint}", file=sys.stderr)
    return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="bodycam store", description=__doc__.splitlines()[0])
    local = argparse.ArgumentParser(add_help=False)
    local.add_argument("--dir", help="store directory (default: $BODYCAM_STORE_DIR, else "
                                     "./bodycam-store)")
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--url", help=f"store URL (default: $BODYCAM_STORE_URL, else "
                                      f"http://127.0.0.1:{DEFAULT_PORT})")
    remote.add_argument("--token-file", help="file holding the operator token (default: "
                                             "$BODYCAM_STORE_TOKEN)")
    remote.add_argument("--store-key", metavar="PEM",
                        help="the store's store.pub.pem: send the token only to that store "
                             "(default: $BODYCAM_STORE_KEY)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)

    engines = argparse.ArgumentParser(add_help=False)
    engines.add_argument("--catalogue", metavar="DSN",
                         help="postgresql://USER@HOST/DB (no password here: $PGPASSWORD or "
                              "~/.pgpass), or sqlite (default: store.json's, else sqlite)")
    engines.add_argument("--objects", metavar="URL",
                         help="s3://BUCKET[/PREFIX] with Object Lock, or folder (default: "
                              "store.json's, else folder); the endpoint from store.json's "
                              "s3_endpoint or $BODYCAM_S3_ENDPOINT, the keys from "
                              "$BODYCAM_S3_ACCESS_KEY and $BODYCAM_S3_SECRET_KEY")

    p = sub.add_parser("init", parents=[local, engines],
                       help="create a store: key, catalogue, token")
    p.add_argument("--retention-days", type=float, default=StoreConfig.retention_days)
    p.add_argument("--token-file", help="write the operator token to this file (0600)")
    p.add_argument("--new-token", action="store_true",
                   help="replace the operator token of an existing store")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", parents=[local, engines], help="run the store's HTTP service")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes serving requests (default 1); any worker serves any "
                        "request of any upload")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("enrol", parents=[remote], help="allow a device key to upload")
    p.add_argument("pubkey", metavar="PUBKEY.pem", help="the camera's device.pub.pem")
    p.add_argument("--label", default="", help="a note, such as the officer's collar number")
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser("flag", parents=[remote], help="keep a recording as evidence")
    p.add_argument("recording_id", metavar="RECORDING_ID")
    p.add_argument("--case", required=True, help="case reference")
    p.add_argument("--device", help="device id, if the recording id is ambiguous")
    p.set_defaults(func=cmd_flag)

    p = sub.add_parser("unflag", parents=[remote], help="return a recording to retention")
    p.add_argument("recording_id", metavar="RECORDING_ID")
    p.add_argument("--device", help="device id, if the recording id is ambiguous")
    p.set_defaults(func=cmd_unflag)

    p = sub.add_parser("categorise", parents=[remote],
                       help="give a recording a category (its retention follows)")
    p.add_argument("recording_id", metavar="RECORDING_ID")
    p.add_argument("category", metavar="CATEGORY",
                   help="one of store.json's categories, such as \"no further action\"")
    p.add_argument("--device", help="device id, if the recording id is ambiguous")
    p.set_defaults(func=cmd_categorise)

    p = sub.add_parser("assign", parents=[remote],
                       help="assign a camera to an officer from its next dock")
    p.add_argument("device_id", metavar="DEVICE")
    p.add_argument("--officer", metavar="ID", help="the officer's id")
    p.add_argument("--collar", metavar="NUMBER", help="the officer's collar number")
    p.add_argument("--clear", action="store_true", help="unassign the camera")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("list", parents=[remote], help="list recordings (or the quarantine)")
    p.add_argument("--device")
    p.add_argument("--from", dest="since", metavar="UTC")
    p.add_argument("--to", dest="until", metavar="UTC")
    p.add_argument("--quarantine", action="store_true", help="list quarantined uploads")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("export", parents=[remote],
                       help="one recording, or a device's window, as MP4 + evidence (zip)")
    p.add_argument("recording_id", metavar="RECORDING_ID", nargs="?")
    p.add_argument("--device")
    p.add_argument("--from", dest="since", metavar="UTC")
    p.add_argument("--to", dest="until", metavar="UTC")
    p.add_argument("--out", required=True, metavar="FILE.zip")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("retention", parents=[remote], help="apply retention now")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("redact", parents=[local],
                       help="a redacted copy: faces blurred, audio silenced, signed derivation")
    p.add_argument("source", metavar="EXPORT", nargs="?",
                   help="a store export (zip or unpacked folder); or use --recording")
    p.add_argument("--recording", metavar="RECORDING_ID", help="a recording in the store")
    p.add_argument("--device", help="device id, if the recording id is ambiguous")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for redacted.mp4 and "
                                                                 "derivation.json")
    p.add_argument("--reviewer", help="who reviewed the redaction (or \"reviewer\" in --plan)")
    p.add_argument("--plan", metavar="PLAN.json", help="the reviewer's boxes and silences")
    for op, what in (("add", "blur this box over these frames"),
                     ("remove", "drop automatic boxes centred in it (a false find)"),
                     ("keep", "leave faces centred in it sharp (the requester's own)")):
        p.add_argument(f"--{op}", action="append", default=[], metavar="FIRST-LAST:X,Y,W,H",
                       help=what)
    p.add_argument("--silence", action="append", default=[], metavar="FROM-TO",
                   help="silence the sound from FROM to TO seconds")
    p.add_argument("--no-auto", action="store_true", help="no automatic face pass")
    p.set_defaults(func=cmd_redact)

    p = sub.add_parser("check-redaction", help="check a redacted copy against the store key")
    p.add_argument("folder", metavar="DIR", help="holding redacted.mp4 and derivation.json")
    p.add_argument("--store-key", metavar="PEM", help="the store's store.pub.pem (default: "
                                                      "$BODYCAM_STORE_KEY)")
    p.add_argument("--sources", metavar="EXPORT", help="the export it was made from: check "
                                                       "the sources against their devices")
    p.set_defaults(func=cmd_check_redaction)

    p = sub.add_parser("audit", parents=[local], help="check the store's audit log chain")
    p.set_defaults(func=cmd_audit)

    add_public_commands(sub, remote)  # find, request (store/public_cli.py)

    p = sub.add_parser("credentials", help="read an MP4's C2PA Content Credentials")
    p.add_argument("mp4", metavar="FILE.mp4", help="an export's export.mp4, or a copy made from it")
    p.add_argument("--trust-anchor", metavar="PEM",
                   help="the CA to trust: the export's c2pa-ca.pem (the store's DIR/c2pa-ca.pem)")
    p.set_defaults(func=cmd_credentials)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "remote_call", False):  # given the client only when it needs one
            return args.func(args, lambda: _operator(args))
        return args.func(args)
    except (StoreCliError, PublicCliError, StoreDirError, StoreConfigError, StoreHttpError,
            RedactionError) as exc:
        print(f"bodycam store {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (StoreCliError, PublicCliError)) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
