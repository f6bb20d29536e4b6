"""Pushes what the camera does to every open page, as it happens.

One thread follows the daemon: it long-polls the control command ``journal`` (the daemon's event
bus, device/bus.py, which answers the moment the camera shows, sounds or logs something, and at
the latest after ``HEARTBEAT_S`` with a fresh status for the battery and the clocks), then reads
any new audit entries and looks at the recordings. Each page holds a queue; :meth:`Hub.subscribe`
hands it a snapshot first, so a page opened late, or reconnecting, starts from the whole picture.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from pathlib import Path
from typing import Any

from device.control import ControlError
from sim.web.audit_tail import AuditTail
from sim.web.recordings import Recordings
from sim.web.supervisor import DaemonProcess

HEARTBEAT_S = 1.0
#: A page further behind than this many messages is dropped; its browser reconnects.
QUEUE_LIMIT = 2000
FEED_KEEP = 80

Message = tuple[str, Any]


def feed_entry(event: dict[str, Any]) -> dict[str, Any] | None:
    """A bus event as the page's feed shows it (panel.js: ``led``, ``tones`` as hz/seconds,
    ``vibration`` as on_s/off_s pulses, ``note`` as text); None for the audited events, which
    the page shows from the audit log itself."""
    kind, data = event["kind"], event["data"]
    head = {"seq": event["seq"], "t": event["t"], "kind": kind}
    if kind == "led":
        return {**head, "led": data}
    if kind == "tones":
        return {**head, "tones": [{"hz": hz, "seconds": s} for hz, s in data["tones"]]}
    if kind == "vibration":
        return {**head, "pulses": [{"on_s": on, "off_s": off} for on, off in data["pulses"]]}
    if kind == "note":
        return {**head, "text": data["text"]}
    return None


class Hub:
    def __init__(self, daemon: DaemonProcess, data_dir: Path, panel: dict[str, Any]) -> None:
        self.daemon = daemon
        self.panel = panel
        self.audit = AuditTail(data_dir)
        self.recordings = Recordings(data_dir)
        self.status: dict[str, Any] | None = None
        self.led_phase_s = 0.0
        self.phase_at_unix = 0.0
        self.feed: deque[dict[str, Any]] = deque(maxlen=FEED_KEEP)
        self.audit_check: dict[str, Any] = {"status": "unknown", "detail": ""}
        self._subscribers: set[queue.Queue[Message | None]] = set()
        # Guards the state above and the subscriber set: a page subscribing gets a snapshot
        # and then every message after it, none twice and none lost.
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="hub", daemon=True)

    # -- pages ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"panel": self.panel,
                    "daemon": {"state": self.daemon.state, "detail": self.daemon.detail},
                    "status": self.status, "led_phase_s": self.led_phase_s,
                    "phase_at_unix": self.phase_at_unix,
                    "feed": list(self.feed), "audit": list(self.audit.entries),
                    "audit_check": self.audit_check, "recordings": self.recordings.items}

    def subscribe(self) -> queue.Queue[Message | None]:
        """A queue of (kind, data) messages, a snapshot first; None means "hang up"."""
        q: queue.Queue[Message | None] = queue.Queue()
        with self._lock:
            q.put(("snapshot", self.snapshot()))
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: queue.Queue[Message | None]) -> int:
        """Forget a page; returns how many remain."""
        with self._lock:
            self._subscribers.discard(q)
            return len(self._subscribers)

    def publish(self, kind: str, data: Any) -> None:
        with self._lock:
            for q in list(self._subscribers):
                if q.qsize() > QUEUE_LIMIT:  # a stuck page: let it go; it reconnects
                    self._subscribers.discard(q)
                    q.put(None)
                else:
                    q.put((kind, data))

    def daemon_changed(self, state: str, detail: str) -> None:
        """The supervisor's callback: booting, running, power cut, stopped."""
        note = {"seq": None, "t": None, "kind": "daemon", "text": detail}
        with self._lock:
            if state != "running":
                self.status = None  # nothing answers: the page shows a dark camera
            self.feed.append(note)
            self.publish("daemon", {"state": state, "detail": detail})
            self.publish("feed", [note])

    # -- the follower --------------------------------------------------------------------------
    def start(self) -> None:
        self._refresh_files(force=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for q in self._subscribers:
                q.put(None)
            self._subscribers.clear()
        self._thread.join(timeout=HEARTBEAT_S + 5)

    def _follow(self) -> None:
        cursor, boot = 0, None
        while not self._closed.is_set():
            if not self.daemon.ready.wait(timeout=0.5):
                continue
            try:
                reply = self.daemon.request({"cmd": "journal", "since": cursor,
                                             "wait": HEARTBEAT_S}, timeout=HEARTBEAT_S + 10)
            except ControlError:
                # Gone (a power cut, a shutdown): the supervisor clears ``ready`` in a moment.
                self._closed.wait(0.05)
                continue
            if reply["boot"] != boot:  # a new daemon process: read its journal from the start
                cursor, boot = 0, reply["boot"]
                self.check_audit()
                self._refresh_files()
                continue
            cursor = reply["next"]
            self._take(reply)

    def _take(self, reply: dict[str, Any]) -> None:
        with self._lock:
            self.status, self.led_phase_s = reply["status"], reply["led_phase_s"]
            self.phase_at_unix = reply["phase_at_unix"]
            events = [e for e in map(feed_entry, reply["events"]) if e is not None]
            if events:
                self.feed.extend(events)
                self.publish("feed", events)
            self.publish("status", {"status": self.status, "led_phase_s": self.led_phase_s,
                                    "phase_at_unix": self.phase_at_unix})
            self._refresh_files()

    def _refresh_files(self, force: bool = False) -> None:
        with self._lock:
            new = self.audit.read_new()
            if new:
                self.publish("audit", new)
            recording = (self.status or {}).get("recording") or {}
            if self.recordings.refresh(active=recording.get("id")) or force:
                self.publish("recordings", self.recordings.items)

    def check_audit(self) -> dict[str, Any]:
        """Run the audit verifier over the whole log (at each boot, and when asked)."""
        check = self.audit.check()
        with self._lock:
            self.audit_check = check
            self.publish("audit_check", check)
        return check
