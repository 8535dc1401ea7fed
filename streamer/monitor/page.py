"""The monitor page: one self-contained HTML file (no build step, no external assets).

The picture is the MJPEG stream; the state panels poll ``/api/status`` and
``/api/events`` (the outbox's history: newest first, filtered by rule, review and day,
"Older events" pages on; on a phone the events come before the rule cards). Rule cards speak an operator's words ("2 people inside · last alert
3 min ago · cooling down 12 s"); the raw state stays on ``/api/status``. Each event can be
judged (Correct / Incorrect / Inconclusive) and each rule snoozed or woken: same-origin
JSON POSTs (monitor/review.py). An event with a ready clip shows it in a ``<video>``
(``/api/events/{id}/clip.mp4``; "clip recording…" until then); a card redrawn keeps its
video element, so a clip playing is not cut off by the next event. "Edit zones and lines"
opens the places editor (monitor/places.py): the camera's picture without overlay, every
zone and line drawn over it in SVG, corners dragged with pointer events (mouse, touch and
pen alike), a preview of what the changed rules would have fired, and save. A ``?token=``
in the page's URL is passed on to every request it makes.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamer monitor</title>
<style>
  :root { --bg: #111418; --panel: #1b2027; --text: #e8ecf1; --muted: #9aa5b1;
          --ok: #2ecc71; --warn: #f5a623; --bad: #ff4d4f; --accent: #ffb000; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center;
           padding: .6rem 1rem; background: var(--panel); }
  header h1 { font-size: 1.1rem; margin: 0; }
  .badge { padding: .1rem .5rem; border-radius: .8rem; font-weight: 600; background: var(--muted); color: #000; }
  .badge.live { background: var(--ok); } .badge.connecting, .badge.stalled, .badge.frozen { background: var(--warn); }
  .badge.moved, .badge.obstructed, .badge.blurred { background: var(--bad); }
  .badge.offline, .badge.ended { background: var(--bad); }
  main { display: flex; flex-wrap: wrap; gap: 1rem; padding: 1rem; }
  #view { flex: 3 1 480px; min-width: 0; }
  #view img { width: 100%; height: auto; display: block; border-radius: .4rem; background: #000; }
  aside { flex: 1 1 300px; display: flex; flex-direction: column; gap: 1rem; min-width: 0; }
  section { background: var(--panel); border-radius: .4rem; padding: .6rem .8rem; }
  section h2 { font-size: .95rem; margin: 0 0 .4rem; color: var(--accent); }
  .kv { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: .1rem .8rem; }
  .kv span, .event div, .chip { overflow-wrap: anywhere; min-width: 0; }
  .kv span:nth-child(odd) { color: var(--muted); }
  .rule { border-top: 1px solid #2a313a; padding: .35rem 0; }
  .rule:first-of-type { border-top: 0; }
  .chip { display: inline-block; margin: .1rem .25rem .1rem 0; padding: 0 .4rem; border-radius: .3rem;
          background: #2a313a; font-size: .85rem; }
  .events { display: flex; flex-direction: column; gap: .5rem; }
  .event { display: flex; gap: .6rem; align-items: flex-start; }
  .event img { width: 96px; height: auto; border-radius: .25rem; flex: none; }
  .event .what { font-weight: 600; } .event .when { color: var(--muted); font-size: .8rem; }
  .error { color: var(--bad); }
  .say { display: block; margin: .15rem 0; }
  .actions { display: flex; flex-wrap: wrap; gap: .3rem; margin-top: .25rem; }
  button { font: inherit; font-size: .85rem; padding: .3rem .6rem; border-radius: .3rem; border: 1px solid #3a434e;
           background: #2a313a; color: var(--text); min-height: 2rem; cursor: pointer; }
  button[aria-pressed="true"] { background: var(--accent); color: #000; border-color: var(--accent); }
  .snoozed { color: var(--warn); font-weight: 600; }
  #who { font: inherit; padding: .2rem .4rem; border-radius: .3rem; border: 1px solid #3a434e;
         background: #111418; color: var(--text); width: 11rem; max-width: 100%; }
  #note { color: var(--warn); }
  .event .verdict, .event .clip-note { color: var(--muted); font-size: .8rem; }
  .event video { display: block; width: 100%; max-width: 320px; margin-top: .25rem; border-radius: .25rem; background: #000; }
  #places { margin-top: .6rem; }
  #pe-stage { position: relative; touch-action: none; user-select: none; -webkit-user-select: none; }
  #pe-stage img { width: 100%; height: auto; display: block; border-radius: .4rem; background: #000; }
  #pe-svg { position: absolute; inset: 0; width: 100%; height: 100%; overflow: visible; }
  #pe-svg .shape { fill: rgba(255, 176, 0, .12); stroke: var(--accent); stroke-width: 2; vector-effect: non-scaling-stroke; cursor: pointer; }
  #pe-svg polyline.shape { fill: none; stroke: #4fc3f7; stroke-width: 3; }
  #pe-svg .shape.picked { fill: rgba(255, 176, 0, .28); stroke: #fff; stroke-width: 3; }
  #pe-svg polyline.shape.picked { fill: none; }
  #pe-svg .label { fill: #fff; paint-order: stroke; stroke: #000; stroke-width: 3px; pointer-events: none; }
  #pe-svg .corner { fill: #fff; stroke: #000; stroke-width: 2; vector-effect: non-scaling-stroke; cursor: grab; }
  #pe-svg .corner.chosen { fill: var(--bad); }
  #pe-svg .insert { fill: rgba(255, 255, 255, .55); stroke: #000; stroke-width: 1; vector-effect: non-scaling-stroke; cursor: copy; }
  #places input, #places select { font: inherit; padding: .25rem .4rem; border-radius: .3rem; border: 1px solid #3a434e;
           background: #111418; color: var(--text); min-height: 2rem; max-width: 100%; }
  .hint { color: var(--muted); font-size: .85rem; margin: .3rem 0; }
  #pe-note.bad { color: var(--bad); } #pe-note.good { color: var(--ok); }
  .preview { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 220px), 1fr)); gap: .6rem; margin-top: .4rem; }
  .preview h3 { font-size: .9rem; margin: .2rem 0; } .preview ol { margin: 0; padding-left: 1.2rem; }
  .preview li { overflow-wrap: anywhere; }
  .filters { display: flex; flex-wrap: wrap; gap: .3rem; margin-bottom: .4rem; }
  .filters select, .filters input { font: inherit; font-size: .85rem; min-height: 2rem; padding: .2rem .3rem;
    border-radius: .3rem; border: 1px solid #3a434e; background: #111418; color: var(--text); }
  #older { margin-top: .5rem; width: 100%; }
  /* On a phone the events come right under the picture, before the rule cards. */
  @media (max-width: 600px) { main { padding: .5rem; gap: .5rem; } .event img { width: 72px; }
    #events-panel { order: -1; } }
</style>
</head>
<body>
<header>
  <h1 id="title">streamer</h1>
  <span id="health" class="badge">connecting</span>
  <span id="rates"></span>
  <span id="degraded" class="badge offline" hidden>outbox not writable: events at risk</span>
  <input id="who" placeholder="Your name (optional)" aria-label="your name, kept with reviews and snoozes" maxlength="80">
  <span id="note" role="status"></span>
</header>
<main>
  <div id="view"><img id="live" alt="live view">
    <div class="actions"><button type="button" id="pe-open">Edit zones and lines</button></div>
    <section id="places" hidden>
      <h2>Zones and lines</h2>
      <div class="actions">
        <select id="pe-place" aria-label="place to edit"></select>
        <button type="button" id="pe-pause" aria-pressed="false">Pause picture</button>
      </div>
      <div id="pe-stage"><img id="pe-frame" alt="the camera's picture"><svg id="pe-svg" preserveAspectRatio="none" viewBox="0 0 1 1" aria-label="zones and lines on the picture"></svg></div>
      <p class="hint">Drag a corner or an end. Drag a small + between two corners to add one; tap a corner, then Delete corner.</p>
      <div class="actions">
        <button type="button" id="pe-delete">Delete corner</button>
        <button type="button" id="pe-preview">What would it have fired?</button>
        <button type="button" id="pe-save">Save</button>
        <button type="button" id="pe-revert">Undo changes</button>
        <button type="button" id="pe-close">Close</button>
      </div>
      <div class="actions">
        <input id="pe-new-id" placeholder="id of a new place" aria-label="id of a new zone or line" maxlength="100">
        <button type="button" id="pe-new-zone">New zone</button>
        <button type="button" id="pe-new-line">New line</button>
      </div>
      <div id="pe-note" role="status"></div>
      <div id="pe-result"></div>
    </section>
  </div>
  <aside>
    <section><h2>Camera</h2><div id="camera" class="kv"></div>
      <div id="view-actions" class="actions" hidden><button type="button" id="reference">This view is right</button></div></section>
    <section><h2>Rules</h2><div id="rules"></div></section>
    <section><h2>Delivery</h2><div id="delivery" class="kv"></div></section>
    <section id="events-panel"><h2>Events</h2>
      <div class="filters">
        <select id="f-rule" aria-label="only this rule's events"><option value="">All rules</option></select>
        <select id="f-verdict" aria-label="only events with this review">
          <option value="">Any review</option><option value="none">Not reviewed</option>
          <option value="correct">Correct</option><option value="incorrect">Incorrect</option>
          <option value="inconclusive">Inconclusive</option></select>
        <input id="f-day" type="date" aria-label="only events of this day">
      </div>
      <div id="events" class="events"></div>
      <button id="older" type="button" hidden>Older events</button>
    </section>
  </aside>
</main>
<script>
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const el = (id) => document.getElementById(id);
const text = (value) => document.createTextNode(value === null || value === undefined ? "" : String(value));
function kv(target, pairs) {
  target.replaceChildren();
  for (const [key, value] of pairs) {
    const k = document.createElement("span"); k.append(text(key));
    const v = document.createElement("span"); v.append(text(value));
    target.append(k, v);
  }
}
function fmt(value) {
  if (typeof value === "number") return Number.isInteger(value) ? value : value.toFixed(2);
  if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => k + "=" + fmt(v)).join(" ") || "-";
  return value;
}
async function refreshStatus() {
  try {
    const response = await fetch(withToken("api/status"));
    const status = await response.json();
    const camera = status.camera || {};
    el("title").textContent = "streamer · " + (camera.id || "camera");
    el("health").textContent = camera.state || "unknown";
    el("health").className = "badge " + (camera.state || "");
    el("rates").textContent = fmt(camera.fps_in || 0) + " fps in · " + fmt(camera.fps_out || 0) + " fps out";
    const cameraRows = [["source", camera.source], ["frames", camera.frames_total],
      ["dropped", camera.frames_dropped_total], ["reconnects", camera.reconnects_total],
      ["last frame", fmt(camera.last_frame_age_s) + " s ago"]];
    if (camera.away_s !== null && camera.away_s !== undefined) {
      // An outage: how long, how many tries so far, and when the next one comes.
      cameraRows.push(["away", fmt(camera.away_s) + " s · " + camera.reconnect_attempts + " attempt(s)"]);
      cameraRows.push(["next attempt", camera.next_attempt_at === null ? "now (opening)"
        : "in " + fmt(camera.next_attempt_in_s) + " s · " + camera.next_attempt_at]);
    }
    const view = camera.view;
    el("view-actions").hidden = !view;
    if (view) cameraRows.push(["view", viewWords(view)]);
    kv(el("camera"), cameraRows);
    showRules(status.rules || {}, status.review || {});
    const events = status.events || {};
    el("degraded").hidden = !events.degraded;
    const pairs = [["accepted", events.accepted_total], ["dropped", events.dropped_total]];
    if (events.degraded) {
      pairs.push(["outbox", "NOT WRITABLE: " + events.store_error + " · " + events.waiting + " events wait in memory"]);
    }
    if (events.unstored_total) {
      pairs.push(["not stored", events.unstored_total + " · " + Object.entries(events.unstored_reasons || {})
        .filter(([, n]) => n > 0).map(([reason, n]) => n + ": " + reason).join(" · ")]);
    }
    for (const [sink, counts] of Object.entries(status.sinks || {})) {
      pairs.push([sink, "delivered " + (counts.delivered || 0) + " · pending " + (counts.pending || 0) +
                  " · dead " + (counts.dead || 0) + backlogText(counts) +
                  (counts.last_error ? " · " + counts.last_error : "")]);
    }
    kv(el("delivery"), pairs);
  } catch (error) {
    el("health").textContent = "monitor unreachable"; el("health").className = "badge offline";
  }
}
// --- rules in words, with snooze and wake ------------------------------------------
const who = el("who");
who.value = localStorage.getItem("streamer-who") || "";
who.addEventListener("change", () => localStorage.setItem("streamer-who", who.value.trim()));
function say(message) { el("note").textContent = message; }
// The tamper checks (moved, obstructed, blurred) in words, with their figures.
function viewWords(view) {
  const f = view.figures || {};
  const parts = [view.state || "not checked yet"];
  if (view.reason) parts.push(view.reason);
  else if (f.shift_px !== undefined) {
    parts.push("shift " + (f.shift_px === null ? "?" : fmt(f.shift_px)) + " px · covered " +
      Math.round((f.covered || 0) * 100) + "% · sharpness " + Math.round((f.sharpness_ratio || 0) * 100) + "%");
  }
  const ref = view.reference;
  parts.push(view.retake_pending ? "new reference view on the next check"
    : ref ? "reference " + ref.taken_at + (ref.night ? " (night view)" : "") : "no reference view yet");
  return parts.join(" · ");
}
el("reference").addEventListener("click", async () => {
  if (await post("api/camera/reference", {})) say("the next frame becomes the reference view");
});
async function post(path, body) {
  try {
    const response = await fetch(withToken(path), {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({...body, by: who.value.trim() || null})});
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { say("not done: " + (answer.error || response.status)); return null; }
    say(""); return answer;
  } catch (error) { say("not done: the monitor is unreachable"); return null; }
}
const plural = (n, one, many) => n + " " + (n === 1 ? one : many);
const title = (id) => { const words = id.replace(/[-_]+/g, " ").trim(); return words.charAt(0).toUpperCase() + words.slice(1); };
function ago(s) { return s < 5 ? "just now" : duration(s) + " ago"; }
function ruleWords(id, state, review) {
  const parts = [title(id)];
  if (state.headline) parts.push(state.headline);  // the rule's own words (Rule.headline)
  const age = (review.last_alert_age_s || {})[id];
  parts.push(age === undefined ? "no alert yet" : "last alert " + ago(age));
  const cooling = Math.max(0, ...Object.values(state.cooldowns_s || {}).map(Number));
  if (cooling > 0) parts.push("cooling down " + Math.ceil(cooling) + " s");
  if (state.active === false) parts.push("off (outside its hours)");
  parts.push(plural(state.fired_total || 0, "alert", "alerts") + " this run");
  const judged = (review.precision || {})[id];
  if (judged && judged.reviewed) {
    parts.push((judged.precision === null ? "no decisive review" : Math.round(judged.precision * 100) + "% correct")
      + " of " + plural(judged.reviewed, "review", "reviews"));
  }
  return parts.join(" · ");
}
function button(label, onClick, pressed) {
  const b = document.createElement("button"); b.type = "button"; b.append(text(label));
  if (pressed !== undefined) b.setAttribute("aria-pressed", String(pressed));
  b.addEventListener("click", onClick); return b;
}
const ruleRows = {};
function showRules(rules, review) {
  const box = el("rules");
  for (const id of Object.keys(ruleRows)) if (!(id in rules)) { ruleRows[id].remove(); delete ruleRows[id]; }
  for (const [id, state] of Object.entries(rules)) {
    let row = ruleRows[id];
    if (!row) {
      row = document.createElement("div"); row.className = "rule"; row.dataset.rule = id;
      row.innerHTML = '<span class="say"></span><span class="say snoozed"></span><div class="actions"></div>';
      box.append(row); ruleRows[id] = row;
    }
    ruleOption(id);
    row.children[0].textContent = ruleWords(id, state, review);
    const snooze = (review.snoozes || {})[id];
    row.children[1].textContent = snooze ? "Snoozed" + (snooze.by ? " by " + snooze.by : "") + " until " +
      new Date(snooze.until).toLocaleTimeString() + " (" + duration(snooze.remaining_s) + " left · " +
      plural((review.hidden_by_snooze || {})[id] || 0, "alert", "alerts") + " held back)" : "";
    const shift = (review.shift_end || {})[id];
    const controls = snooze ? "wake" : "snooze" + (shift || "");
    const actions = row.children[2];
    if (actions.dataset.controls === controls) continue;  // keep buttons steady under the finger
    actions.dataset.controls = controls; actions.replaceChildren();
    const act = (path, body) => async () => { if (await post("api/rules/" + encodeURIComponent(id) + path, body)) refreshStatus(); };
    if (snooze) { actions.append(button("Wake now", act("/wake", {}))); continue; }
    actions.append(button("Snooze 15 min", act("/snooze", {for: "15m"})), button("Snooze 1 h", act("/snooze", {for: "1h"})),
      shift ? button("Snooze to end of shift (" + new Date(shift).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}) + ")", act("/snooze", {for: "shift"}))
            : button("Snooze 8 h", act("/snooze", {for: "8h"})));
  }
}
function backlogText(counts) {
  // Only a real backlog is worth a line: its oldest event's age and when it should be gone.
  if (!counts.backlog || counts.backlog_age_s == null || counts.backlog_age_s < 10) return "";
  const eta = counts.drain_eta_s == null ? "not draining now" : "drains in ~" + duration(counts.drain_eta_s);
  return " · backlog " + counts.backlog + ", oldest " + duration(counts.backlog_age_s) + " old, " + eta;
}
function duration(s) {
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
// --- events: the outbox's history (it survives a restart), newest first, filtered ------
const PAGE_SIZE = 12;
let shownEvents = "";
let olderEvents = [];  // pages fetched with "Older events", kept below the newest page
function eventsQuery(before) {
  const params = new URLSearchParams({limit: PAGE_SIZE});
  if (before) params.set("before", before);
  if (el("f-rule").value) params.set("rule", el("f-rule").value);
  if (el("f-verdict").value) params.set("verdict", el("f-verdict").value);
  if (el("f-day").value) { params.set("day", el("f-day").value);
    params.set("tz_offset_min", new Date(el("f-day").value + "T12:00").getTimezoneOffset()); }
  return withToken("api/events?" + params);
}
function ruleOption(id) {
  const select = el("f-rule");
  if ([...select.options].some((option) => option.value === id)) return;
  const option = document.createElement("option"); option.value = id; option.append(text(id)); select.append(option);
}
for (const id of ["f-rule", "f-verdict", "f-day"]) {
  el(id).addEventListener("change", () => { olderEvents = []; shownEvents = ""; refreshEvents(); });
}
el("older").addEventListener("click", async () => {
  const rows = el("events").querySelectorAll(".event");
  const last = rows.length ? rows[rows.length - 1].dataset.eventId : null;
  try {
    const page = await (await fetch(eventsQuery(last))).json();
    olderEvents = olderEvents.concat(page); shownEvents = "";
    if (page.length < PAGE_SIZE) el("older").dataset.end = "1";
    refreshEvents();
  } catch (error) { say("the monitor is unreachable"); }
});
async function refreshEvents() {
  try {
    const response = await fetch(eventsQuery(null));
    const newest = await response.json();
    if (!Array.isArray(newest)) return;
    const seen = new Set(newest.map((e) => e.eventId));
    const events = newest.concat(olderEvents.filter((e) => !seen.has(e.eventId)));
    for (const event of events) ruleOption(event.rule_id);
    const older = el("older");
    if (!olderEvents.length) delete older.dataset.end;
    older.hidden = newest.length < PAGE_SIZE || older.dataset.end === "1";
    const key = events.map((e) => e.eventId + ":" + e.verdict + ":" + e.clip).join(",");
    if (key === shownEvents) return;
    shownEvents = key;
    const list = el("events");
    // Videos already on the page move into their redrawn card: one playing keeps playing.
    const videos = {};
    for (const video of list.querySelectorAll("video[data-clip]")) videos[video.dataset.clip] = video;
    list.replaceChildren();
    for (const event of events) {
      const row = document.createElement("div"); row.className = "event"; row.dataset.eventId = event.eventId;
      const image = document.createElement("img"); image.loading = "lazy"; image.alt = "snapshot";
      image.src = withToken("events/" + encodeURIComponent(event.eventId) + "/snapshot.jpg");
      const body = document.createElement("div");
      const what = document.createElement("div"); what.className = "what"; what.append(text(event.description));
      const when = document.createElement("div"); when.className = "when";
      when.append(text(event.timestamp + " · " + event.rule_id + " · " + event.delivery));
      const verdict = document.createElement("div"); verdict.className = "verdict";
      verdict.append(text(event.verdict ? "Reviewed: " + event.verdict : "Not reviewed yet"));
      const actions = document.createElement("div"); actions.className = "actions";
      for (const choice of ["correct", "incorrect", "inconclusive"]) {
        actions.append(button(choice.charAt(0).toUpperCase() + choice.slice(1), async () => {
          if (await post("api/events/" + encodeURIComponent(event.eventId) + "/review", {verdict: choice})) {
            for (const kept of olderEvents) if (kept.eventId === event.eventId) kept.verdict = choice;
            shownEvents = ""; refreshEvents(); refreshStatus();
          }
        }, event.verdict === choice));
      }
      body.append(what, when, verdict, actions);
      const clip = clipView(event, videos);
      if (clip) body.append(clip);
      row.append(image, body); list.append(row);
    }
  } catch (error) { /* the status panel already shows the monitor is unreachable */ }
}
const CLIP_NOTES = {recording: "clip recording…", failed: "no clip: the recording failed",
  overdue: "no clip: not ready in time"};
function clipView(event, videos) {
  if (event.clip === "ready") {
    let video = videos[event.eventId];
    if (!video) {
      video = document.createElement("video"); video.controls = true; video.preload = "metadata";
      video.muted = true; video.playsInline = true; video.dataset.clip = event.eventId;
      video.src = withToken("api/events/" + encodeURIComponent(event.eventId) + "/clip.mp4");
    }
    return video;
  }
  if (!CLIP_NOTES[event.clip]) return null;
  const note = document.createElement("div"); note.className = "clip-note";
  note.append(text(CLIP_NOTES[event.clip])); return note;
}
// --- the places editor (monitor/places.py): drag corners on the camera's picture ---------
// Paths are relative to the page, so a camera's page under a prefix edits that camera.
const placesApi = location.pathname.replace(/[^/]*$/, "") + "api/places";
const SVG = "http://www.w3.org/2000/svg";
const pe = {shapes: {}, order: [], key: null, corner: null, drag: null, paused: false, timer: null, width: 1, height: 1, drawnWidth: 0};
const round4 = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
const copyPoints = (points) => points.map((p) => [p[0], p[1]]);
function peSay(message, kind) { const note = el("pe-note"); note.textContent = message; note.className = kind || ""; }
function shapeOf(kind, place) {
  const points = kind === "zone" ? place.polygon : [place.start, place.end];
  return {kind, id: place.id, rules: place.rules || [], points: copyPoints(points), saved: copyPoints(points)};
}
const dirty = (shape) => JSON.stringify(shape.points) !== JSON.stringify(shape.saved);
async function openPlaces() {
  peSay("loading the places…");
  try {
    const response = await fetch(withToken(placesApi));
    const data = await response.json();
    if (!response.ok) { peSay("cannot edit places: " + (data.error || response.status), "bad"); el("places").hidden = false; return; }
    pe.width = data.width; pe.height = data.height; pe.shapes = {}; pe.order = [];
    for (const zone of data.zones) addShape(shapeOf("zone", zone));
    for (const line of data.lines) addShape(shapeOf("line", line));
    el("pe-svg").setAttribute("viewBox", "0 0 " + data.width + " " + data.height);
    pe.key = pe.key in pe.shapes ? pe.key : (pe.order[0] || null); pe.corner = null;
    el("places").hidden = false; el("live").hidden = true; el("pe-open").hidden = true;
    peSay(data.editable ? "" : "this run has no config file: places can be looked at, not saved");
    for (const id of ["pe-save", "pe-new-zone", "pe-new-line"]) el(id).disabled = !data.editable;
    refreshFrame(); clearInterval(pe.timer); pe.timer = setInterval(refreshFrame, 1000);
    fillPlaces(); drawPlaces();
  } catch (error) { peSay("the monitor is unreachable", "bad"); }
}
function closePlaces() {
  clearInterval(pe.timer); pe.timer = null;
  el("places").hidden = true; el("live").hidden = false; el("pe-open").hidden = false;
}
function addShape(shape) { const key = shape.kind + ":" + shape.id; pe.shapes[key] = shape; if (!pe.order.includes(key)) pe.order.push(key); return key; }
function refreshFrame() {
  if (pe.paused || el("places").hidden) return;
  const url = withToken(placesApi + "/frame.jpg");
  el("pe-frame").src = url + (url.includes("?") ? "&" : "?") + "t=" + Date.now();
}
function fillPlaces() {
  const select = el("pe-place"); select.replaceChildren();
  for (const key of pe.order) {
    const shape = pe.shapes[key]; const option = document.createElement("option"); option.value = key;
    option.append(text((shape.kind === "zone" ? "Zone " : "Line ") + shape.id + (dirty(shape) ? " (changed)" : "") +
      (shape.rules.length ? " · " + shape.rules.join(", ") : "")));
    select.append(option);
  }
  select.value = pe.key || "";
  const shape = pe.shapes[pe.key];
  el("pe-delete").disabled = !shape || shape.kind !== "zone" || pe.corner === null || shape.points.length <= 3;
}
function svgNode(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}
function drawPlaces() {
  const svg = el("pe-svg"); svg.replaceChildren();
  const box = svg.getBoundingClientRect();
  pe.drawnWidth = box.width;
  // Handles keep a finger's size on screen whatever the picture's scale.
  const scale = box.width > 0 ? pe.width / box.width : 1;
  const px = (p) => [p[0] * pe.width, p[1] * pe.height];
  const ordered = pe.order.filter((key) => key !== pe.key).concat(pe.key ? [pe.key] : []);
  for (const key of ordered) {
    const shape = pe.shapes[key]; const picked = key === pe.key;
    const points = shape.points.map(px).map((p) => p.join(",")).join(" ");
    const outline = svgNode(shape.kind === "zone" ? "polygon" : "polyline",
      {points, class: "shape" + (picked ? " picked" : ""), "data-place": shape.id, "data-kind": shape.kind});
    outline.addEventListener("pointerdown", (event) => { if (pe.key !== key) { event.preventDefault(); pe.key = key; pe.corner = null; fillPlaces(); drawPlaces(); } });
    svg.append(outline);
    const [lx, ly] = px(shape.points[0]);
    const label = svgNode("text", {x: lx + 8 * scale, y: Math.max(ly - 8 * scale, 14 * scale), class: "label", "font-size": 14 * scale});
    label.append(text(shape.id)); svg.append(label);
    if (!picked) continue;
    if (shape.kind === "zone") {
      shape.points.forEach((p, i) => {
        const q = shape.points[(i + 1) % shape.points.length];
        const [mx, my] = px([(p[0] + q[0]) / 2, (p[1] + q[1]) / 2]);
        svg.append(svgNode("circle", {cx: mx, cy: my, r: 8 * scale, class: "insert", "data-insert": i, "data-place": shape.id}));
      });
    }
    shape.points.forEach((p, i) => {
      const [cx, cy] = px(p);
      svg.append(svgNode("circle", {cx, cy, r: 12 * scale, class: "corner" + (pe.corner === i ? " chosen" : ""),
        "data-corner": i, "data-place": shape.id, "aria-label": shape.id + " corner " + (i + 1)}));
    });
  }
}
function pointerFraction(event) {
  const box = el("pe-svg").getBoundingClientRect();
  return [round4((event.clientX - box.left) / box.width), round4((event.clientY - box.top) / box.height)];
}
el("pe-svg").addEventListener("pointerdown", (event) => {
  const target = event.target; const shape = pe.shapes[pe.key];
  if (!shape || !(target instanceof SVGElement)) return;
  let index = null;
  if (target.dataset.corner !== undefined) index = Number(target.dataset.corner);
  else if (target.dataset.insert !== undefined) {
    index = Number(target.dataset.insert) + 1;
    shape.points.splice(index, 0, pointerFraction(event));
  } else return;
  event.preventDefault();
  el("pe-svg").setPointerCapture(event.pointerId);
  pe.drag = {index, pointer: event.pointerId, x: event.clientX, y: event.clientY, moved: target.dataset.insert !== undefined};
  pe.corner = index; fillPlaces(); drawPlaces();
});
el("pe-svg").addEventListener("pointermove", (event) => {
  const drag = pe.drag; const shape = pe.shapes[pe.key];
  if (!drag || !shape || event.pointerId !== drag.pointer) return;
  event.preventDefault();
  if (!drag.moved && Math.hypot(event.clientX - drag.x, event.clientY - drag.y) < 3) return;
  drag.moved = true;
  shape.points[drag.index] = pointerFraction(event);
  drawPlaces();
});
function endDrag(event) {
  const drag = pe.drag; const shape = pe.shapes[pe.key];
  if (!drag || event.pointerId !== drag.pointer) return;
  // The finger's last position: a busy page may have merged the last moves into the lift.
  if (event.type === "pointerup" && drag.moved && shape) shape.points[drag.index] = pointerFraction(event);
  pe.drag = null; fillPlaces(); drawPlaces();
}
el("pe-svg").addEventListener("pointerup", endDrag);
el("pe-svg").addEventListener("pointercancel", endDrag);
function deleteCorner() {
  const shape = pe.shapes[pe.key];
  if (!shape || shape.kind !== "zone" || pe.corner === null) return;
  if (shape.points.length <= 3) { peSay("a zone needs at least 3 corners", "bad"); return; }
  shape.points.splice(pe.corner, 1); pe.corner = null; fillPlaces(); drawPlaces();
}
function newPlace(kind) {
  const id = el("pe-new-id").value.trim();
  if (!id) { peSay("type an id for the new " + kind + " first", "bad"); return; }
  if (pe.shapes[kind + ":" + id]) { peSay("there is already a " + kind + " " + id, "bad"); return; }
  const points = kind === "zone" ? [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]] : [[0.3, 0.5], [0.7, 0.5]];
  pe.key = addShape({kind, id, rules: [], points, saved: []}); pe.corner = null;
  el("pe-new-id").value = ""; fillPlaces(); drawPlaces();
  peSay("new " + kind + " " + id + ": drag it into place, then Save");
}
function bodyOf(shape) {
  const points = shape.points.map((p) => [round4(p[0]), round4(p[1])]);
  return shape.kind === "zone" ? {polygon: points} : {start: points[0], end: points[1]};
}
async function sendPlace(shape, suffix, method) {
  const response = await fetch(withToken(placesApi + "/" + encodeURIComponent(shape.id) + suffix), {
    method, headers: {"Content-Type": "application/json"}, body: JSON.stringify(bodyOf(shape))});
  const answer = await response.json().catch(() => ({}));
  return [response.ok, answer, response.status];
}
async function savePlace() {
  const shape = pe.shapes[pe.key]; if (!shape) return;
  peSay("saving " + shape.id + "…");
  try {
    const [ok, answer, status] = await sendPlace(shape, "", "PUT");
    if (!ok) { peSay("not saved: " + (answer.error || status), "bad"); return; }
    const points = shape.kind === "zone" ? answer.polygon : [answer.start, answer.end];
    shape.points = copyPoints(points); shape.saved = copyPoints(points);
    peSay("saved " + shape.id + " (" + answer.units + "; the old file is kept as " + answer.backup + "); " +
      (answer.live ? "the camera uses it now" : "the camera takes it on its next frame"), "good");
    fillPlaces(); drawPlaces();
  } catch (error) { peSay("not saved: the monitor is unreachable", "bad"); }
}
function alertList(title, alerts) {
  const box = document.createElement("div"); const head = document.createElement("h3");
  head.append(text(title + " (" + alerts.length + ")")); box.append(head);
  const list = document.createElement("ol");
  for (const alert of alerts) {
    const item = document.createElement("li");
    item.append(text((alert.time ? new Date(alert.time).toLocaleTimeString() : alert.t_s + " s") + " · " + alert.rule + " · " + alert.description));
    list.append(item);
  }
  if (!alerts.length) { const none = document.createElement("p"); none.className = "hint"; none.append(text("none")); box.append(none); }
  else box.append(list);
  return box;
}
async function previewPlace() {
  const shape = pe.shapes[pe.key]; if (!shape) return;
  peSay("replaying the last minutes through the changed rules…");
  const out = el("pe-result"); out.replaceChildren();
  try {
    const [ok, answer, status] = await sendPlace(shape, "/preview", "POST");
    if (!ok) { peSay("no preview: " + (answer.error || status), "bad"); return; }
    if (!answer.rules.length) { peSay("no rule watches " + shape.id + " yet: nothing would fire"); return; }
    const span = answer.from_t_s === null ? 0 : answer.to_t_s - answer.from_t_s;
    peSay("over the last " + duration(span) + " (" + answer.frames + " frames), rules " + answer.rules.join(", ") + ":");
    const grid = document.createElement("div"); grid.className = "preview"; grid.id = "pe-preview-lists";
    grid.append(alertList("Would have fired with this change", answer.would_fire), alertList("Actually fired", answer.fired));
    out.append(grid);
  } catch (error) { peSay("no preview: the monitor is unreachable", "bad"); }
}
el("pe-open").addEventListener("click", openPlaces);
el("pe-close").addEventListener("click", closePlaces);
el("pe-place").addEventListener("change", () => { pe.key = el("pe-place").value; pe.corner = null; fillPlaces(); drawPlaces(); });
el("pe-pause").addEventListener("click", () => {
  pe.paused = !pe.paused; el("pe-pause").setAttribute("aria-pressed", String(pe.paused));
  el("pe-pause").textContent = pe.paused ? "Resume picture" : "Pause picture"; refreshFrame();
});
el("pe-delete").addEventListener("click", deleteCorner);
el("pe-save").addEventListener("click", savePlace);
el("pe-preview").addEventListener("click", previewPlace);
el("pe-revert").addEventListener("click", () => {
  const shape = pe.shapes[pe.key]; if (!shape) return;
  if (!shape.saved.length) { delete pe.shapes[pe.key]; pe.order = pe.order.filter((k) => k !== pe.key); pe.key = pe.order[0] || null; }
  else shape.points = copyPoints(shape.saved);
  pe.corner = null; el("pe-result").replaceChildren(); peSay(""); fillPlaces(); drawPlaces();
});
el("pe-new-zone").addEventListener("click", () => newPlace("zone"));
el("pe-new-line").addEventListener("click", () => newPlace("line"));
document.addEventListener("keydown", (event) => {
  if (!el("places").hidden && (event.key === "Delete" || event.key === "Backspace") && event.target === document.body) deleteCorner();
});
// Handles are sized for the screen: redraw when the picture's size on screen changes
// (its first load, a turned phone), not on every refresh, so a handle under the finger stays.
function redrawIfResized() {
  if (!el("places").hidden && el("pe-svg").getBoundingClientRect().width !== pe.drawnWidth) drawPlaces();
}
window.addEventListener("resize", redrawIfResized);
el("pe-frame").addEventListener("load", redrawIfResized);
el("live").src = withToken("stream.mjpg");
el("live").addEventListener("error", () => setTimeout(() => { el("live").src = withToken("stream.mjpg?" + Date.now()); }, 2000));
refreshStatus(); refreshEvents();
setInterval(refreshStatus, 1000); setInterval(refreshEvents, 2000);
</script>
</body>
</html>
"""
