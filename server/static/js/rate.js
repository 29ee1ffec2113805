// The rating tablet at a counter (/rate?counter=5): big buttons, Vietnamese first, by touch.
// It holds the counter device's token; the server decides which ticket may be rated (the one
// its counter just finished, within the window, once: server/engine/rating.py). After a rating
// it says "Cảm ơn" and starts again by itself.
import { $, clock, config, connectLive, linkBadge } from "./live.js";

const TOKEN_KEY = "qms_counter_token";
const params = new URLSearchParams(location.search);
if (params.get("token")) { // a set-up link: keep the token, then hide it from the address bar
  localStorage.setItem(TOKEN_KEY, params.get("token"));
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}${params.toString() ? `?${params}` : ""}`);
}
const wantCounter = params.get("counter") ? Number(params.get("counter")) : null;
const model = { pending: null, screen: null, score: null, resetTimer: null, busy: false, resetS: 8, refreshes: 0 };

function show(name) {
  model.screen = name;
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== name;
  document.body.dataset.screen = name;
}

async function call(method, path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY)}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { const err = new Error(data.message || `HTTP ${res.status}`); err.status = res.status; err.data = data; throw err; }
  return data;
}

// a citizen's tap wins over a refresh: on the reason, thanks or sending screens no refresh shows
// the question again, also when its answer arrives after the tap (the tap was lost before)
const citizenActing = () => model.busy || model.screen === "thanks" || model.screen === "why";

async function refresh() {
  if (citizenActing()) return;
  try {
    let p;
    try { p = await call("GET", "/ratings/pending"); } finally { model.refreshes += 1; } // answers seen (tests wait on it)
    if (citizenActing()) return;
    model.pending = p;
    model.resetS = p.reset_s || 8;
    $("#counter-label").textContent = `Quầy ${p.counter}`;
    if (wantCounter && wantCounter !== p.counter) {
      setup(`Mã thiết bị này thuộc quầy ${p.counter}, không phải quầy ${wantCounter}; this token belongs to counter ${p.counter}`);
      return;
    }
    render();
  } catch (err) {
    if (err.status === 401 || err.status === 403) setup(err.message);
  }
}

function render() {
  const p = model.pending;
  const open = p && p.ticket && (p.window_ends_at == null || p.window_ends_at > clock.now());
  if (!open) { show("idle"); return; }
  $("#ask-ticket").textContent = p.ticket;
  $("#ask-service").textContent = `lĩnh vực ${p.service_name}`;
  show("ask");
}

async function send(score, reason) {
  model.busy = true;
  try {
    const out = await call("POST", "/ratings", { score, reason: reason || null });
    $("#thanks-text").textContent = `Đã ghi nhận đánh giá của số ${out.ticket}: ${out.level}.`;
  } catch (err) {
    $("#thanks-text").textContent = err.message.split("; ")[0];
  } finally {
    model.busy = false;
  }
  show("thanks");
  clearTimeout(model.resetTimer);
  model.resetTimer = setTimeout(() => { model.pending = null; show("idle"); refresh(); }, model.resetS * 1000);
}

for (const b of document.querySelectorAll(".level")) {
  b.addEventListener("click", () => {
    const score = Number(b.dataset.score);
    if (score === 1) { model.score = 1; show("why"); return; }
    send(score);
  });
}
for (const b of document.querySelectorAll(".reason")) b.addEventListener("click", () => send(1, b.dataset.reason));
$("#why-back").addEventListener("click", () => { show("ask"); });

// pairing from the dashboard, as for wall displays (server/pairing.py): show a code, ask every
// few seconds until the director has entered it, keep the token that comes back once
let pairing = false;
async function pairingCall(path, body) {
  const r = await fetch(`/api/v1${path}`, { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify(body || {}) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.message || `HTTP ${r.status}`), { status: r.status });
  return data;
}
async function pairByCode() {
  pairing = true;
  while (pairing) {
    let req;
    try { req = await pairingCall("/pairing"); } catch (err) {
      $("#setup-error").textContent = err.message;
      await new Promise((ok) => setTimeout(ok, 30000));
      continue;
    }
    $("#pairing-code").textContent = `${req.code.slice(0, 3)} ${req.code.slice(3)}`;
    while (pairing) {
      await new Promise((ok) => setTimeout(ok, 3000));
      let out;
      try { out = await pairingCall(`/pairing/${req.id}/poll`, { secret: req.secret }); } catch (err) {
        if (err.status === 404) break; // expired: a new code
        continue;
      }
      if (out.state === "paired") {
        localStorage.setItem(TOKEN_KEY, out.token);
        location.reload();
        return;
      }
    }
  }
}

function setup(message) {
  show("setup");
  $("#setup-error").textContent = message || "";
  if (!pairing) pairByCode();
}
$("#setup-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("#setup-token").value.trim());
  location.reload();
});

if (!localStorage.getItem(TOKEN_KEY)) {
  setup("");
} else {
  show("idle");
  connectLive({
    auth: () => ({ center: config.center.id, token: localStorage.getItem(TOKEN_KEY) }),
    onSnapshot: () => refresh(),
    onEvent: (ev) => {
      const mine = model.pending && ev.counter === model.pending.counter;
      if (mine || ev.type === "ticket_finish" || ev.type === "ticket_rated") refresh();
    },
    onLink: (ok, message) => linkBadge($("#link"), ok, message),
    onRefused: (message) => setup(message),
  });
  // the window closes by the clock, not by an event: look once a second (no request)
  setInterval(() => { if (model.screen === "ask") render(); }, 1000);
  // a citizen who chose "Không hài lòng" and walked away: start again
  setInterval(() => { if (model.screen === "why" && !model.busy) { const t = model.whySince || (model.whySince = Date.now()); if (Date.now() - t > 60000) { model.whySince = null; show("idle"); refresh(); } } else model.whySince = null; }, 5000);
}
window.qmsRate = { model };
