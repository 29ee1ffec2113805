// The director's dashboard: services, counters and devices, live over the socket.
import { $, api, bindSignIn, clock, config, connectLive, el, fmt, linkBadge, renderList, services, session, showError,
         splitMessage } from "./live.js";

const model = { snap: null, devices: null, me: null, live: null };
const DEVICE_KIND = { kiosk: "Ki-ốt lấy số", display: "Màn hình", printer: "Máy in", counter: "Bàn phím quầy",
                      robot: "Robot", announcer: "Loa gọi số" };
const COUNTER_STATE = { open: "Đang mở", paused: "Tạm nghỉ", closed: "Đóng" };

function share(value) {
  if (value == null) return el("span", { class: "en" }, "—");
  const pct = Math.round(value * 100);
  const cls = pct >= 90 ? "" : pct >= 70 ? "warn" : "bad";
  const fill = el("div", { class: `bar-fill ${cls}` });
  fill.style.width = `${pct}%`; // CSSOM, allowed by the style-src policy
  return el("div", { class: "share" }, el("div", { class: "bar-bg" }, fill), el("b", {}, `${pct}%`));
}

function waitCell(seconds, target) {
  const cls = seconds >= target ? "bad" : seconds >= target - 300 ? "warn" : "";
  return el("td", { class: `num big ${cls}` }, seconds ? fmt.clock(seconds) : "—");
}

function renderServices() {
  const age = clock.now() - model.snap.at; // the longest wait keeps growing between pushes
  $("#services").replaceChildren(...model.snap.services.map((s) => el("tr", { dataset: { service: s.service } },
    el("td", {}, el("b", {}, s.name), el("span", { class: "en" }, ` ${s.name_en || ""}`)),
    el("td", { class: "num big" }, String(s.waiting)),
    waitCell(s.waiting ? s.longest_wait_s + age : 0, config.targets.max_wait_s),
    el("td", { class: "num" }, s.estimated_wait_text ||
      `${fmt.minutes(s.estimated_wait_s).startsWith("<") ? "" : "~"}${fmt.minutes(s.estimated_wait_s)} phút`),
    el("td", { class: "num big" }, String(s.served_today)),
    el("td", {}, share(s.within_target_share)))));
}

function renderCounters() {
  const now = clock.now();
  $("#counters").replaceChildren(...model.snap.counters.map((c) => {
    const t = c.ticket;
    const held = t ? now - (t.started_at || t.called_at || now) : 0;
    const target = t && t.started_at ? config.targets.max_service_s : config.targets.max_wait_s;
    return el("tr", { dataset: { counter: c.number } },
      el("td", { class: "big" }, String(c.number)),
      el("td", {}, el("span", { class: `pill ${c.state}` }, COUNTER_STATE[c.state] || c.state)),
      el("td", {}, c.clerk ? (c.clerk_name || c.clerk) : "—",
        c.clerk && c.clerk_name ? el("span", { class: "en" }, ` ${c.clerk}`) : null),
      el("td", {}, t ? el("b", {}, t.code) : "—", t ? el("span", { class: "en" }, t.state === "called" ? " đang mời · called" : " đang phục vụ · serving") : null),
      t ? waitCell(held, target) : el("td", { class: "num" }, c.state !== "closed" && c.since ? el("span", { class: "en" }, `từ ${fmt.hm(c.since)}`) : ""),
      el("td", {}, c.services.map((s) => (services[s] || {}).name || s).join(", ")));
  }));
}

const PRINTER_VI = { ok: "tốt", no_paper: "hết giấy", paper_low: "sắp hết giấy", cover_open: "mở nắp",
  offline: "mất kết nối", error: "lỗi", absent: "không có" };
// Health fault codes (docs/mqtt.md), as a director reads them; an unknown code is shown as sent.
const FAULT_VI = {
  printer_stuck: "Máy in bị treo: không nhận lệnh in (kẹt giấy?), phiếu chưa in được",
  printer_no_paper: "Máy in hết giấy", printer_paper_low: "Máy in sắp hết giấy",
  printer_cover_open: "Nắp máy in đang mở", printer_offline: "Máy in mất kết nối",
  printer_error: "Máy in báo lỗi", server_unreachable: "Mất kết nối máy chủ",
  outbox_rejected: "Máy chủ từ chối phiếu gửi bù", robot_fault: "Robot báo lỗi" };

function faultList(faults) {
  if (!faults || !faults.length) return "—";
  return el("ul", { class: "faults" }, ...faults.map((f) => el("li", { dataset: { fault: f } },
    FAULT_VI[f] || f, FAULT_VI[f] ? el("span", { class: "en" }, ` ${f}`) : null)));
}

function duration(seconds) {
  const m = Math.floor(seconds / 60), h = Math.floor(m / 60);
  return h ? `${h} giờ ${m % 60} phút` : `${m} phút`;
}

/** The health fields a director reads, in Vietnamese; nulls and internals left out. */
function healthText(h) {
  const parts = [];
  if (h.printer) parts.push(`Máy in: ${PRINTER_VI[h.printer] || h.printer}`);
  if (h.outbox !== null && h.outbox !== undefined) parts.push(`Chờ gửi: ${h.outbox}`);
  if (h.battery_pct !== null && h.battery_pct !== undefined) parts.push(`Pin: ${Math.round(h.battery_pct)}%`);
  if (h.temperature_c !== null && h.temperature_c !== undefined) parts.push(`${Math.round(h.temperature_c)} °C`);
  if (h.state) parts.push(`Trạng thái: ${h.state}`);
  if (h.uptime_s !== null && h.uptime_s !== undefined) parts.push(`Chạy ${duration(h.uptime_s)}`);
  return parts.join(" · ");
}

function renderDevices() {
  const list = model.devices;
  const box = $("#devices");
  if (!list || !list.length) {
    box.replaceChildren(el("p", { class: "empty-state" }, "Chưa có thiết bị nào báo cáo. ",
      el("span", { class: "en" }, "No device has reported yet (kiosks, displays and printers appear here once they connect).")));
    return;
  }
  box.replaceChildren(el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, ...["Thiết bị|Device", "Loại|Kind", "Trạng thái|State", "Lần cuối|Last seen", "Lỗi|Faults", "Sức khoẻ|Health"]
      .map((h) => { const [vi, en] = h.split("|"); return el("th", {}, vi, el("span", { class: "en" }, en)); }))),
    el("tbody", {}, ...list.map((d) => {
      const state = d.faults && d.faults.length ? "fault" : d.silent ? "silent" : d.online === false ? "offline" : d.online ? "online" : "silent";
      const label = { fault: "Có lỗi · Fault", silent: "Im lặng · Silent", offline: "Ngoại tuyến · Offline", online: "Trực tuyến · Online" }[state];
      const health = healthText(d.health || {});
      const name = d.name && d.name !== d.id ? [el("b", {}, d.name), el("span", { class: "en" }, ` ${d.id}`)] : [el("b", {}, d.id)];
      return el("tr", { dataset: { device: d.id } }, el("td", {}, ...name), el("td", {}, DEVICE_KIND[d.kind] || d.kind),
        el("td", {}, el("span", { class: `pill ${state}` }, label)),
        el("td", {}, d.last_seen ? `${fmt.hm(d.last_seen)} ${fmt.date(d.last_seen)}` : "—"),
        el("td", {}, faultList(d.faults)), el("td", { class: "en" }, health || "—"));
    }))));
}

$("#pair-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = $("#pair-result");
  try {
    const paired = await api("POST", "/pairing/approve", { code: $("#pair-code").value.trim(), name: $("#pair-name").value.trim(),
                                                           site: $("#pair-site").value || null,
                                                           counter: $("#pair-counter").value ? Number($("#pair-counter").value) : null });
    out.className = "pair-result ok";
    out.textContent = `Đã ghép nối màn hình «${paired.name}» (${paired.device}); màn hình sẽ tự kết nối trong vài giây. · Paired.`;
    $("#pair-code").value = "";
    $("#pair-name").value = "";
  } catch (err) {
    out.className = "pair-result bad";
    out.textContent = err.message;
  }
});

async function resolveAlert(alert) {
  const path = alert.kind === "low_rating" ? `/rating-alerts/${alert.id}/resolve` : `/handover-alerts/${alert.id}/resolve`;
  try { await api("POST", path); } catch (err) { showError(err.message || String(err)); }
}

// --- today's satisfaction: asked again after events, at most every few seconds --------------
const LEVELS = [["4", "Rất hài lòng"], ["3", "Hài lòng"], ["2", "Bình thường"], ["1", "Không hài lòng"]];
let satisfactionAt = 0, satisfactionTimer = null;
function satisfactionRow(label, r) {
  return el("tr", {}, el("td", {}, label), el("td", { class: "num" }, String(r.ratings)),
    ...LEVELS.map(([k]) => el("td", { class: `num ${k === "1" && r.levels[k] ? "bad" : ""}` }, String(r.levels[k]))),
    el("td", {}, share(r.satisfied_share)));
}
async function refreshSatisfaction() {
  satisfactionTimer = null;
  satisfactionAt = Date.now();
  try {
    const s = await api("GET", "/ratings/today");
    const none = (n) => el("tr", {}, el("td", { colspan: String(n), class: "empty-state" }, "Chưa có đánh giá hôm nay. ",
      el("span", { class: "en" }, "No rating yet today.")));
    $("#satisfaction-services").replaceChildren(...(s.services.length ? s.services.map((r) => satisfactionRow(r.name, r)) : [none(7)]));
    $("#satisfaction-counters").replaceChildren(...(s.counters.length ? s.counters.map((r) => satisfactionRow(`Quầy ${r.counter}`, r)) : [none(7)]));
  } catch (err) { /* the next event asks again */ }
}
function scheduleSatisfaction() {
  if (satisfactionTimer) return;
  satisfactionTimer = setTimeout(refreshSatisfaction, Math.max(0, 3000 - (Date.now() - satisfactionAt)));
}

function renderAlerts() {
  const alerts = model.snap.alerts || [];
  if (!alerts.length) {
    renderList($("#alerts"), "[]", () => [el("li", { class: "empty-state" }, "Không có cảnh báo: chưa ai chờ quá hạn. ",
      el("span", { class: "en" }, "No alert: nobody is waiting past the target."))]);
    return;
  }
  renderList($("#alerts"), JSON.stringify(alerts), () => alerts.map((a) => {
    const [vi, en] = splitMessage(a.message);
    return el("li", { class: `alert sev-${a.severity}`, dataset: { kind: a.kind, service: a.service || "" } },
      el("b", {}, vi), en ? el("span", { class: "en" }, ` ${en}`) : null,
      a.recommendations.length ? el("ul", { class: "advice" }, ...a.recommendations.map((r) => {
        const [rvi, ren] = splitMessage(r);
        return el("li", {}, rvi, ren ? el("span", { class: "en" }, ` ${ren}`) : null);
      })) : null,
      a.resolvable ? el("button", { type: "button", class: "resolve", dataset: { alert: String(a.id) },
        onclick: () => resolveAlert(a) }, "Đã xử lý · Resolved") : null);
  }));
}

function render() {
  if (!model.snap) return;
  renderAlerts();
  renderServices();
  renderCounters();
  renderDevices();
}

function onSnapshot(snap) {
  model.snap = snap;
  scheduleSatisfaction();
  if ("devices" in snap) model.devices = snap.devices;
  render();
  document.dispatchEvent(new CustomEvent("qms:snapshot", { detail: snap })); // dashboard-insight.js
}

function onDevices(payload) {
  const list = Array.isArray(payload) ? payload : payload && Array.isArray(payload.devices) ? payload.devices : null;
  if (list) { model.devices = list; renderDevices(); } else model.live && model.live.resync();
}

$("#site").addEventListener("change", () => {
  const site = $("#site").value || null;
  model.live.socket.emit("subscribe", { center: config.center.id, site });
  updateReportLink();
});

bindSignIn(start);

async function start() {
  try { model.me = await api("GET", "/auth/me"); } catch (err) { $("#login").hidden = false; return; }
  showError("");
  if (!["director", "admin"].includes(model.me.role)) {
    showError("Bảng điều hành dành cho lãnh đạo và quản trị viên; the dashboard is for directors and admins");
    $("#login").hidden = false;
    return;
  }
  $("#login").hidden = true;
  $("#dash").hidden = false;
  $("#who").textContent = model.me.name;
  document.dispatchEvent(new CustomEvent("qms:dashboard", { detail: model.me })); // dashboard-insight.js
  model.live = connectLive({
    auth: () => ({ center: config.center.id, ...(session.token ? { token: session.token } : {}) }),
    onSnapshot, onDevices,
    onLink: (ok, msg) => linkBadge($("#link"), ok, msg),
    onRefused: (msg) => { showError(msg); $("#login").hidden = false; },
  });
}

window.qmsDashboard = model; // for diagnostics and tests
function tick() { // the local clock tick: running clocks only, no request
  $("#clock").textContent = fmt.time(clock.now());
  if (model.snap) { renderServices(); renderCounters(); }
}
tick();
setInterval(tick, 1000);
start();


// --- report download: the session cookie authorises the plain link ------------------------------
function localDay(offsetDays) {
  const d = new Date((clock.now() + offsetDays * 86400) * 1000);
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: config.center.timezone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(d);
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// What is wrong with the chosen days, said before a link is followed (the API would answer a
// page of JSON): none chosen, "from" after "to", more than a year (server/reporting/period.py)
function reportProblem(from, to) {
  if (!from || !to) return ["Hãy chọn cả ngày bắt đầu và ngày kết thúc", "choose both days"];
  const fmtDay = (d) => d.split("-").reverse().join("/");
  if (from > to) return [`Ngày bắt đầu (${fmtDay(from)}) sau ngày kết thúc (${fmtDay(to)})`, "'from' is after 'to'"];
  if ((Date.parse(to) - Date.parse(from)) / 86400000 >= 366) return ["Một báo cáo tối đa một năm", "a report covers at most a year"];
  return null;
}

function updateReportLink() {
  const from = $("#report-from").value, to = $("#report-to").value;
  const problem = reportProblem(from, to);
  $("#report-problem").hidden = !problem;
  $("#report-problem").replaceChildren(...(problem ? [el("b", {}, problem[0]), el("span", { class: "en" }, ` ${problem[1]}`)] : []));
  for (const a of document.querySelectorAll("#report-form a.button")) {
    if (problem) { a.removeAttribute("href"); a.setAttribute("aria-disabled", "true"); } else a.removeAttribute("aria-disabled");
  }
  if (problem) return;
  $("#report-link").href = `/api/v1/reports/daily.csv?from=${from}&to=${to}`;
  $("#report-link").setAttribute("download", `bao-cao-${from}-${to}.csv`);
  for (const a of document.querySelectorAll("a.report-file")) {
    const site = $("#site").value ? `&site=${$("#site").value}` : "";  // one site, or the whole center
    a.href = `/api/v1/reports/file?from=${from}&to=${to}&format=${a.dataset.format}${site}`;
  }
}

$("#report-from").value = localDay(-6);
$("#report-to").value = localDay(0);
$("#report-from").addEventListener("input", updateReportLink);
$("#report-from").addEventListener("change", updateReportLink);
$("#report-to").addEventListener("input", updateReportLink);
$("#report-to").addEventListener("change", updateReportLink);
updateReportLink();
