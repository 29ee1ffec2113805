// The clerk console: sign in, pick a counter, then call, recall, start, finish, no-show,
// transfer, park, resume, reprint, pause and sign out, each with a one-key shortcut.
import { $, ApiError, SILENT_BADGE, api, clock, config, connectLive, counters, el, fmt, heartbeat, linkBadge, renderList, services,
         session, splitMessage } from "./live.js";
import { whyNot } from "./console-why.js";

const COUNTER_KEY = "qms_counter";
const WARN_BEFORE_S = 300; // amber 5 minutes before a target, red past it
const KEYS = { n: "call-next", r: "recall", s: "start", f: "finish", v: "no-show", t: "transfer", g: "park",
               i: "reprint", p: "pause-toggle", q: "sign-out", u: "resume-parked", z: "undo" };

const BUSY = "Đang chờ máy chủ trả lời thao tác trước; still waiting for the server to answer the last action";
const SLOW = "Đang chờ máy chủ trả lời…; waiting for the server…";
const UNDO_S = 5; // an action that cannot be taken back waits this long, with an undo
const SLOW_MS = 1200; // a key whose answer takes longer says so at once
const EXPIRED = "Phiên đăng nhập đã hết hạn hoặc đã bị đăng xuất. Xin đăng nhập lại để tiếp tục; your session has " +
  "expired: sign in again";
const model = { me: null, snap: null, counter: Number(sessionStorage.getItem(COUNTER_KEY)) || null,
                parked: [], unprinted: [], detail: null, busy: false, live: null, linkUp: false, pending: null };

// --- messages -----------------------------------------------------------------------------
let errorTimer = null;
function showError(err, kind = "error") {
  const message = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  const [vi, en] = splitMessage(message);
  $("#error-vi").textContent = vi;
  $("#error-en").textContent = en ? ` ${en}` : "";
  $("#error").className = kind;
  $("#error").hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { $("#error").hidden = true; }, kind === "info" ? 5000 : 20000);
}
$("#error-close").addEventListener("click", () => { $("#error").hidden = true; });

function show(section) {
  for (const id of ["login", "pick", "work"]) $(`#${id}`).hidden = id !== section;
}

function hideError() { clearTimeout(errorTimer); $("#error").hidden = true; }

// the session ended (expired, signed out elsewhere): back to the sign-in form, saying why
function sessionExpired() {
  session.token = null;
  model.me = null;
  if (model.live) { model.live.socket.disconnect(); model.live = null; }
  show("login");
  showError(EXPIRED);
  $("#username").focus();
}

// --- sign in --------------------------------------------------------------------------------
$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const out = await api("POST", "/auth/login", { username: $("#username").value.trim(), password: $("#password").value });
    session.token = out.token;
    $("#password").value = "";
    hideError(); // a failed attempt's message must not stay after a successful sign-in
    await start();
  } catch (err) { showError(err); }
});

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/auth/logout"); } catch (err) { /* signing out anyway */ }
  session.token = null;
  sessionStorage.removeItem(COUNTER_KEY);
  location.reload();
});

async function start() {
  try {
    model.me = await api("GET", "/auth/me");
  } catch (err) {
    if (err.status === 401 || err.status === 403) { show("login"); $("#username").focus(); return; }
    showError(err); show("login"); return;
  }
  if (model.me.kind !== "user") { session.token = null; show("login"); return; }
  $("#who").textContent = `${model.me.name} (${model.me.id})`;
  if (model.live) { model.live.socket.disconnect().connect(); return; }
  model.live = connectLive({
    auth: () => ({ center: config.center.id, ...(session.token ? { token: session.token } : {}),
                   ...(model.counter && counters[model.counter] ? { site: counters[model.counter].site } : {}) }),
    onSnapshot: (snap) => { model.snap = snap; route(); },
    onEvent,
    onLink: (ok, msg) => { model.linkUp = ok; linkBadge($("#link"), ok, msg); },
    onRefused: () => sessionExpired(),
  });
  heartbeat(model.live.socket, (silent) => {
    if (!model.linkUp) return;
    linkBadge($("#link"), !silent, silent ? SILENT_BADGE : undefined);
  });
}

// --- which screen -----------------------------------------------------------------------------
function myRow() { return model.snap && model.snap.counters.find((c) => c.number === model.counter); }

function route() {
  const mine = model.snap.counters.find((c) => c.clerk === model.me.id && c.state !== "closed");
  if (mine && mine.number !== model.counter) setCounter(mine.number);
  const row = myRow();
  if (row && row.clerk === model.me.id && row.state !== "closed") { show("work"); renderWork(); }
  else { show("pick"); renderPick(); }
}

function setCounter(number) {
  const before = model.counter;
  model.counter = number;
  if (number) sessionStorage.setItem(COUNTER_KEY, number); else sessionStorage.removeItem(COUNTER_KEY);
  if (number && model.live && (!before || counters[before].site !== counters[number].site)) {
    model.live.socket.emit("subscribe", { center: config.center.id, site: counters[number].site });
  }
  if (number) refreshLists();
}

const STATE_VI = { open: "Đang mở · Open", paused: "Tạm nghỉ · On break", closed: "Đóng · Closed" };

function renderPick() {
  const siteName = (id) => (config.sites.find((s) => s.id === id) || {}).name || id;
  const takenBy = (c) => (c.clerk && c.clerk !== model.me.id && c.state !== "closed" ? c.clerk_name || c.clerk : "");
  const key = JSON.stringify(model.snap.counters.map((c) => [c.number, c.state, c.site, c.services, takenBy(c)]));
  renderList($("#pick-list"), key, () => model.snap.counters.map((c) => {
    const taken = takenBy(c);
    return el("button", { class: `pick state-${c.state}`, disabled: !!taken, dataset: { counter: c.number },
      onclick: () => signIn(c.number) },
      el("strong", {}, `Quầy ${c.number}`),
      el("span", {}, c.services.map((s) => (services[s] || {}).name || s).join(", ")),
      el("span", { class: "en" }, `${siteName(c.site)} · ${STATE_VI[c.state] || c.state}${taken ? ` · ${taken}` : ""}`));
  }));
}

async function signIn(number) {
  try {
    await api("POST", `/counters/${number}/sign-in`);
    setCounter(number);
  } catch (err) { showError(err); }
}

// --- the work view ----------------------------------------------------------------------------
function clockClass(seconds, target) {
  if (seconds >= target) return "bad";
  if (seconds >= target - WARN_BEFORE_S) return "warn";
  return "ok";
}

function renderInHand() {
  const row = myRow();
  const t = row && row.ticket;
  const box = $("#in-hand");
  if (!t) {
    box.replaceChildren(el("div", { class: "empty" }, "Chưa có vé trong tay. Bấm ", el("kbd", {}, "N"), " để gọi số tiếp.",
      el("div", { class: "en" }, "No ticket in hand. Press N to call the next one.")));
    box.dataset.code = "";
    return;
  }
  const now = clock.now();
  const waited = t.waited_s;
  const serviceFrom = t.started_at || t.called_at || now;
  const inService = now - serviceFrom;
  const svc = services[t.service] || { name: t.service, name_en: "" };
  box.dataset.code = t.code;
  box.replaceChildren(...[
    el("div", { class: "code" }, t.code, t.priority ? el("span", { class: "prio" }, "Ưu tiên · Priority") : null),
    el("div", { class: "svc" }, svc.name, " ", el("span", { class: "en" }, svc.name_en)),
    el("div", { class: `ticket-state ${t.state}` }, t.state === "called" ? "Đang mời — chờ công dân đến · Called, waiting for the citizen"
                                                   : "Đang phục vụ · Serving"),
    el("div", { class: "clocks" },
      el("div", { class: `clock-box ${clockClass(waited, config.targets.max_wait_s)}` },
        el("span", { class: "label" }, "Thời gian chờ ", el("span", { class: "en" }, "Waited")), el("b", { id: "wait-clock" }, fmt.clock(waited))),
      el("div", { class: `clock-box ${t.started_at ? clockClass(inService, config.targets.max_service_s) : "ok"}` },
        el("span", { class: "label" }, t.started_at ? "Thời gian giải quyết " : "Từ lúc mời ",
          el("span", { class: "en" }, t.started_at ? "Service" : "Since call")), el("b", { id: "service-clock" }, fmt.clock(inService)))),
    model.detail && model.detail.id === t.id && model.detail.printed === 0
      ? el("div", { class: "print-warn" }, "Vé này in lỗi — bấm ", el("kbd", {}, "I"), " để in lại. ", el("span", { class: "en" }, "This ticket did not print."))
      : null].filter(Boolean));
}

function enabled() {
  const row = myRow();
  const t = row && row.ticket;
  const open = row && row.state === "open";
  return {
    "call-next": open && (!t || t.state === "serving"),
    recall: !!t && t.state === "called",
    start: !!t && t.state === "called",
    finish: !!t && t.state === "serving",
    "no-show": !!t && t.state === "called",
    transfer: !!t,
    park: !!t,
    reprint: !!t && model.detail && model.detail.id === t.id && model.detail.printed === 0,
    pause: open,
    "resume-counter": !!row && row.state === "paused",
    "sign-out": !!row && row.state !== "closed" && !t,
  };
}

// The director's last change to this counter, still in force (server/engine/controls.py): it
// takes effect at the next call, so the clerk must see it before pressing N.
function renderNotice(row) {
  const box = $("#counter-notice");
  if (!row.notice) { box.hidden = true; box.replaceChildren(); return; }
  const [vi, en] = splitMessage(row.notice.message);
  box.replaceChildren(el("span", {}, el("b", {}, vi), en ? el("span", { class: "en" }, ` ${en}`) : null,
    el("span", { class: "at" }, ` · ${fmt.time(row.notice.at)}`)));
  box.hidden = false;
}

function renderWork() {
  const row = myRow();
  if (!row) return;
  const conf = counters[row.number];
  $("#counter-title").textContent = `Quầy ${row.number}`;
  $("#counter-state").textContent = STATE_VI[row.state] || row.state;
  $("#counter-state").className = `state-badge ${row.state}`;
  if (row.ticket && (!model.detail || model.detail.id !== row.ticket.id)) loadDetail(row.ticket.id);
  renderNotice(row);
  renderInHand();
  const on = enabled();
  for (const b of document.querySelectorAll("#actions button")) {
    b.disabled = model.busy || !on[b.dataset.action];
    if (b.dataset.action === "pause") b.hidden = row.state === "paused";
    if (b.dataset.action === "resume-counter") b.hidden = row.state !== "paused";
  }
  const stats = Object.fromEntries(model.snap.services.map((s) => [s.service, s]));
  let total = 0;
  $("#waiting").replaceChildren(...(row.services || conf.services).map((code) => {
    const s = stats[code] || { waiting: 0, longest_wait_s: 0 };
    total += s.waiting;
    return el("tr", { dataset: { service: code } }, el("td", {}, (services[code] || {}).name || code),
      el("td", { class: "num" }, String(s.waiting)),
      el("td", { class: `num ${clockClass(s.longest_wait_s, config.targets.max_wait_s)}` }, s.waiting ? fmt.clock(s.longest_wait_s) : ""));
  }));
  $("#waiting-total").replaceChildren(el("b", { id: "waiting-count" }, String(total)), " người đang chờ ", el("span", { class: "en" }, "waiting"));
  renderList($("#parked"), JSON.stringify(model.parked.map((t) => [t.id, t.code])), () => (model.parked.length ? model.parked.map((t) => el("li", {},
    el("span", { class: "code" }, t.code), el("button", { type: "button", onclick: () => act("resume", t) }, "Tiếp tục · Resume"))) :
    [el("li", { class: "empty" }, "Không có · None")]));
  renderHandover();
  renderList($("#unprinted"), JSON.stringify(model.unprinted.map((t) => [t.id, t.code, t.print_fault])), () => (model.unprinted.length ?
    model.unprinted.map((t) => el("li", {},
      el("span", { class: "code" }, t.code),
      t.print_fault ? el("span", { class: "en" }, ` ${PRINT_FAULT_VI[t.print_fault] || t.print_fault} `) : null,
      el("button", { type: "button", onclick: () => reprint(t) }, "In lại · Reprint"))) :
    [el("li", { class: "empty" }, "Không có · None")]));
  // while an action waits for its answer the lists' buttons are disabled, as the action buttons
  // are: the live update shows the action done before its answer, and a click then was refused
  // ("still waiting for the server") and lost
  for (const b of document.querySelectorAll("#parked button, #unprinted button, #handover button")) b.disabled = model.busy;
}

// hand-over alerts: a printed offline ticket the server could not place as printed (its holder
// may come to any counter); each says what to do and is marked dealt with by one button
function renderHandover() {
  const alerts = (model.snap.alerts || []).filter((a) => a.resolvable && a.kind !== "low_rating"); // low ratings: the director's
  $("#handover-section").hidden = !alerts.length;
  renderList($("#handover"), JSON.stringify(alerts.map((a) => [a.id, a.code, a.severity, a.message])), () => alerts.map((a) => {
    const [vi, en] = splitMessage(a.message);
    return el("li", { class: `alert sev-${a.severity}`, dataset: { alert: String(a.id), code: a.code || "" } },
      el("b", { class: "code" }, a.code || ""), " ", vi, en ? el("span", { class: "en" }, ` ${en}`) : null, " ",
      el("button", { type: "button", onclick: () => resolveHandover(a) }, "Đã xử lý · Resolved"));
  }));
}

function resolveHandover(alert) {
  return run(async () => { await api("POST", `/handover-alerts/${alert.id}/resolve`); });
}

// why the kiosk could not print a ticket (its print-result fault), shown next to "In lại"
const PRINT_FAULT_VI = { stuck: "máy in bị treo", no_paper: "máy in hết giấy", cover_open: "nắp máy in mở",
  offline: "máy in mất kết nối", error: "máy in lỗi", paper_low: "máy in sắp hết giấy" };

// --- lists fetched when an event says they changed (never on a timer) ---------------------------
let listsTimer = null;
function refreshLists() {
  clearTimeout(listsTimer);
  listsTimer = setTimeout(async () => {
    if (!model.counter) return;
    const conf = counters[model.counter];
    try {
      const [parked, waiting] = await Promise.all([api("GET", "/tickets?state=parked"), api("GET", `/tickets?state=waiting&site=${conf.site}`)]);
      model.parked = parked.tickets.filter((t) => t.counter === model.counter);
      const serves = (myRow() && myRow().services) || conf.services;
      model.unprinted = waiting.tickets.filter((t) => t.printed === 0 && serves.includes(t.service));
      if (!$("#work").hidden) renderWork();
    } catch (err) {
      // a background refresh that finds the session ended says so once, as an action would
      if (err instanceof ApiError && err.status === 401) { if (session.token) sessionExpired(); return; }
      showError(err);
    }
  }, 150);
}

async function loadDetail(id) {
  model.detail = { id, printed: null };
  try { model.detail = await api("GET", `/tickets/${id}`); } catch (err) { /* shown without the print flag */ }
  if (!$("#work").hidden) renderWork();
}

function onEvent(ev) {
  const row = myRow();
  if (["ticket_park", "ticket_resume", "ticket_print_result", "ticket_issued", "ticket_call", "ticket_transfer"].includes(ev.type)) refreshLists();
  if (row && row.ticket && ev.ticket_id === row.ticket.id && ev.type === "ticket_print_result") loadDetail(ev.ticket_id);
}

// --- actions -------------------------------------------------------------------------------------
async function run(fn) {
  if (model.busy) {
    showError(BUSY, "info");
    return;
  }
  model.busy = true;
  renderWork();
  const slow = setTimeout(() => showError(SLOW, "info"), SLOW_MS);
  try {
    await fn();
    // the answer came: "waiting for the server" goes, never what the action itself said
    // ("Không có ai đang chờ", "Đã gửi lệnh in lại")
    if ($("#error-vi").textContent === splitMessage(SLOW)[0]) hideError();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { sessionExpired(); return; }
    if (err instanceof ApiError && err.body && err.body.error === "timeout") linkBadge($("#link"), false, SILENT_BADGE);
    showError(err);
  } finally {
    clearTimeout(slow);
    model.busy = false;
    if (model.snap && !$("#work").hidden) renderWork();
  }
}

// An action that cannot be taken back (no-show) is held for UNDO_S seconds with an undo button
// (key Z); pressing any other key carries it out first.
function deferred(action, ticket, label) {
  flushPending();
  const until = Date.now() + UNDO_S * 1000;
  const pending = { action, ticket, label, timer: setTimeout(() => flushPending(), UNDO_S * 1000), until };
  model.pending = pending;
  renderPending();
}

function flushPending() {
  const p = model.pending;
  if (!p) return Promise.resolve();
  clearTimeout(p.timer);
  model.pending = null;
  renderPending();
  return act(p.action, p.ticket);
}

function undoPending() {
  const p = model.pending;
  if (!p) return;
  clearTimeout(p.timer);
  model.pending = null;
  renderPending();
  showError(`Đã hoàn tác: ${p.label} ${p.ticket.code}; undone`, "info");
}

function renderPending() {
  const box = $("#undo");
  const p = model.pending;
  box.hidden = !p;
  if (!p) return;
  const left = Math.max(0, Math.ceil((p.until - Date.now()) / 1000));
  const text = `${p.label} ${p.ticket.code} sau ${left} giây · in ${left} s `;
  // the countdown changes every second, the button never: a new one under the pointer would lose the click
  renderList(box, "undo", () => [el("span", {}, text),
    el("button", { type: "button", id: "undo-button", onclick: undoPending }, "Hoàn tác · Undo ", el("kbd", {}, "Z"))]);
  box.firstChild.textContent = text;
}

function act(action, ticket) {
  return run(async () => {
    await api("POST", `/tickets/${ticket.id}/${action}`, { counter: model.counter });
  });
}

function reprint(ticket) {
  return run(async () => {
    await api("POST", `/tickets/${ticket.id}/reprint`);
    showError("Đã gửi lệnh in lại tới ki-ốt; the kiosk was asked to print the ticket again", "info");
  });
}

async function doAction(action) {
  if (action === "undo") return undoPending();
  if (model.pending) { // another key: the held action is carried out first, then this one
    await flushPending();
    if (action === "no-show") return;
    return doAction(action);
  }
  const row = myRow();
  const t = row && row.ticket;
  const on = enabled();
  if (action === "pause-toggle") action = row && row.state === "paused" ? "resume-counter" : "pause";
  if (action === "resume-parked") {
    if (model.parked.length && on["call-next"] && !t) act("resume", model.parked[0]);
    else showError(whyNot(action, row, model.parked.length) || "Chưa thể tiếp tục vé tạm gác; cannot resume now", "info");
    return;
  }
  if (!on[action]) { // never a silent key: say why it does nothing now, and what to press instead
    showError(model.busy ? BUSY : whyNot(action, row, model.parked.length) || "Chưa thể làm việc này lúc này; not possible now", "info");
    return;
  }
  switch (action) {
    case "call-next":
      return run(async () => {
        const out = await api("POST", `/counters/${model.counter}/call-next`);
        if (!out.ticket) showError("Không có ai đang chờ; nobody is waiting for this counter", "info");
      });
    case "pause": return run(() => api("POST", `/counters/${model.counter}/pause`));
    case "resume-counter": return run(() => api("POST", `/counters/${model.counter}/resume`));
    case "sign-out":
      return run(async () => {
        await api("POST", `/counters/${model.counter}/sign-out`);
        setCounter(null);
      });
    case "no-show": return deferred("no-show", t, "Đánh dấu vắng mặt · No-show");
    case "transfer": return openTransfer(t);
    case "reprint": return reprint(t);
    default: return act(action, t);
  }
}

document.querySelector("#actions").addEventListener("click", (e) => {
  const b = e.target.closest("button");
  if (b) doAction(b.dataset.action);
});

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName) || $("#transfer-dialog").open || $("#work").hidden) return;
  const action = KEYS[e.key.toLowerCase()];
  if (action) { e.preventDefault(); doAction(action); }
});

// --- transfer -------------------------------------------------------------------------------------
function openTransfer(ticket) {
  const dialog = $("#transfer-dialog");
  $("#transfer-code").textContent = ticket.code;
  const svcSelect = $("#transfer-service");
  svcSelect.replaceChildren(...config.services.map((s) => el("option", { value: s.code, selected: s.code === ticket.service },
    `${s.name} (${s.code})`)));
  const fillCounters = () => {
    const code = svcSelect.value;
    $("#transfer-counter").replaceChildren(el("option", { value: "" }, "— Bất kỳ quầy nào · Any counter —"),
      ...config.counters.filter((c) => c.services.includes(code) && c.number !== model.counter && c.site === counters[model.counter].site)
        .map((c) => el("option", { value: c.number }, `Quầy ${c.number}`)));
  };
  svcSelect.onchange = fillCounters;
  fillCounters();
  dialog.dataset.ticket = ticket.id;
  dialog.dataset.service = ticket.service;
  dialog.showModal();
  svcSelect.focus();
}

$("#transfer-cancel").addEventListener("click", () => $("#transfer-dialog").close());
// Enter transfers from anywhere in the dialog (on a drop-down it would only open the list;
// the arrow keys change the choice); Esc cancels (the dialog's own behaviour)
$("#transfer-dialog").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.altKey && e.target.tagName === "SELECT") {
    e.preventDefault();
    $("#transfer-form").requestSubmit();
  }
});
$("#transfer-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const dialog = $("#transfer-dialog");
  const service = $("#transfer-service").value;
  const toCounter = $("#transfer-counter").value;
  const body = { counter: model.counter };
  if (service !== dialog.dataset.service) body.service = service;
  if (toCounter) body.to_counter = Number(toCounter);
  if (!body.service && !body.to_counter) { showError("Hãy chọn lĩnh vực khác hoặc một quầy; pick another field or a counter"); return; }
  dialog.close();
  run(() => api("POST", `/tickets/${dialog.dataset.ticket}/transfer`, body));
});

// --- the local clock tick (no network) ------------------------------------------------------------
function tick() {
  $("#clock").textContent = fmt.time(clock.now());
  if (!$("#work").hidden && model.snap) renderInHand();
  if (model.pending) renderPending();
}
tick();
setInterval(tick, 1000);

start();
