"""Power loss on the real clock (issue 11): the simulator as its own process, recording, killed
with SIGKILL at random moments, again and again, each next boot recovering what the last one
left. Also what signing each landed fragment costs. Rows for ``scripts/bench.py``'s table.

What must hold, and is counted rather than assumed: no closed segment is ever lost or changed,
no recording is reported tampered, and each cut loses at most about one keyframe interval of
what had been captured before it.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import Row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests' helpers

from device import control
from evidence.identity import create_identity
from evidence.layout import Layout
from evidence.manifest import Manifest, manifest_path, signature_path
from evidence.pending import FragmentLog
from evidence.utc import utc_seconds
from evidence.verify import verify
from tests.simproc import sim_command, start_sim
from tests.test_recovery import CONFIG  # 160x120 at 10 fps, 4 s segments, 1 s GOP

KEYFRAME_INTERVAL_S = 1.0
#: a frame's own duration plus the capture-to-disk latency (as in tests/test_recovery.py)
SLACK_S = 0.15


def _closed(data_dir: Path) -> dict[str, str]:
    """Every published segment: name -> SHA-256 of its manifest file."""
    return {str(mp4.relative_to(data_dir)): hashlib.sha256(manifest_path(mp4).read_bytes())
            .hexdigest()
            for mp4 in data_dir.glob(f"{Layout.RECORDINGS}/*/*{Layout.MP4}")
            if manifest_path(mp4).exists() and signature_path(mp4).exists()}


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # the power goes
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def power_loss(seconds: float, kills: int = 0) -> list[Row]:
    """At least 40 SIGKILLs, about one in eight while the daemon is still booting (so a
    recovery may itself be cut), the rest while recording for a random 0.3 to 9 s."""
    kills = kills or max(40, int(seconds * 8))
    rng = random.Random(20261201)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_KEEP")) as tmp:
        config, data_dir = Path(tmp) / "bodycam.toml", Path(tmp) / "data"
        config.write_text(CONFIG)
        closed: dict[str, str] = {}
        lost: list[str] = []
        cuts: list[tuple[float, int]] = []  # (wall time of the kill, recordings before it)
        for n in range(kills):
            if n % 8 == 7:  # mid-boot: wherever it is (imports, recovery, first frames)
                proc = subprocess.Popen(sim_command(data_dir, config, virtual_clock=False),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        text=True)
                time.sleep(rng.uniform(0.0, 2.0))
                _kill(proc)
            else:
                proc = start_sim(data_dir, config, virtual_clock=False)
                before = len(list(data_dir.glob("recordings/*")))
                control.request(data_dir, {"cmd": "press", "button": "record",
                                           "gesture": "double"})
                time.sleep(rng.uniform(0.3, 9.0))
                killed_at = time.time()
                _kill(proc)
                if len(list(data_dir.glob("recordings/*"))) > before:
                    cuts.append((killed_at, before))
            now = _closed(data_dir)
            lost += [name for name, sha in closed.items() if now.get(name) != sha]
            closed.update(now)
        # the last boot recovers the last cut
        proc = start_sim(data_dir, config, virtual_clock=False)
        control.request(data_dir, {"cmd": "shutdown"})
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()
        now = _closed(data_dir)
        lost += [name for name, sha in closed.items() if now.get(name) != sha]
        findings = verify([data_dir])
        tampered = [f for f in findings if f.status == "tampered"]
        not_ok = [f for f in findings if not f.ok]
        folders = sorted(p for p in (data_dir / Layout.RECORDINGS).iterdir() if p.is_dir())
        losses, aside = [], 0
        for killed_at, before in cuts:
            final = Manifest.from_bytes(manifest_path(sorted(folders[before].glob("*.mp4"))[-1])
                                        .read_bytes())
            losses.append(killed_at - utc_seconds(final.end_utc))
            aside += (final.recovery or {}).get("unverified_bytes", 0)
        parts = list(data_dir.glob("recordings/*/*.part"))
        if os.environ.get("BENCH_KEEP"):  # to look into a failure
            os.rename(data_dir, Path(os.environ["BENCH_KEEP"]) / "kept")
    codes = sorted({f"{f.kind}:{f.code}" for f in not_ok})
    over = sum(loss > KEYFRAME_INTERVAL_S + SLACK_S for loss in losses)
    verdict = "ok" if not (lost or tampered or not_ok or parts or over) else "FAILED"
    return [
        Row(f"power loss: {kills} SIGKILLs at random moments, real clock, 160x120@10",
            f"{verdict}", f"{len(cuts)} while recording, {kills // 8} mid-boot; "
                          f"{len(folders)} recordings, {len(closed)} closed segments"),
        Row("power loss: closed segments lost or changed", f"{len(lost)}", "target: 0"),
        Row("power loss: findings tampered / not ok after the last boot",
            f"{len(tampered)} / {len(not_ok)}", f"{len(findings)} findings; .part left: "
                                                f"{len(parts)}; {', '.join(codes) or 'all ok'}"),
        Row("power loss: footage lost per cut, median / max",
            f"{statistics.median(losses):.2f} / {max(losses):.2f} s",
            f"time of the kill minus the recovered end (frames still queued for the encoder "
            f"count as lost); {over} cuts over one keyframe interval + {SLACK_S:g} s; {aside} "
            f"bytes set aside unverified in all; load average {os.getloadavg()[0]:.1f}"),
    ]


def fragment_signing(seconds: float) -> list[Row]:
    """What the recorder thread adds per keyframe interval: hash the fragment that landed
    (read back from the page cache), sign, append and fsync one fragment-log line."""
    with tempfile.TemporaryDirectory() as tmp:
        identity = create_identity(Path(tmp), "BWV-OPEN-1", "BENCH")
        mp4 = Path(tmp) / "R000001-bench0-S0000.mp4"
        fragment = os.urandom(400_000)  # about a 1 s GOP at 1280x720, 3 Mbit/s
        mp4.write_bytes(fragment)
        log = FragmentLog(mp4, identity.sign)
        fd = os.open(mp4, os.O_RDONLY)
        digest = hashlib.sha256()
        count, sign_s, start = 0, 0.0, time.perf_counter()
        while time.perf_counter() - start < min(seconds, 3.0):
            t0 = time.perf_counter()
            digest.update(os.pread(fd, len(fragment), 0))
            identity.sign(digest.hexdigest().encode())
            sign_s += time.perf_counter() - t0
            log.append(len(fragment) * (count + 1), digest.hexdigest(), "0" * 64)
            count += 1
        total = time.perf_counter() - start
        os.close(fd)
        log.close()
    return [Row("fragment signing: read back + SHA-256 of 400 kB + Ed25519",
                f"{sign_s / count * 1e3:.2f} ms", "per keyframe interval (once a second)"),
            Row("fragment signing: the same + the log line appended and fsynced",
                f"{total / count * 1e3:.2f} ms", f"{count} lines; includes a second "
                                                 f"signature and the fsync")]


BENCHMARKS = {
    "signing": fragment_signing,
    "powerloss": power_loss,
}
