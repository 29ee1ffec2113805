// Shared by every live screen: the center configuration, the server clock, time formats in
// the center's timezone, and a socket that keeps events in sequence (no polling anywhere).
/* global io */

export const config = JSON.parse(document.getElementById("qms-config").textContent);
export const TZ = config.center.timezone || "Asia/Ho_Chi_Minh";

// --- the server's clock ----------------------------------------------------------------
// A Pi without a real-time clock may boot with a wrong time: show the server's time.
let offsetS = 0;
export const clock = {
  sync(serverAt) { if (typeof serverAt === "number") offsetS = serverAt - Date.now() / 1000; },
  now() { return Date.now() / 1000 + offsetS; },
};

// --- formats (dd/mm/yyyy, 24-hour, the center's timezone) -------------------------------
const dateFmt = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, day: "2-digit", month: "2-digit", year: "numeric" });
const timeFmt = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const hmFmt = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dowFmt = new Intl.DateTimeFormat("en-US", { timeZone: TZ, weekday: "short" });
const DOW_VI = { Mon: "Thứ Hai", Tue: "Thứ Ba", Wed: "Thứ Tư", Thu: "Thứ Năm", Fri: "Thứ Sáu", Sat: "Thứ Bảy", Sun: "Chủ nhật" };
const DOW_EN = { Mon: "Monday", Tue: "Tuesday", Wed: "Wednesday", Thu: "Thursday", Fri: "Friday", Sat: "Saturday", Sun: "Sunday" };

export const fmt = {
  date: (ts) => dateFmt.format(new Date(ts * 1000)),
  time: (ts) => timeFmt.format(new Date(ts * 1000)),
  hm: (ts) => hmFmt.format(new Date(ts * 1000)),
  dayVi: (ts) => DOW_VI[dowFmt.format(new Date(ts * 1000))],
  dayEn: (ts) => DOW_EN[dowFmt.format(new Date(ts * 1000))],
  // "mm:ss" or "h:mm:ss", for running clocks
  clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(r)}` : `${pad(m)}:${pad(r)}`;
  },
  // a wait estimate in whole minutes: "~12 phút"
  minutes(seconds) {
    if (seconds == null) return "—";
    const m = Math.round(seconds / 60);
    return m < 1 ? "< 1" : String(m);
  },
};

// --- lookups ---------------------------------------------------------------------------
export const services = Object.fromEntries(config.services.map((s) => [s.code, s]));
export const counters = Object.fromEntries(config.counters.map((c) => [c.number, c]));
export const sites = Object.fromEntries(config.sites.map((s) => [s.id, s]));
export const CALL_TYPES = new Set(["ticket_call", "ticket_recall", "ticket_resume"]);

// --- DOM helpers -------------------------------------------------------------------------
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

export function $(sel, root = document) { return root.querySelector(sel); }

// Replaces a list's children only when what it shows (key) changed. Rebuilt on every live
// update, a list put a new button under the pointer between a press and its release, and
// Chromium then fires no click at all: the click was lost.
const shownKeys = new WeakMap();
export function renderList(box, key, build) {
  if (shownKeys.get(box) === key) return;
  shownKeys.set(box, key);
  box.replaceChildren(...build());
}

// --- the live connection -----------------------------------------------------------------
// onSnapshot(snap): a full state (on every connect, on resync, after each burst of events)
// onEvent(ev, {gap}): each engine event, once, in sequence (a gap triggers a resync)
// onStatus(status): citizen pages; onDevices(payload); onLink(connected, message)
export function connectLive({ auth, onSnapshot, onEvent, onStatus, onDevices, onLink, onRefused }) {
  const socket = io({
    transports: ["websocket"],
    auth: (cb) => cb(auth()),
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: 5000,
  });
  const state = { lastSeq: -1, haveSnapshot: false, pending: [], resyncing: false, socket };

  function resync() {
    if (state.resyncing || !socket.connected) return;
    state.resyncing = true;
    socket.timeout(5000).emit("resync", { center: config.center.id, seq: Math.max(0, state.lastSeq) }, () => {
      state.resyncing = false;
    });
  }

  function handleEvent(ev) {
    if (ev.seq <= state.lastSeq) return; // already seen: events are idempotent
    const gap = ev.seq > state.lastSeq + 1;
    state.lastSeq = ev.seq;
    if (gap) resync();
    onEvent && onEvent(ev, { gap });
  }

  socket.on("snapshot", (snap) => {
    if (state.haveSnapshot && snap.seq < state.lastSeq) return; // an older push; a newer follows
    state.haveSnapshot = true;
    state.lastSeq = snap.seq;
    clock.sync(snap.sent_at ?? snap.at); // a connect's snapshot may be the last pushed one: its figures are of snap.at
    onSnapshot && onSnapshot(snap);
    const pending = state.pending.splice(0);
    for (const ev of pending) handleEvent(ev);
  });
  socket.on("event", (ev) => {
    if (!state.haveSnapshot) { state.pending.push(ev); return; }
    handleEvent(ev);
  });
  socket.on("status", (st) => {
    if (st.seq < state.lastSeq) return;
    state.lastSeq = st.seq;
    clock.sync(st.at);
    onStatus && onStatus(st);
  });
  socket.on("devices", (payload) => onDevices && onDevices(payload));
  socket.on("connect", () => onLink && onLink(true));
  socket.on("disconnect", () => {
    state.haveSnapshot = false; // the next connect brings a full snapshot
    onLink && onLink(false);
  });
  socket.on("connect_error", (err) => {
    if (!socket.active) { // the server refused us: it will not get better by retrying
      onRefused ? onRefused(err.message) : onLink && onLink(false, err.message);
    } else {
      onLink && onLink(false);
    }
  });
  return { socket, state, resync };
}

// --- the REST API (sign-in and actions) ---------------------------------------------------
export const session = {
  get token() { return sessionStorage.getItem("qms_token"); },
  set token(v) { v ? sessionStorage.setItem("qms_token", v) : sessionStorage.removeItem("qms_token"); },
};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// A server that hangs is not a dead one: every request has a deadline, and a request past it
// may still be carried out later (say so, never pretend it failed for sure).
export const API_TIMEOUT_MS = 6000;
export const TIMEOUT_MESSAGE = "Máy chủ không trả lời. Thao tác có thể chưa được ghi nhận: chờ trạng thái kết nối " +
  "trở lại, xem lại vé đang xử lý rồi mới bấm lại; the server did not answer: the action may not have been recorded, " +
  "wait for the link to come back and check the ticket before pressing again";

export async function api(method, path, body, { timeoutMs = API_TIMEOUT_MS } = {}) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response, data;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                               credentials: "same-origin", signal: abort.signal });
    data = await response.json().catch(() => null);
  } catch (e) {
    if (abort.signal.aborted) throw new ApiError(0, { error: "timeout", message: TIMEOUT_MESSAGE });
    throw new ApiError(0, { error: "unreachable", message: "Không kết nối được máy chủ: kiểm tra mạng của quầy rồi thử lại; the server cannot be reached" });
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// The socket's own keep-alive notices a hung server only after tens of seconds: a screen that
// acts (the console) asks the server every few seconds and reports silence within ~5 s.
export function heartbeat(socket, onSilence, { everyMs = 2500, missed = 2 } = {}) {
  let misses = 0;
  return setInterval(() => {
    if (!socket.connected) { misses = 0; return; }
    socket.timeout(everyMs).emit("heartbeat", { center: config.center.id }, (err) => {
      misses = err ? misses + 1 : 0;
      onSilence(misses >= missed);
    });
  }, everyMs);
}

// "Tiếng Việt; English" -> [vi, en]
export function splitMessage(message) {
  const text = String(message || "");
  const i = text.indexOf("; ");
  return i < 0 ? [text, ""] : [text.slice(0, i), text.slice(i + 2)];
}

export function linkBadge(node, connected, message) {
  node.classList.toggle("ok", connected);
  node.classList.toggle("down", !connected);
  node.textContent = connected ? "● Trực tuyến" : (message || "● Mất kết nối — đang kết nối lại… / Reconnecting…");
}

export const SILENT_BADGE = "● Máy chủ không trả lời — thao tác chưa chắc được ghi nhận / Server not answering";

// --- the error banner and sign-in form of the dashboard and the plan page -------------------
// (#error with #error-vi/#error-en, and _sign_in.html's #login-form)
export function showError(message) {
  const [vi, en] = splitMessage(message);
  $("#error-vi").textContent = vi;
  $("#error-en").textContent = en ? ` ${en}` : "";
  $("#error").hidden = !message;
}

export function bindSignIn(start) {
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const out = await api("POST", "/auth/login", { username: $("#username").value.trim(), password: $("#password").value });
      session.token = out.token;
      start();
    } catch (err) { showError(err.message); }
  });
}
