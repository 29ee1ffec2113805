// The wall display: numbers being served counter by counter, the calls just made (each
// highlighted for HIGHLIGHT_MS, none dropped), people waiting and the wait per service.
import { $, CALL_TYPES, clock, config, connectLive, counters, el, fmt, linkBadge, services } from "./live.js";
import { audioReady, chime, unlockAudio } from "./chime.js";
import { closedWords } from "./hours.js";

const HIGHLIGHT_MS = 12000;   // a new call stands out at least this long
const BANNER_MIN_MS = 4000;   // with calls queued behind it, the banner moves on after this
const CALLS_SHOWN = 7;
const CATCH_UP_S = 60;        // after a reconnect, calls missed in the last minute still flash

const params = new URLSearchParams(location.search);
const TOKEN_KEY = "qms_display_token";
if (params.get("token")) { // pairing link: keep the device token, then hide it from the URL
  localStorage.setItem(TOKEN_KEY, params.get("token"));
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? `?${params}` : ""));
}
const wantSite = params.get("site") || null;
const wantCounters = params.get("counters")
  ? params.get("counters").split(",").map((s) => parseInt(s, 10)).filter((n) => Number.isInteger(n))
  : null;

const model = {
  snap: null,
  site: wantSite || config.main_site,
  counters: [],           // counter numbers this display shows
  calls: new Map(),       // seq -> call, newest first when shown
  flashUntil: new Map(),  // seq -> ms timestamp
  cardFlash: new Map(),   // counter -> {until, seq}
  maxCallSeq: 0,
  hadSnapshot: false,
};
const banner = { queue: [], current: null, shownAt: 0 };

function bind(snap) {
  const c = snap.client || {};
  model.site = c.site || wantSite || config.main_site;
  const list = c.counters || wantCounters;
  model.counters = list && list.length ? list : config.counters.filter((k) => k.site === model.site).map((k) => k.number);
  document.body.dataset.site = model.site;
}

function isMine(counter) { return model.counters.includes(counter); }

// --- calls and highlights -----------------------------------------------------------------
function addCall(call, highlight) {
  if (!isMine(call.counter) || model.calls.has(call.seq)) return;
  model.calls.set(call.seq, call);
  model.maxCallSeq = Math.max(model.maxCallSeq, call.seq);
  if (!highlight) return;
  const until = Date.now() + HIGHLIGHT_MS;
  model.flashUntil.set(call.seq, until);
  const card = model.cardFlash.get(call.counter);
  if (!card || card.seq < call.seq) model.cardFlash.set(call.counter, { until, seq: call.seq });
  banner.queue.push(call);
  banner.queue.sort((a, b) => a.seq - b.seq);
  chime();
}

function callFromEvent(ev) {
  return { seq: ev.seq, at: ev.at, ticket_id: ev.ticket_id, counter: ev.counter, code: ev.data.code,
           recall: ev.type !== "ticket_call" };
}

function onSnapshot(snap) {
  const first = !model.hadSnapshot;
  model.snap = snap;
  if (snap.client) bind(snap);
  if (first && !wantSite && snap.client && !snap.client.site) {
    // a signed-in person opened /display without ?site=: watch the main site
    live.socket.emit("subscribe", { center: config.center.id, site: config.main_site,
                                    ...(wantCounters ? { counters: wantCounters } : {}) });
  }
  const previousMax = model.maxCallSeq;
  const fresh = new Map();
  for (const call of [...snap.recent_calls].reverse()) { // oldest first: highlights keep order
    if (!isMine(call.counter)) continue;
    fresh.set(call.seq, call);
  }
  for (const [seq, call] of model.calls) if (seq > snap.seq) fresh.set(seq, call);
  const missed = [...fresh.values()].filter((c) => !first && c.seq > previousMax && clock.now() - c.at < CATCH_UP_S);
  model.calls = new Map([...fresh.values()].filter((c) => !missed.includes(c)).map((c) => [c.seq, c]));
  for (const c of model.calls.values()) model.maxCallSeq = Math.max(model.maxCallSeq, c.seq);
  for (const call of missed) addCall(call, true);
  model.hadSnapshot = true;
  render();
}

function onEvent(ev) {
  if (!model.snap) return;
  if (CALL_TYPES.has(ev.type) && ev.counter != null) {
    const row = model.snap.counters.find((c) => c.number === ev.counter);
    if (row) row.ticket = { ...(row.ticket || {}), id: ev.ticket_id, code: ev.data.code, state: "called", called_at: ev.at };
    addCall(callFromEvent(ev), true);
    render();
  }
}

// --- rendering ----------------------------------------------------------------------------
function counterCard(number) {
  const row = model.snap.counters.find((c) => c.number === number) || { state: "closed" };
  const t = row.ticket;
  const flash = model.cardFlash.get(number);
  const flashing = flash && flash.until > Date.now();
  let big = "—", note = "";
  if (t) big = t.code;
  if (row.state === "closed") note = "Đóng · Closed";
  else if (row.state === "paused") note = "Tạm nghỉ · On break";
  else if (!t) note = "Sẵn sàng · Ready";
  else if (t.state === "called") note = "Đang mời · Calling";
  else note = "Đang phục vụ · Serving";
  return el("div", { class: `card state-${row.state}${t ? " busy" : ""}${flashing ? " flash" : ""}`, dataset: { counter: number } },
    el("div", { class: "card-label" }, el("span", { class: "vi" }, `Quầy ${number}`), el("span", { class: "en" }, `Counter ${number}`)),
    el("div", { class: "card-number", dataset: { code: t ? t.code : "" } }, big),
    el("div", { class: "card-note" }, note));
}

const bannerQueue = $("#banner-queue"); // kept: it moves into the banner, which is redrawn

function renderBanner() {
  const now = Date.now();
  if (banner.current) {
    const shown = now - banner.shownAt;
    if ((banner.queue.length && shown >= BANNER_MIN_MS) || shown >= HIGHLIGHT_MS) banner.current = null;
  }
  if (!banner.current && banner.queue.length) {
    banner.current = banner.queue.shift();
    banner.shownAt = now;
  }
  const node = $("#banner");
  const c = banner.current;
  node.classList.toggle("active", !!c);
  if (c) {
    node.dataset.seq = c.seq;
    node.replaceChildren(
      el("div", { class: "vi" }, "Mời công dân số ", el("b", { class: "code" }, c.code), " đến ", el("b", {}, `Quầy ${c.counter}`)),
      el("div", { class: "en" }, `Number ${c.code}, please go to counter ${c.counter}`));
  } else {
    delete node.dataset.seq;
    const closed = closedWords(config.hours, config.center.timezone, clock.now());
    node.classList.toggle("closed", !!closed);
    node.replaceChildren(...(closed ? [el("div", { class: "vi" }, closed[0]), el("div", { class: "en" }, closed[1])] : [
      el("div", { class: "vi" }, "Xin vui lòng lấy số thứ tự và chờ đến lượt"),
      el("div", { class: "en" }, "Please take a number and wait to be called")]));
  }
  const waiting = banner.queue.length;
  const queue = bannerQueue;
  queue.textContent = waiting ? `còn ${waiting} số · ${waiting} more` : "";
  node.append(queue); // inside the banner, whatever the height of the title bar above it
}

function renderCalls() {
  const now = Date.now();
  // one line per ticket (its latest call): recalls mark the line "gọi lại" instead of pushing
  // real new calls off the list
  const latest = new Map();
  for (const c of [...model.calls.values()].sort((a, b) => b.seq - a.seq)) {
    const key = c.ticket_id || c.code;
    if (!latest.has(key)) latest.set(key, c);
  }
  const list = [...latest.values()].slice(0, CALLS_SHOWN);
  $("#calls").replaceChildren(...list.map((c) => el("li", {
    class: (model.flashUntil.get(c.seq) || 0) > now ? "flash" : "", dataset: { seq: c.seq, code: c.code, counter: c.counter },
  }, el("span", { class: "code" }, c.code), el("span", { class: "arrow" }, "→"),
     el("span", { class: "counter" }, `Quầy ${c.counter}`), c.recall ? el("span", { class: "recall" }, "gọi lại") : null)));
  if (!list.length) $("#calls").replaceChildren(el("li", { class: "empty" }, "Chưa có lượt gọi · No calls yet"));
}

// The wait of a ticket taken now, as the range a citizen reads on the ticket ("khoảng 10–15 phút",
// the 80% interval rounded out to 5 minutes by qms_common/wait_words.py on the server).
// A word joiner keeps "10–15" on one line when a narrow column wraps the words.
const keepRange = (text) => text.replace(/(\d)–(\d)/g, "$1\u2060–\u2060$2");

function estimateText(s) {
  if (s.estimated_wait_text) return [keepRange(s.estimated_wait_text), keepRange(s.estimated_wait_text_en || "")];
  return [`${fmt.minutes(s.estimated_wait_s)} phút`, ""];
}

function renderServices() {
  const mine = new Set(model.counters.flatMap((n) => (counters[n] ? counters[n].services : [])));
  const rows = model.snap.services.filter((s) => mine.has(s.service));
  $("#services").replaceChildren(...rows.map((s) => el("div", { class: "svc", dataset: { service: s.service } },
    el("div", { class: "name" }, el("span", { class: "vi" }, s.name), el("span", { class: "en" }, s.name_en || (services[s.service] || {}).name_en || "")),
    el("div", { class: "figs" },
      el("span", { class: "fig" }, el("b", { class: "waiting-count" }, String(s.waiting)), el("small", {}, " người"))),
    // a sentence ("Hiện không có quầy phục vụ") a little smaller than a range, to keep to two lines
    el("div", { class: "est" }, el("span", { class: estimateText(s)[0].length > 20 ? "vi long" : "vi" }, estimateText(s)[0]),
      el("span", { class: "en" }, estimateText(s)[1])))));
}

function render() {
  if (!model.snap) return;
  $("#counters").replaceChildren(...model.counters.map(counterCard));
  $("#counters").dataset.count = model.counters.length;
  renderCalls();
  renderServices();
  renderBanner();
}

function tick() {
  const now = clock.now();
  $("#clock").textContent = fmt.hm(now);
  $("#seconds").textContent = fmt.time(now).slice(-2);
  $("#date").textContent = `${fmt.dayVi(now)}, ${fmt.date(now)}`;
  $("#date-en").textContent = fmt.dayEn(now);
  if (model.snap) {
    for (const [seq, until] of model.flashUntil) if (until <= Date.now()) model.flashUntil.delete(seq);
    for (const [n, f] of model.cardFlash) if (f.until <= Date.now()) model.cardFlash.delete(n);
    render();
  }
  $("#sound").hidden = audioReady();
}

// --- pairing --------------------------------------------------------------------------
// A screen without a token shows a code; the director enters it on the dashboard; the screen
// asks every few seconds and receives its own device token (server/pairing.py).
const PAIR_POLL_MS = 3000;
let pairingRun = null;

async function pairingCall(path, body) {
  const r = await fetch(`/api/v1${path}`, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
                                            body: JSON.stringify(body || {}) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.message || `HTTP ${r.status}`), { status: r.status });
  return data;
}

async function pairByCode() {
  const run = pairingRun = {};
  while (pairingRun === run) {
    let req;
    try {
      req = await pairingCall("/pairing");
    } catch (err) {
      $("#pairing-message").textContent = err.message;
      await new Promise((ok) => setTimeout(ok, 10 * PAIR_POLL_MS));
      continue;
    }
    $("#pairing-code").textContent = `${req.code.slice(0, 3)} ${req.code.slice(3)}`;
    while (pairingRun === run) {
      await new Promise((ok) => setTimeout(ok, PAIR_POLL_MS));
      let out;
      try { out = await pairingCall(`/pairing/${req.id}/poll`, { secret: req.secret }); } catch (err) {
        if (err.status === 404) break; // expired: show a new code
        continue; // the server did not answer: ask again
      }
      if (out.state === "paired") {
        localStorage.setItem(TOKEN_KEY, out.token);
        pairingRun = null;
        $("#pairing").hidden = true;
        live.socket.connect();
        return;
      }
    }
  }
}

function showPairing(message) {
  const box = $("#pairing");
  box.hidden = false;
  $("#pairing-message").textContent = message || "";
  if (!pairingRun) pairByCode();
}

$("#pairing-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("#pairing-token").value.trim();
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token);
  pairingRun = null;
  $("#pairing").hidden = true;
  live.socket.connect();
});
$("#sound").addEventListener("click", () => unlockAudio().then(tick));
document.addEventListener("click", () => unlockAudio(), { once: true });

$("#center-name").textContent = config.center.name;
$("#center-name-en").textContent = config.center.name_en || "";

const live = connectLive({
  auth: () => ({
    center: config.center.id,
    ...(localStorage.getItem(TOKEN_KEY) ? { token: localStorage.getItem(TOKEN_KEY) } : {}),
    ...(wantSite ? { site: wantSite } : {}),
    ...(wantCounters ? { counters: wantCounters } : {}),
  }),
  onSnapshot,
  onEvent,
  onLink: (ok, message) => { linkBadge($("#link"), ok, message); document.body.classList.toggle("offline", !ok); },
  onRefused: (message) => {
    linkBadge($("#link"), false, "● Chưa ghép nối · Not paired");
    showPairing(localStorage.getItem(TOKEN_KEY) ? message : ""); // a stored token refused: say why
  },
});
window.qmsDisplay = { model, live, banner }; // for diagnostics and tests
tick();
setInterval(tick, 1000); // the local clock tick (no network request)
