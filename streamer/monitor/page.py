"""The monitor page: one self-contained HTML file (no build step, no external assets).

The picture is the MJPEG stream; the state panels poll ``/api/status`` and
``/api/events``. Rule cards speak an operator's words ("2 people inside · last alert
3 min ago · cooling down 12 s"); the raw state stays on ``/api/status``. Each event can be
judged (Correct / Incorrect / Inconclusive) and each rule snoozed or woken: same-origin
JSON POSTs (monitor/review.py). An event with a ready clip shows it in a ``<video>``
(``/api/events/{id}/clip.mp4``; "clip recording…" until then); a card redrawn keeps its
video element, so a clip playing is not cut off by the next event. A ``?token=`` in the
page's URL is passed on to every request it makes.
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
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center;
           padding: .6rem 1rem; background: var(--panel); }
  header h1 { font-size: 1.1rem; margin: 0; }
  .badge { padding: .1rem .5rem; border-radius: .8rem; font-weight: 600; background: var(--muted); color: #000; }
  .badge.live { background: var(--ok); } .badge.connecting, .badge.stalled, .badge.frozen { background: var(--warn); }
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
  @media (max-width: 600px) { main { padding: .5rem; gap: .5rem; } .event img { width: 72px; } }
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
  <div id="view"><img id="live" alt="live view"></div>
  <aside>
    <section><h2>Camera</h2><div id="camera" class="kv"></div></section>
    <section><h2>Rules</h2><div id="rules"></div></section>
    <section><h2>Delivery</h2><div id="delivery" class="kv"></div></section>
    <section><h2>Latest events</h2><div id="events" class="events"></div></section>
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
  if (state.type === "zone") parts.push(plural(state.inside || 0, "person", "people") + " inside");
  else if (state.type === "count") parts.push(plural(state.count || 0, "object", "objects") + " counted");
  else if (state.type === "line") parts.push((state.in || 0) + " crossed in · " + (state.out || 0) + " out");
  else if (state.type === "loiter") {
    const longest = Math.max(0, ...Object.values(state.dwell_s || {}).map(Number));
    parts.push(longest > 0 ? "longest stay " + duration(longest) : "nobody lingering");
  } else if (state.type === "missing_ppe" && state.indeterminate) parts.push(plural(state.indeterminate, "person", "people") + " unclear");
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
let shownEvents = "";
async function refreshEvents() {
  try {
    const response = await fetch(withToken("api/events?limit=12"));
    const events = await response.json();
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
el("live").src = withToken("stream.mjpg");
el("live").addEventListener("error", () => setTimeout(() => { el("live").src = withToken("stream.mjpg?" + Date.now()); }, 2000));
refreshStatus(); refreshEvents();
setInterval(refreshStatus, 1000); setInterval(refreshEvents, 2000);
</script>
</body>
</html>
"""
