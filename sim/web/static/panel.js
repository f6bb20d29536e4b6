// bodycam simulator panel: a view onto the daemon. Everything shown comes from the server's
// event stream (/events); everything pressed goes to /api/command, which forwards it to the
// daemon's control socket. The page keeps no device logic of its own.
"use strict";

const $ = (id) => document.getElementById(id);
const KEYS = { r: "record", f: "function", p: "power", g: "program" };
const COLOURS = { red: "#ff2d2d", green: "#2bd46a", blue: "#3d8bff", amber: "#ffb000" };
const FLAG_NAMES = { stealth: "stealth", muted: "muted", low_battery: "low battery",
  storage_low: "storage low", clock_not_set: "clock not set", dock_pending: "dock pending",
  stop_pending: "confirm stop" };

const state = {
  panel: null, daemon: { state: "booting", detail: "" }, status: null,
  led: null, ledKey: "", ledAnchor: 0, ledNow: null, received: 0,
  recordings: [], playing: null, playingRec: null,
};

// -- commands: one at a time, in order (a button's DOWN must reach the camera before its UP) --
let chain = Promise.resolve();

function command(payload) {
  const send = async () => {
    const response = await fetch("/api/command", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
    if (!data.ok) throw new Error(data.error || response.statusText);
    return data;
  };
  const result = chain.then(send);
  chain = result.catch(() => {});
  result.catch((error) => toast(`${payload.cmd}: ${error.message}`));
  return result;
}

// With a virtual clock, simulated time moves only when told. A person's hands tell it: before
// each button edge the clock moves by the real time since the previous edge, unless time was
// moved by hand (the clock buttons, or a test) in between. So a press, a double-press and a hold
// keep their real timing, and a test can still make a 3 s hold take no time at all.
let lastEdge = null;
let movedByHand = false;

function advance(seconds) {
  movedByHand = true;
  return command({ cmd: "advance", seconds });
}

function edge(button, pressed) {
  const now = performance.now();
  if (state.panel?.virtual_clock && lastEdge !== null && !movedByHand) {
    const gap = Math.min(Math.max((now - lastEdge) / 1000, minEdgeGap()), 30);
    command({ cmd: "advance", seconds: Math.round(gap * 1000) / 1000 });
  }
  movedByHand = false;
  lastEdge = now;
  return command({ cmd: "edge", button, pressed });
}

// The recogniser takes two edges closer than its debounce time for contact bounce and drops the
// second, even a real release, which leaves the button down until a hold fires. A finger is not
// that quick; a mouse click or a tap can be. So each button's edges leave the page at least a
// little more than the debounce time apart (on a virtual clock, the time moved does this).
const minEdgeGap = () => (state.panel?.debounce_s ?? 0.03) + 0.02;
const lastSent = new Map(); // button -> performance.now() of its last edge
const queued = new Map(); // button -> the promise of its last delayed edge

function buttonEdge(button, pressed) {
  const send = () => { lastSent.set(button, performance.now()); edge(button, pressed); };
  const due = () => (lastSent.get(button) ?? -Infinity) + minEdgeGap() * 1000 - performance.now();
  if (state.panel?.virtual_clock || (!queued.has(button) && due() <= 0)) {
    send();
    return;
  }
  const next = (queued.get(button) || Promise.resolve()).then(() => new Promise((done) => {
    setTimeout(() => { send(); done(); }, Math.max(0, due()));
  }));
  queued.set(button, next);
  next.then(() => { if (queued.get(button) === next) queued.delete(button); });
}

// -- the physical buttons: pointer (mouse, touch, pen) and keyboard ----------------------------
const held = new Map(); // button -> what holds it ("pointer" or "key")

function press(button, by) {
  if (held.has(button)) return;
  held.set(button, by);
  buttonEl(button).classList.add("pressed");
  ensureAudio();
  buttonEdge(button, true);
}

function release(button) {
  if (!held.has(button)) return;
  held.delete(button);
  buttonEl(button).classList.remove("pressed");
  buttonEdge(button, false);
}

const buttonEl = (name) => document.querySelector(`.hw[data-button="${name}"]`);

for (const el of document.querySelectorAll(".hw")) {
  const name = el.dataset.button;
  el.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    el.setPointerCapture(e.pointerId);
    press(name, "pointer");
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    el.addEventListener(type, () => { if (held.get(name) === "pointer") release(name); });
  }
  el.addEventListener("contextmenu", (e) => e.preventDefault());
  el.addEventListener("keydown", (e) => { // Space or Enter on a focused button
    if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); press(name, "key"); }
  });
  el.addEventListener("keyup", (e) => {
    if (e.key === " " || e.key === "Enter") { e.preventDefault(); release(name); }
  });
}

window.addEventListener("keydown", (e) => {
  const name = KEYS[e.key.toLowerCase()];
  if (!name || e.repeat || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
  e.preventDefault();
  press(name, "key");
});
window.addEventListener("keyup", (e) => {
  const name = KEYS[e.key.toLowerCase()];
  if (name && held.get(name) === "key") release(name);
});
const typing = (el) => el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement;
// A finger leaves the button when the window loses focus or the page goes away.
window.addEventListener("blur", () => { for (const name of [...held.keys()]) release(name); });
window.addEventListener("pagehide", () => {
  for (const name of held.keys()) {
    fetch("/api/command", { method: "POST", keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ cmd: "edge", button: name, pressed: false }) });
  }
});

// -- the LED: blinks in the daemon's phase, from its pattern (colour, on_s, off_s, alt) -------
function colourAt(led, phase) {
  if (!led || !led.colour) return null;
  if (!(led.off_s > 0)) return led.colour;
  return phase % (led.on_s + led.off_s) < led.on_s ? led.colour : led.alt;
}

function anchorLed(led, phaseThen, phaseAt, now) {
  // The phase was read when the daemon answered; add the time the answer took to get here
  // (measured on this machine's clock, so trusted only when it looks like a transit time).
  const transit = Date.now() / 1000 - phaseAt;
  const phase = phaseThen + (transit > 0 && transit < 2 ? transit : 0);
  // Re-anchor when the pattern changes or device time moved and we drifted from its phase;
  // a virtual clock at rest keeps blinking in real time from where it stopped.
  const key = JSON.stringify(led);
  const period = led && led.off_s > 0 ? led.on_s + led.off_s : 0;
  const ours = (performance.now() - state.ledAnchor) / 1000;
  const drift = period ? Math.abs(((ours - phase) % period + period * 1.5) % period - period / 2) : 0;
  if (key !== state.ledKey || (now !== state.ledNow && drift > 0.05)) {
    state.ledAnchor = performance.now() - phase * 1000;
  }
  state.led = led;
  state.ledKey = key;
  state.ledNow = now;
}

const ledEl = $("led");
let shownLit = null;
function drawLed() {
  const led = state.daemon.state === "running" ? state.led : null;
  const lit = colourAt(led, (performance.now() - state.ledAnchor) / 1000) || "off";
  if (lit !== shownLit) {
    shownLit = lit;
    ledEl.dataset.lit = lit;
    ledEl.style.setProperty("--glow", COLOURS[lit] || lit);
  }
  requestAnimationFrame(drawLed);
}
requestAnimationFrame(drawLed);

// -- sound and vibration: Web Audio for tones, a shake (and the phone's motor) for vibration --
let audio = null;
let soundOn = false;

function ensureAudio() {
  if (!soundOn) return null;
  if (!audio) {
    try { audio = new AudioContext(); } catch { return null; }
  }
  if (audio.state === "suspended") audio.resume();
  return audio;
}

$("speaker").addEventListener("click", () => {
  soundOn = !soundOn;
  if (soundOn) ensureAudio();
  document.querySelector(".speaker-text").textContent = soundOn ? " laptop sound on" : " laptop sound off";
  $("speaker").dataset.on = String(soundOn);
});

function playTones(tones) {
  const ctx = ensureAudio();
  if (!ctx || ctx.state !== "running") return;
  let t = ctx.currentTime + 0.02;
  for (const { hz, seconds } of tones) {
    if (hz > 0) { // a piezo buzzer: a square wave with a short ramp against clicks
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(0.06, t + 0.005);
      gain.gain.setValueAtTime(0.06, Math.max(t + 0.005, t + seconds - 0.01));
      gain.gain.linearRampToValueAtTime(0, t + seconds);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + seconds + 0.02);
    }
    t += seconds;
  }
}

const toneText = (tones) => tones.map((t) => (t.hz ? `${t.hz} Hz ${t.seconds} s` : `rest ${t.seconds} s`)).join(" · ");
const vibeText = (pulses) => pulses.map((p) => `${p.on_s} s`).join(" + ");

function flash(el, text) {
  el.textContent = text;
  el.dataset.empty = "false";
  el.classList.add("fresh");
  clearTimeout(el.fade);
  el.fade = setTimeout(() => el.classList.remove("fresh"), 2500);
}

function vibrate(pulses) {
  const total = pulses.reduce((sum, p) => sum + p.on_s + p.off_s, 0);
  const camera = $("camera");
  camera.classList.add("vibrating");
  clearTimeout(camera.stopVibrating);
  camera.stopVibrating = setTimeout(() => camera.classList.remove("vibrating"), total * 1000);
  if (navigator.vibrate) navigator.vibrate(pulses.flatMap((p) => [p.on_s * 1000, p.off_s * 1000]));
}

// -- rendering ---------------------------------------------------------------------------------
const text = (id, value) => { $(id).textContent = value; };

function el(tag, className, content = "", data = {}) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = content;
  Object.assign(node.dataset, data);
  return node;
}
const mmss = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
// A place in a recording, to a tenth of a second: 1:05.3
const at = (s) => { const t = Math.round(s * 10) / 10; return `${mmss(t)}.${Math.round(t * 10) % 10}`; };
const gib = (bytes) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`);

function renderPanel(panel) {
  state.panel = panel;
  document.querySelector(".preview").style.aspectRatio = `${panel.camera.width} / ${panel.camera.height}`;
  text("model", panel.model);
  $("clock-control").hidden = !panel.virtual_clock;
  const triggers = $("triggers");
  triggers.replaceChildren(...panel.triggers.map((name) => {
    const button = el("button", "action", name);
    button.addEventListener("click", () => command({ cmd: "trigger", name }));
    return button;
  }));
}

function renderDaemon(daemon) {
  state.daemon = daemon;
  const running = daemon.state === "running";
  const camera = $("camera");
  camera.dataset.power = daemon.state === "power_cut" ? "cut" : daemon.state;
  $("power-state").hidden = running;
  text("power-text", { booting: "booting…", power_cut: "power cut", stopped: "no daemon" }[daemon.state] || daemon.state);
  $("boot").hidden = daemon.state !== "stopped";
  if (!running) renderStatus(null);
  if (daemon.state !== "running" && daemon.detail) toastIf(daemon.state === "stopped", daemon.detail);
}

function renderStatus(status) {
  state.status = status;
  state.received = performance.now();
  const mode = status ? status.mode : (state.daemon.state === "booting" ? "booting" : "off");
  $("mode").dataset.mode = mode;
  $("camera").dataset.mode = mode;
  text("mode", mode.replace("_", " "));
  text("led-text", status ? status.led.text : "off");
  ledEl.dataset.pattern = status ? status.led.text : "off";
  const fault = $("fault");
  fault.hidden = !(status && status.fault);
  if (status && status.fault) fault.textContent = `fault: ${status.fault}`;
  $("preview-off").hidden = Boolean(status && status.camera === "on");
  text("preview-off", status ? "camera off" : "no power");
  const rec = status && status.recording;
  $("rec-badge").hidden = !rec;
  text("recording-line", rec
    ? `recording ${rec.id} · ${rec.reason} · ${rec.segments} segment(s) closed · ${rec.markers} marker(s)${rec.pre_event ? " · with pre-event" : ""}`
    : status && status.last_recording ? `last: ${status.last_recording.id} (${status.last_recording.reason})` : "not recording");
  $("flags").replaceChildren(...Object.entries(FLAG_NAMES).map(([flag, label]) =>
    el("span", "flag" + (status && status.flags[flag] ? " on" : ""), label, { flag })));
  const pct = status ? status.battery_percent : 0;
  $("battery-fill").style.width = `${pct}%`;
  $("battery-fill").classList.toggle("low", Boolean(status && status.flags.low_battery));
  text("battery-text", status ? `${pct.toFixed(0)} %${status.charging ? " · charging" : ""}${status.docked ? " · docked" : ""}` : "—");
  if (status && document.activeElement !== $("battery")) {
    $("battery").value = pct;
    text("battery-set", `${pct.toFixed(0)} %`);
  }
  text("storage-text", status ? gib(status.storage_free_bytes) : "—");
  text("buffer-text", status ? `${status.buffered_s.toFixed(1)} s` : "—");
  text("frames-text", status ? `${status.frames_captured}${status.frames_dropped ? ` (${status.frames_dropped} dropped)` : ""}` : "—");
  // the microphone's level after mute, -60 dBFS (empty) to 0 dBFS (full)
  const sound = status && status.audio;
  $("level-fill").style.width = sound ? `${Math.max(0, Math.min(100, (sound.level_dbfs + 60) / 60 * 100))}%` : "0%";
  text("level-text", sound ? (sound.level_dbfs <= -120 ? "silent" : `${sound.level_dbfs.toFixed(0)} dBFS`) : "no microphone");
  text("device-id", status && status.device_id ? status.device_id : "—");
  text("officer", status && status.officer ? "officer " + status.officer : "—");
  renderClock(status);
}

// The camera's clock: the whole UTC time on a wide screen, the time of day on a phone (the
// parts in .long are hidden there), so the header stays one line.
function renderClock(status) {
  const clock = $("device-time");
  clock.replaceChildren();
  if (!status) { clock.textContent = "—"; return; }
  const parts = /^(.*T)(\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(status.utc);
  if (parts) {
    clock.append(el("span", "long", parts[1]), parts[2], el("span", "long", parts[3] || ""), "Z");
  } else {
    clock.append(status.utc);
  }
  if (status.encryption) {
    // Off is a development setting, said in so many words wherever the header has room.
    const off = status.encryption.startsWith("off");
    let enc;
    if (off) {
      enc = el("span", "long clock-warn", " · encryption off (development setting): footage in the clear");
    } else {
      enc = el("span", "long", " · footage encrypted at rest, " + status.encryption + "; this panel plays it with the simulator's development force key");
    }
    enc.title = "encryption.enabled: " + (off ? "false" : status.encryption);
    clock.append(enc);
  }
  if (!status.clock_set) {
    const warn = el("span", "clock-warn", " ⚠");
    warn.append(el("span", "long", " clock not set"));
    warn.title = "the camera's clock was not set: its footage says CLOCK NOT SET";
    clock.append(warn);
  }
}

function tick() { // the recording timer between status messages (real clock only)
  const rec = state.status && state.status.recording;
  if (rec) {
    const extra = state.panel && !state.panel.virtual_clock ? (performance.now() - state.received) / 1000 : 0;
    text("rec-time", mmss(rec.seconds + extra));
  }
}
setInterval(tick, 250);

function renderFeed(entries, reset) {
  const feed = $("feed");
  if (reset) feed.replaceChildren();
  for (const e of entries) {
    const what = e.kind === "led" ? `LED ${e.led.text}`
      : e.kind === "tones" ? `♪ ${toneText(e.tones)}`
      : e.kind === "vibration" ? `≈ vibration ${vibeText(e.pulses)}` : e.text;
    const li = el("li", `k-${e.kind}`);
    const line = el("span", "what", what);
    if (e.kind === "led") { // in the colour it says, with a swatch of each colour it shows
      li.dataset.colour = e.led.colour || "off";
      const swatches = el("span", "swatches");
      for (const c of [e.led.colour, e.led.alt].filter(Boolean)) {
        swatches.append(el("span", "swatch", "", { colour: c }));
      }
      line.prepend(swatches);
    }
    const t = el("span", "t", e.t === null ? "" : `${e.t.toFixed(2)} s`);
    t.title = "camera uptime: seconds on its monotonic clock since it booted";
    li.append(t, line);
    feed.append(li);
  }
  while (feed.children.length > 120) feed.firstChild.remove();
  feed.scrollTop = feed.scrollHeight;
}

function happened(entries) { // new entries, as they happen: make them heard and felt
  for (const e of entries) {
    if (e.kind === "tones") { playTones(e.tones); flash($("sound"), `♪ ${toneText(e.tones)}`); }
    if (e.kind === "vibration") { vibrate(e.pulses); flash($("vibe"), `≈ vibration ${vibeText(e.pulses)}`); }
  }
  renderFeed(entries, false);
}

function renderAudit(entries, reset) {
  const list = $("audit");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  if (reset) list.replaceChildren();
  for (const e of entries) {
    const data = Object.entries(e.data || {})
      .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
    const why = el("span", "why", e.reason || "");
    if (data) why.append(el("span", "data", ` ${data}`));
    const li = el("li", "");
    li.title = e.utc || "";
    li.append(el("span", "seq", String(e.seq ?? "?")), el("span", "ev", e.event), why);
    list.append(li);
  }
  while (list.children.length > 300) list.firstChild.remove();
  if (atBottom || reset) list.scrollTop = list.scrollHeight;
}

function renderAuditCheck(check) {
  const badge = $("audit-check");
  badge.dataset.status = check.status;
  badge.textContent = check.status === "ok" ? "verified" : check.status;
  badge.title = check.detail;
}

function renderRecordings(items) {
  state.recordings = items;
  $("recordings").replaceChildren(...items.map((rec) => {
    const playing = state.playing && state.playing.startsWith(`/media/${rec.id}/`);
    const li = el("li", "recording" + (playing ? " playing" : ""), "", { id: rec.id, status: rec.status });
    const head = el("div", "rec-head");
    const label = rec.recovered && rec.status === "verified" ? "verified · recovered" : rec.status;
    head.append(el("span", "rec-id", rec.id), el("span", "badge", label, { status: rec.status }));
    const meta = [rec.start_utc, rec.duration_s ? `${rec.duration_s.toFixed(1)} s` : null,
      rec.reason, rec.markers ? `${rec.markers} marker(s)` : null].filter(Boolean).join(" · ");
    li.append(head, el("div", "rec-meta", meta));
    if (rec.detail && rec.status !== "verified" && rec.status !== "recording") {
      li.append(el("div", "rec-detail", rec.detail));
    }
    const segments = el("div", "segments");
    const short = (name) => name.replace(`${rec.id}-`, "").replace(/\.mp4(\.part)?$/, "");
    for (const seg of rec.segments) {
      const box = el("span", "segment", "", { status: seg.status });
      const play = el("button", "play", `▶ ${short(seg.file)}`);
      play.title = `${seg.status}: ${seg.detail}`;
      play.addEventListener("click", () => playSegment(rec, seg));
      const download = el("a", "", "⤓");
      download.href = seg.url;
      download.download = seg.file;
      download.title = `download ${seg.file}`;
      box.append(play, download);
      segments.append(box);
    }
    for (const part of rec.parts) {
      const writing = rec.status === "recording";
      const box = el("span", "segment part", `${writing ? "● writing" : "✕ interrupted"} ${short(part)}`,
        { status: writing ? "recording" : "interrupted" });
      box.title = writing ? "the segment being written" : "cut off by a power loss: recovered at boot";
      segments.append(box);
    }
    li.append(segments);
    if (rec.timeline && rec.timeline.marks.length) li.append(renderTimeline(rec));
    return li;
  }));
  moveHead();
}

// -- a recording's timeline: the server reads it from the signed manifests (timeline.py); the
// page only draws it. Each mark has a kind, a place (at_s, and to_s for a span) in playing
// time, the segment it lies in and a label; kinds the page has no style for still show.
const MARK_SYMBOLS = { pre_event: "◧", press: "▶", marker: "◆", gap: "✕" };

function renderTimeline(rec) {
  const tl = rec.timeline;
  const total = Math.max(tl.duration_s, 0.001);
  const pct = (s) => `${Math.min(100, Math.max(0, (s / total) * 100))}%`;
  const box = el("div", "timeline", "", { id: rec.id });
  const bar = el("div", "tl-bar");
  bar.title = "click to play from there";
  tl.segments.forEach((seg, i) => {
    const part = el("div", "tl-seg" + (seg.url === state.playing ? " playing" : ""), "",
      { status: seg.status, index: String(i) });
    part.style.left = pct(seg.start_s);
    part.style.width = pct(seg.end_s - seg.start_s);
    part.title = `${seg.file}: ${at(seg.start_s)} to ${at(seg.end_s)}`;
    bar.append(part);
  });
  const list = el("ol", "tl-list");
  for (const mark of tl.marks) {
    const data = { kind: mark.kind, at: String(mark.at_s), verified: String(mark.verified !== false) };
    const label = `${at(mark.at_s)} ${mark.label}${mark.verified === false ? " (not verified)" : ""}`;
    if (mark.to_s !== undefined) { // a span: drawn under the marks, not clickable on the bar
      const span = el("div", "tl-span", "", data);
      span.style.left = pct(mark.at_s);
      span.style.width = pct(mark.to_s - mark.at_s);
      span.title = label;
      bar.append(span);
    } else {
      const tick = el("button", "tl-mark", "", data);
      tick.style.left = pct(mark.at_s);
      tick.title = label;
      tick.setAttribute("aria-label", label);
      tick.addEventListener("click", (e) => { e.stopPropagation(); seekTo(rec, mark.segment, mark.segment_s); });
      bar.append(tick);
    }
    const item = el("button", "tl-item", "", data);
    item.append(el("span", "tl-symbol", MARK_SYMBOLS[mark.kind] || "•"),
      el("span", "tl-time", at(mark.at_s)), el("span", "tl-label", mark.label));
    if (mark.verified === false) item.append(el("span", "tl-unverified", "not verified"));
    item.addEventListener("click", () => seekTo(rec, mark.segment, mark.segment_s));
    const li = el("li", "");
    li.append(item);
    list.append(li);
  }
  bar.append(el("div", "tl-head"));
  bar.addEventListener("click", (e) => { // anywhere on the bar: play from that place
    const rect = bar.getBoundingClientRect();
    const t = ((e.clientX - rect.left) / rect.width) * total;
    const i = tl.segments.findLastIndex((seg) => seg.start_s <= t && seg.end_s > seg.start_s);
    if (i >= 0) seekTo(rec, i, Math.min(t - tl.segments[i].start_s, tl.segments[i].end_s - tl.segments[i].start_s));
  });
  const scale = el("div", "tl-scale");
  scale.append(el("span", "", "0:00.0"), el("span", "", at(tl.duration_s)));
  box.append(bar, scale, list);
  return box;
}

// Show a place of a recording in the player: its segment's file, at that many seconds in. A
// player that was playing goes on playing from there; otherwise it shows that frame, paused.
function seekTo(rec, index, seconds) {
  const seg = rec.timeline.segments[index];
  const player = $("player");
  const shown = rec.segments.find((s) => s.url === seg.url) || seg;
  const go = () => { player.currentTime = seconds; };
  if (state.playing !== seg.url) {
    state.playing = seg.url;
    state.playingRec = rec.id;
    player.src = seg.url;
    player.addEventListener("loadedmetadata", go, { once: true });
    caption(shown);
    renderRecordings(state.recordings);
  } else {
    go();
  }
}

function caption(seg) {
  text("player-caption", `${seg.file} · ${seg.status}${seg.detail ? ": " + seg.detail : ""}`);
}

// The playhead: where the player is, on its recording's timeline.
function moveHead() {
  const player = $("player");
  for (const head of document.querySelectorAll(".tl-head")) head.hidden = true;
  const rec = state.recordings.find((r) => r.id === state.playingRec);
  if (!rec || !rec.timeline) return;
  const seg = rec.timeline.segments.find((s) => s.url === state.playing);
  const head = document.querySelector(`.timeline[data-id="${rec.id}"] .tl-head`);
  if (!seg || !head) return;
  head.hidden = false;
  const t = seg.start_s + (player.currentTime || 0);
  head.style.left = `${Math.min(100, (t / Math.max(rec.timeline.duration_s, 0.001)) * 100)}%`;
}
$("player").addEventListener("timeupdate", moveHead);
$("player").addEventListener("seeked", moveHead);
// At the end of a segment, the next one plays: a recording plays through.
$("player").addEventListener("ended", () => {
  const rec = state.recordings.find((r) => r.id === state.playingRec);
  const segs = rec && rec.timeline ? rec.timeline.segments : [];
  const i = segs.findIndex((s) => s.url === state.playing);
  const next = segs.slice(i + 1).find((s) => s.end_s > s.start_s);
  if (i >= 0 && next) {
    playSegment(rec, rec.segments.find((s) => s.url === next.url) || next);
  }
});

function playSegment(rec, seg) {
  const player = $("player");
  state.playing = seg.url;
  state.playingRec = rec.id;
  player.src = seg.url;
  player.muted = false; // a recording's sound is evidence too: it plays with the picture
  player.play().catch(() => {}); // a format the browser cannot play still offers the download
  caption(seg);
  renderRecordings(state.recordings);
}

$("player").addEventListener("error", () => {
  text("player-caption", "this browser cannot play the file; use ⤓ to download it");
});

// -- the simulated world ----------------------------------------------------------------------
for (const el of document.querySelectorAll("[data-cmd]")) {
  el.addEventListener("click", () => command(JSON.parse(el.dataset.cmd)));
}
for (const el of document.querySelectorAll("[data-advance]")) {
  el.addEventListener("click", () => advance(Number(el.dataset.advance)));
}
$("battery").addEventListener("input", () => text("battery-set", `${$("battery").value} %`));
$("battery").addEventListener("change", () => {
  command({ cmd: "battery", percent: Number($("battery").value) });
  $("battery").blur();
});
$("marker-form").addEventListener("submit", (e) => {
  e.preventDefault();
  command({ cmd: "marker", note: $("marker-note").value }).then(() => { $("marker-note").value = ""; });
});
$("boot").addEventListener("click", () => command({ cmd: "boot" }));
$("verify-audit").addEventListener("click", () => command({ cmd: "verify_audit" }));

let toastTimer = null;
function toast(message) {
  const el = $("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
}
const toastIf = (condition, message) => { if (condition) toast(message); };

// -- the preview: MJPEG, reconnected if the stream breaks ------------------------------------
// Started after the page has loaded: a stream never finishes, and would hold up "load".
const startPreview = () => { $("preview").src = `/preview.mjpg?t=${Date.now()}`; };
$("preview").addEventListener("error", () => setTimeout(startPreview, 1000));
if (document.readyState === "complete") startPreview();
else window.addEventListener("load", startPreview);

// -- the event stream ---------------------------------------------------------------------------
function connect() {
  const source = new EventSource("/events");
  const on = (kind, handler) => source.addEventListener(kind, (e) => handler(JSON.parse(e.data)));
  source.onopen = () => { $("connection").dataset.state = "live"; text("connection", "live"); };
  source.onerror = () => { $("connection").dataset.state = "down"; text("connection", "reconnecting…"); };
  on("snapshot", (s) => {
    renderPanel(s.panel);
    renderDaemon(s.daemon);
    if (s.status) {
      anchorLed(s.status.led, s.led_phase_s, s.phase_at_unix, null);
      renderStatus(s.status);
    }
    renderFeed(s.feed, true);
    renderAudit(s.audit, true);
    renderAuditCheck(s.audit_check);
    renderRecordings(s.recordings);
  });
  on("daemon", renderDaemon);
  on("status", (m) => {
    anchorLed(m.status.led, m.led_phase_s, m.phase_at_unix, m.status.utc);
    renderStatus(m.status);
  });
  on("feed", happened);
  on("audit", (entries) => renderAudit(entries, false));
  on("audit_check", renderAuditCheck);
  on("recordings", renderRecordings);
}
connect();

// For people poking at it from the console, and for the browser tests.
window.panel = { command, advance, state };
