// The dashboard's second version: overload flags, the alert log (with a chime and a browser
// notification when a new breach is predicted) and the charts of the day, drawn by Chart.js
// (server/static/vendor/chart.umd.min.js). Data: GET /api/v1/dashboard/watch and /dashboard/charts,
// asked again after the live snapshots dashboard.js receives (at most every few seconds).
/* global Chart */
import { $, api, config, el, fmt, services, splitMessage } from "./live.js";
import { audioReady, chime, unlockAudio } from "./chime.js";

const WATCH_EVERY_MS = 2000, CHARTS_EVERY_MS = 10000, PERIODIC_MS = 15000;
const ALARM_KINDS = new Set(["predicted_breach", "wait_breach"]);
const PALETTE = ["#1d4ed8", "#b91c1c", "#047857", "#b45309", "#7c3aed", "#0e7490", "#be185d", "#4d7c0f", "#334155"];
const FLAG_VI = { cannot_clear: "Không kịp giải quyết", paused_while_breach: "Tạm nghỉ khi quá hạn",
  idle_while_breach: "Rảnh khi quá hạn", called_not_started: "Gọi mà chưa phục vụ", service_overrun: "Phục vụ quá 30 phút" };

export const insight = { charts: {}, lastLogId: null, log: [], overload: [], notified: [], chimes: 0, data: null,
                         watchAt: 0, chartsAt: 0, started: false };
window.qmsInsight = insight; // for diagnostics and tests

const color = (code) => PALETTE[Object.keys(services).indexOf(code) % PALETTE.length];
const svcName = (code) => (services[code] || {}).name || code;
const pct = (x) => (x == null ? null : Math.round(x * 1000) / 10);

function bilingual(message) {
  const [vi, en] = splitMessage(message);
  return [el("b", {}, vi), en ? el("span", { class: "en" }, ` ${en}`) : null];
}

// --- overload ---------------------------------------------------------------------------------
function renderOverload(list) {
  const flagged = list.filter((c) => c.overloaded);
  if (!flagged.length) {
    $("#overload").replaceChildren(el("li", { class: "empty-state ok" }, "Không có quầy quá tải. ",
      el("span", { class: "en" }, "No counter is overloaded.")));
    return;
  }
  $("#overload").replaceChildren(...flagged.map((c) => el("li", { class: `alert sev-${c.severity}`, dataset: { counter: String(c.counter) } },
    el("b", {}, `Quầy ${c.counter}`), el("span", { class: "en" }, ` Counter ${c.counter}`),
    el("ul", { class: "flags" }, ...c.flags.map((f) => el("li", { dataset: { flag: f.kind } },
      el("b", {}, `${FLAG_VI[f.kind] || f.kind}: `), ...bilingual(f.message)))))));
}

// --- the alert log, the chime and the notification -----------------------------------------------
const CONTROL_VI = { applied: "Đã áp dụng", undone: "Đã hoàn tác" };
function show(v) { return Array.isArray(v) ? v.map(svcName).join(", ") : v == null ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v); }
function controlRow(c) {
  return el("tr", { class: `log-control log-${c.event}`, dataset: { kind: "control", event: c.event, counter: String(c.counter ?? "") } },
    el("td", {}, fmt.hm(c.at)),
    el("td", {}, CONTROL_VI[c.event] || c.event, el("span", { class: "en" }, ` ${c.event}`)),
    el("td", {}, el("b", {}, `Quầy ${c.counter ?? "—"}: `), c.message ? c.message.split("; ")[0] : `${c.action || ""} ${show(c.before)} → ${show(c.after)}`,
      el("span", { class: "en" }, ` (${c.by || "?"})`)),
    el("td", { class: "num" }, "—"));
}

function renderLog() {
  const controls = insight.controls || [];
  if (!insight.log.length && !controls.length) {
    $("#alert-log").replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "empty-state" },
      "Chưa có cảnh báo nào hôm nay. ", el("span", { class: "en" }, "No alert yet today."))));
    return;
  }
  const rows = [...insight.log.map((e) => ({ at: e.at, alert: e })), ...controls.map((c) => ({ at: c.at, control: c }))]
    .sort((a, b) => b.at - a.at).slice(0, 150);
  $("#alert-log").replaceChildren(...rows.map(({ alert: e, control }) => control ? controlRow(control) : el("tr",
    { class: `log-${e.event}`, dataset: { kind: e.kind || "", event: e.event, service: e.service || "" } },
    el("td", {}, fmt.hm(e.at)),
    el("td", {}, e.event === "raised" ? "Phát sinh" : "Đã hết", el("span", { class: "en" }, e.event === "raised" ? " raised" : " cleared")),
    el("td", {}, ...bilingual(e.message)),
    el("td", { class: "num" }, e.duration_s != null ? `${Math.max(1, Math.round(e.duration_s / 60))} phút` : "—"))));
}

function notifyState() {
  const perm = "Notification" in window ? Notification.permission : "unsupported";
  const said = { granted: "Thông báo: bật · notifications on", denied: "Thông báo bị chặn trong trình duyệt · blocked",
                 default: "Thông báo: chưa bật · not enabled", unsupported: "Trình duyệt không hỗ trợ thông báo · unsupported" }[perm];
  $("#notify-state").textContent = `${said}; chuông: ${audioReady() ? "bật · sound on" : "chưa bật · sound off"}`;
}

function alarm(entry) {
  const [vi, en] = splitMessage(entry.message);
  chime();
  insight.chimes += 1;
  let shown = false;
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      const n = new Notification(`Cảnh báo: ${vi}`, { body: en || vi, tag: entry.key, lang: "vi" });
      n.onclick = () => { window.focus(); n.close(); };
      shown = true;
    } catch (err) { /* some browsers allow notifications only from a service worker */ }
  }
  insight.notified.push({ id: entry.id, kind: entry.kind, key: entry.key, message: entry.message, shown });
}

async function refreshWatch() {
  insight.watchAt = Date.now();
  let out;
  try {
    out = await api("GET", `/dashboard/watch?after=${insight.lastLogId || 0}`);
  } catch (err) { return; }
  const first = insight.lastLogId === null;
  if (insight.day && out.day !== insight.day) insight.log = []; // a page open over midnight: a new day's log
  insight.day = out.day;
  insight.overload = out.overload;
  insight.controls = out.controls || [];
  renderOverload(out.overload);
  for (const e of out.log) {
    insight.log.push(e);
    // only what appears while the page is open rings: the log shows what came before
    if (!first && e.event === "raised" && ALARM_KINDS.has(e.kind)) alarm(e);
  }
  if (insight.log.length > 500) insight.log.splice(0, insight.log.length - 500);
  insight.lastLogId = out.last_id;
  renderLog();
}

$("#notify-enable").addEventListener("click", async () => {
  await unlockAudio();
  if ("Notification" in window && Notification.permission === "default") {
    try { await Notification.requestPermission(); } catch (err) { /* refused */ }
  }
  notifyState();
});

// --- charts -------------------------------------------------------------------------------------
const BASE = { responsive: true, maintainAspectRatio: false, animation: false,
               plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } };

function draw(id, type, data, options) {
  const canvas = document.getElementById(id);
  const old = insight.charts[id];
  if (old) {
    old.data = data;
    old.update("none");
    return old;
  }
  insight.charts[id] = new Chart(canvas, { type, data, options: { ...BASE, ...options } });
  return insight.charts[id];
}

function renderCharts(d) {
  const codes = Object.keys(d.waiting.series).filter((c) => d.waiting.series[c].some((n) => n > 0));
  draw("chart-waiting", "line", {
    labels: d.waiting.labels,
    datasets: codes.map((c) => ({ label: svcName(c), data: d.waiting.series[c], borderColor: color(c),
                                  backgroundColor: color(c), pointRadius: 0, borderWidth: 2, stepped: true })),
  }, { scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "người · people" } } } });

  const target = Math.round(d.target_s / 60);
  draw("chart-within", "bar", {
    labels: d.within_by_hour.map((h) => h.hour),
    datasets: [{ label: `Trong ${target} phút (%) · within ${target} min`, data: d.within_by_hour.map((h) => pct(h.share)),
                 backgroundColor: d.within_by_hour.map((h) => (h.share == null ? "#cbd5e1" : h.share >= 0.9 ? "#15803d" : h.share >= 0.7 ? "#d97706" : "#b91c1c")) }],
  }, { scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } });

  draw("chart-waits", "bar", {
    labels: d.wait_distribution.labels,
    datasets: [{ label: "Đã được gọi · called", data: d.wait_distribution.called, backgroundColor: "#1d4ed8" },
               { label: "Đang chờ · still waiting", data: d.wait_distribution.waiting, backgroundColor: "#f59e0b" }],
  }, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 },
                                            title: { display: true, text: "lượt · tickets" } } } });

  const open = d.counters.filter((c) => c.load != null);
  draw("chart-counters", "bar", {
    labels: open.map((c) => `Quầy ${c.counter}`),
    datasets: [{ label: "Đang phục vụ (%) · busy", data: open.map((c) => pct(c.load)), backgroundColor: "#047857" },
               { label: "Rảnh (%) · idle", data: open.map((c) => pct(c.idle)), backgroundColor: "#cbd5e1" }],
  }, { indexAxis: "y", scales: { x: { stacked: true, min: 0, max: 100 }, y: { stacked: true } } });

  const a = d.arrivals;
  const sets = [{ type: "bar", label: "Thực tế · actual", data: a.actual, backgroundColor: "#1d4ed8", order: 2 }];
  if (a.forecast) {
    sets.push({ type: "line", label: "Dự báo · forecast", data: a.forecast, borderColor: "#b45309",
                backgroundColor: "#b45309", borderDash: [6, 4], pointRadius: 2, order: 1 });
  }
  draw("chart-arrivals", "bar", { labels: a.labels, datasets: sets },
    { scales: { y: { beginAtZero: true, title: { display: true, text: "lượt / nửa giờ · per half hour" } } } });
  const note = $("#arrivals-note");
  note.replaceChildren(...bilingual(a.note));
  note.className = a.forecast ? "chart-note" : "chart-note no-data";
}

async function refreshCharts() {
  insight.chartsAt = Date.now();
  try {
    insight.data = await api("GET", "/dashboard/charts");
  } catch (err) { return; }
  renderCharts(insight.data);
}

// --- when to ask again ---------------------------------------------------------------------------
let watchTimer = null, chartsTimer = null;
function schedule() {
  if (!insight.started) return;
  if (!watchTimer) watchTimer = setTimeout(() => { watchTimer = null; refreshWatch(); },
    Math.max(0, WATCH_EVERY_MS - (Date.now() - insight.watchAt)));
  if (!chartsTimer) chartsTimer = setTimeout(() => { chartsTimer = null; refreshCharts(); },
    Math.max(0, CHARTS_EVERY_MS - (Date.now() - insight.chartsAt)));
}

function start() {
  if (insight.started) return;
  insight.started = true;
  notifyState();
  refreshWatch();
  refreshCharts();
  setInterval(schedule, PERIODIC_MS); // alerts grow with time even when nothing happens
}

document.addEventListener("qms:snapshot", schedule);
document.addEventListener("qms:dashboard", start);
if (window.qmsDashboard && window.qmsDashboard.snap) start();
export { refreshWatch, refreshCharts, config };
