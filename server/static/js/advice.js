// The advice panel of the director's dashboard: proposals with Apply, the director's own
// changes to a counter, and today's changes with Undo (docs/advice.md). Its own module: the
// dashboard (dashboard.js) only includes the partial.
import { $, api, el, fmt, renderList, services, splitMessage } from "./live.js";

const REFRESH_MS = 15000;
const state = { advice: null, changes: [], busy: false, last: 0, seq: null, role: null };

function dash() { return window.qmsDashboard; }
function pct(x) { return x == null ? "–" : `${Math.round(x * 100)}%`; }
function serviceName(code) { return (services[code] && services[code].name) || code; }

function note(text, kind = "info") {
  const box = $("#advice-summary");
  box.textContent = text;
  box.dataset.kind = kind;
}

async function refresh() {
  if (state.busy) return;
  state.last = Date.now();
  try {
    const [advice, log] = await Promise.all([api("GET", "/advice"), api("GET", "/controls")]);
    state.advice = advice;
    state.changes = log.changes;
    render();
  } catch (err) { note(err.message || String(err), "error"); }
}

function render() {
  const a = state.advice;
  const canAct = state.role === "director";
  if (a) {
    const [vi, en] = splitMessage(a.message || "");
    note(a.proposals.length
      ? `Dự kiến trong ${Math.round(a.horizon_s / 60)} phút tới: ${pct(a.overall)} được gọi trong 15 phút nếu giữ nguyên. ` +
        `Expected over the next ${Math.round(a.horizon_s / 60)} min as things are.`
      : `${vi} ${en ? "· " + en : ""}`, a.enough ? "info" : "warn");
    const [cvi, cen] = splitMessage(a.cold_note || "");
    const cold = $("#advice-cold");
    if (cold) { cold.hidden = !a.cold; cold.textContent = a.cold ? `${cvi} · ${cen}` : ""; }
    renderList($("#advice-proposals"), JSON.stringify([canAct, a.proposals]), () => a.proposals.map((p) => {
      const [pvi, pen] = splitMessage(p.text);
      return el("li", { class: "proposal", dataset: { key: p.key, counter: String(p.counter) } },
        el("b", {}, pvi), pen ? el("span", { class: "en" }, ` ${pen}`) : null,
        el("span", { class: "overall" }, ` Toàn trung tâm · all services: ${pct(p.overall_before)} → ${pct(p.overall_after)}`),
        canAct ? el("button", { type: "button", class: "apply primary", onclick: () => applyProposal(p) }, "Áp dụng · Apply") : null);
    }));
    renderList($("#advice-staffing"), JSON.stringify(a.staffing), () => a.staffing.map((s) => {
      const [svi, sen] = splitMessage(s.text);
      return el("li", { class: "staffing" }, svi, sen ? el("span", { class: "en" }, ` ${sen}`) : null);
    }));
  }
  renderList($("#control-log"), JSON.stringify([canAct, state.changes]), () => (state.changes.length ? state.changes.map((c) => {
    const [mvi, men] = splitMessage(c.message);
    const undone = c.undone_at != null;
    return el("li", { class: undone ? "change undone" : "change", dataset: { change: c.change_id, counter: String(c.counter) } },
      el("span", { class: "at" }, fmt.time(c.at)), ` Quầy ${c.counter}: `, el("b", {}, mvi), men ? el("span", { class: "en" }, ` ${men}`) : null,
      ` (${c.by || ""}${c.proposal ? ", theo đề xuất" : ""})`,
      undone ? el("span", { class: "undone-note" }, ` · đã hoàn tác ${fmt.time(c.undone_at)} · undone`) :
        canAct ? el("button", { type: "button", class: "undo", onclick: () => undo(c) }, "Hoàn tác · Undo") : null);
  }) : [el("li", { class: "empty-state" }, "Chưa có thay đổi nào hôm nay. ", el("span", { class: "en" }, "No change today."))]));
  // (a list unchanged keeps its buttons, disabled by act() while a change was sent)
  for (const b of document.querySelectorAll("#advice-panel button.apply, #advice-panel button.undo")) b.disabled = state.busy;
  fillForm();
}

// One change at a time: a double click (or a second click while the first is answered) is not
// sent again, so the director sees the first one's outcome, not the 409 of its repeat.
async function act(fn, done) {
  if (state.busy) return;
  state.busy = true;
  for (const b of document.querySelectorAll("#advice-panel button.apply, #advice-panel button.undo")) b.disabled = true;
  let said, kind;
  try {
    const change = await fn();
    [said, kind] = [`${done}: ${splitMessage(change.message)[0]}`, "ok"];
  } catch (err) { [said, kind] = [err.message || String(err), "error"]; }
  state.busy = false;
  await refresh();
  note(said, kind);  // after the refresh, which rewrote the summary
}

function applyProposal(p) {
  return act(() => api("POST", "/advice/apply", { key: p.key }), `Đã áp dụng cho quầy ${p.counter}`);
}

function undo(c) {
  return act(() => api("POST", `/controls/${encodeURIComponent(c.change_id)}/undo`), `Đã hoàn tác ở quầy ${c.counter}`);
}

// --- the director's own change ---------------------------------------------------------------
function counterRows() {
  const snap = dash() && dash().snap;
  return snap ? snap.counters.filter((c) => c.state !== "closed") : [];
}

function fillForm() {
  const rows = counterRows();
  const sel = $("#control-counter");
  const keep = sel.value;
  sel.replaceChildren(...rows.map((c) => el("option", { value: String(c.number) },
    `${c.number} · ${c.clerk_name || c.clerk || ""} (${c.state === "paused" ? "tạm nghỉ" : c.services.join(", ")})`)));
  if (keep && rows.some((c) => String(c.number) === keep)) sel.value = keep;
  onCounterChange();
}

function onCounterChange() {
  const row = counterRows().find((c) => String(c.number) === $("#control-counter").value);
  const trained = row ? (row.trained || row.services) : [];
  const svc = $("#control-service");
  const keep = svc.value;
  svc.replaceChildren(...trained.map((s) => el("option", { value: s }, `${s} · ${serviceName(s)}`)));
  if (trained.includes(keep)) svc.value = keep;
  if (row && document.activeElement !== $("#control-services") && !$("#control-services").dataset.edited) {
    $("#control-services").value = row.services.join(", ");
  }
  $("#control-trained").textContent = row ? `Được đào tạo · trained: ${trained.join(", ")}` : "";
  const action = $("#control-action").value;
  $("#control-service-label").hidden = action !== "take_first";
  $("#control-services-label").hidden = action !== "set_services";
}

$("#control-counter").addEventListener("change", () => { delete $("#control-services").dataset.edited; onCounterChange(); });
$("#control-action").addEventListener("change", onCounterChange);
$("#control-services").addEventListener("input", () => { $("#control-services").dataset.edited = "1"; });
$("#control-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const number = $("#control-counter").value;
  if (!number) { note("Chưa có quầy nào đang có cán bộ; no counter has a clerk", "warn"); return; }
  const action = $("#control-action").value;
  const body = { action };
  if (action === "take_first") body.service = $("#control-service").value;
  if (action === "set_services") body.services = $("#control-services").value.split(/[,\s]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
  delete $("#control-services").dataset.edited;
  act(() => api("POST", `/counters/${number}/controls`, body), `Đã thay đổi quầy ${number}`);
});

// --- when to refresh: once signed in, on new events (at most every few seconds), and periodically
setInterval(() => {
  const d = dash();
  if (!d || !d.me || $("#dash").hidden) return;
  if (state.role !== d.me.role) { state.role = d.me.role; refresh(); return; }
  const seq = d.snap ? d.snap.seq : null;
  const since = Date.now() - state.last;
  if ((seq !== state.seq && since > 3000) || since > REFRESH_MS) { state.seq = seq; refresh(); }
}, 1000);
window.qmsAdvice = { state, refresh };
