// The plan page (/dashboard/plan): the same plan as `qms plan --date D --absent ...`, from
// GET /api/v1/plan, with a Chart.js chart of the clerks needed against the roster per half hour
// and a what-if form (date, clerks absent). Director and admin only.
/* global Chart */
import { $, api, bindSignIn, clock, config, el, showError } from "./live.js";

export const planPage = { plan: null, chart: null, roster: null, busy: false, pending: null };
window.qmsPlan = planPage; // for diagnostics and tests

function localDay(offsetDays) {
  const d = new Date((clock.now() + offsetDays * 86400) * 1000);
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: config.center.timezone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(d);
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// the first working day ([hours] work_days) after today: the day a director plans for
function nextWorkingDay() {
  const work = (config.hours && config.hours.work_days) || [1, 2, 3, 4, 5];
  for (let k = 1; k <= 7; k++) {
    const day = localDay(k);
    const iso = ((new Date(`${day}T12:00:00Z`).getUTCDay() + 6) % 7) + 1; // 1 = Monday
    if (work.includes(iso)) return day;
  }
  return localDay(1);
}

const num3 = (x) => (typeof x === "number" ? x.toLocaleString("vi-VN", { maximumFractionDigits: 3 }) : x);
const dmy = (d) => (d ? d.split("-").reverse().join("/") : d);
const num = (x) => (Math.round(x * 10) / 10).toLocaleString("vi-VN");

function renderChart(p) {
  const labels = p.slots.map((s) => s.start);
  const sum = (key) => p.slots.map((s) => Math.round(Object.values(s.services).reduce((a, v) => a + v[key], 0) * 100) / 100);
  const needed = sum("needed"), staffed = sum("staffed"), added = p.slots.map((s) => Object.values(s.services).reduce((a, v) => a + v.added, 0));
  const data = { labels, datasets: [
    { type: "bar", label: "Có theo lịch trực · on the roster", data: staffed, backgroundColor: "#93c5fd", order: 3 },
    { type: "bar", label: "Thêm theo kế hoạch · added by the plan", data: added, backgroundColor: "#f59e0b", order: 2 },
    { type: "line", label: "Cần để giữ 97% trong 15 phút · needed", data: needed, borderColor: "#b91c1c",
      backgroundColor: "#b91c1c", pointRadius: 3, borderWidth: 2, order: 1 },
  ] };
  if (planPage.chart) { planPage.chart.data = data; planPage.chart.update("none"); return; }
  planPage.chart = new Chart($("#chart-plan"), { type: "bar", data, options: {
    responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { position: "bottom" } },
    scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "cán bộ · clerks" } } },
  } });
}

function fixText(f, names) {
  const svc = `${names[f.service] || f.service} (${f.service})`;
  if (f.kind === "move") return `Chuyển cán bộ ${f.clerk} sang ${svc} ${f.start}–${f.end} (làm ${names[f.service] || f.service} trước, không thêm giờ công) · move ${f.clerk} to ${f.service} ${f.start}–${f.end} (that service first, no extra clerk-hours)`;
  if (f.kind === "train") return `Giao thêm lĩnh vực ${svc} cho cán bộ ${f.clerk} (đang rảnh từ ${f.start}) · train ${f.clerk} for ${f.service}`;
  if (f.kind === "extend") return `Kéo dài ca của ${f.clerk} ${f.start}–${f.end} cho ${svc} · extend ${f.clerk}'s shift`;
  const also = f.also || [];
  const two = also.length ? `, biết cả ${also.map((c) => names[c] || c).join(", ")}` : "";
  return `Thêm 1 cán bộ ${svc}${two} ${f.start}–${f.end} (${num(f.clerk_hours)} giờ công) · one more clerk for ${[f.service, ...also].join("+")}`;
}

function render(p) {
  planPage.plan = p;
  const h = p.history;
  $("#plan-history").textContent = `Dự báo từ ${h.days} ngày làm việc trước (${h.same_weekday_days} ngày cùng thứ), hệ số thứ ` +
    `${num3(h.weekday_factor)}, xu hướng ${num3(h.trend)}` + (h.notes.length ? ` — ${h.notes.join("; ")}` : "");
  const short = p.slots.filter((s) => Object.values(s.services).some((v) => v.short >= 0.5)).length;
  $("#plan-summary").replaceChildren(el("span", {},
    el("b", {}, `${p.weekday} ${p.date.split("-").reverse().join("/")}: dự kiến ${Math.round(p.forecast_total)} lượt; `),
    short ? el("span", { class: "plan-short" }, `${short} nửa giờ thiếu cán bộ theo lịch trực; `) : el("span", {}, "lịch trực đủ; "),
    el("span", {}, `giờ công thêm: ${num(p.extra_clerk_hours)}`),
    p.absent.length ? el("span", {}, ` — vắng: ${p.absent.join(", ")}`) : null,
    el("span", { class: "en" }, ` · ${Math.round(p.forecast_total)} citizens expected, ${short} half hours short, ${num(p.extra_clerk_hours)} extra clerk-hours`)));
  $("#plan-fixes").replaceChildren(...(p.fixes.length ? p.fixes.map((f) => el("li", { dataset: { kind: f.kind } }, fixText(f, p.services)))
    : [el("li", { class: "empty-state" }, "Không cần thay đổi: lịch trực đủ · none needed")]));
  $("#plan-moves").replaceChildren(...(p.moves.length ? p.moves.map((m) => el("li", {},
    `${m.clerk} ưu tiên ${p.services[m.service] || m.service} (${m.service}) ${m.start}–${m.end}`))
    : [el("li", { class: "empty-state" }, "Không có · none")]));
  const ck = p.check;
  $("#plan-check-result").textContent = ck
    ? `Kiểm tra bằng mô phỏng ${ck.synthetic_days} ngày theo dự báo (${ck.tickets} lượt): ${num(ck.within_15_min * 100)}% được gọi trong 15 phút · simulated check${ck.held_out_days ? `; ${ck.held_out_days} ngày kiểm chứng riêng: thấp nhất ${num(Math.min(...ck.held_out_by_day) * 100)}%, ${ck.held_out_kept ? "giữ được lời hứa · held-out days keep the promise" : "CHƯA giữ được lời hứa · held-out days do NOT keep the promise"}` : ""}`
    : "Chưa kiểm tra bằng mô phỏng (chỉ công thức hàng đợi) · not checked by simulation (the queueing formula only)";
  const codes = Object.keys(p.services);
  $("#plan-table thead").replaceChildren(el("tr", {}, el("th", {}, "Giờ", el("span", { class: "en" }, "Time")),
    ...codes.map((c) => el("th", {}, p.services[c], el("span", { class: "en" }, c)))));
  $("#plan-table tbody").replaceChildren(...p.slots.map((s) => el("tr", {}, el("td", {}, `${s.start}–${s.end}`),
    ...codes.map((c) => {
      const v = s.services[c];
      if (v.forecast < 0.05 && v.staffed === 0) return el("td", {}, "–");
      return el("td", { class: v.short >= 0.5 ? "short" : "" }, `${num(v.forecast)} · ${num(v.needed)}/${num(v.staffed)}` + (v.short >= 0.5 ? ` (−${num(v.short)})` : ""));
    }))));
  for (const id of ["#plan-chart-box", "#plan-fixes-box", "#plan-table-box"]) $(id).hidden = false;
  renderChart(p);
}

// The server makes a plan as a job: it answers 202 with what is being done while it works
// (queued, or running for so long) and the plan itself once made; the page asks again after
// retry_after_s. A newer request (the form sent again) supersedes the one being waited for.
const PLAN_ASK_TIMEOUT_MS = 30000; // the server waits up to 15 s for the plan before answering 202
let planRun = 0;
const pause = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

async function runPlan() {
  const date = $("#plan-date").value;
  const absent = [...document.querySelectorAll("#plan-absent input:checked")].map((i) => i.value);
  const check = $("#plan-check").checked;
  const q = new URLSearchParams({ date, check: String(check) });
  if (absent.length) q.set("absent", absent.join(","));
  const mine = ++planRun;
  planPage.busy = true;
  $("#plan-status").textContent = check ? "Đang lập kế hoạch và mô phỏng ngày… · planning and simulating the day…" : "Đang lập kế hoạch… · planning…";
  try {
    for (;;) {
      const answer = await api("GET", `/plan?${q}`, undefined, { timeoutMs: PLAN_ASK_TIMEOUT_MS });
      if (mine !== planRun) return; // the form was sent again meanwhile
      if (!answer.state) { render(answer); break; }
      $("#plan-status").textContent = answer.message;
      planPage.pending = answer;
      await pause(answer.retry_after_s || 3);
      if (mine !== planRun) return;
    }
    showError("");
    $("#plan-status").textContent = "";
  } catch (err) {
    if (mine !== planRun) return;
    showError(err.message || String(err));
    $("#plan-status").textContent = "";
  } finally {
    if (mine === planRun) { planPage.busy = false; planPage.pending = null; }
  }
}

$("#plan-form").addEventListener("submit", (e) => { e.preventDefault(); runPlan(); });

async function start() {
  try { planPage.me = await api("GET", "/auth/me"); } catch (err) { $("#login").hidden = false; return; }
  if (!["director", "admin"].includes(planPage.me.role)) {
    showError("Kế hoạch nhân sự dành cho lãnh đạo và quản trị viên; the plan is for directors and admins");
    $("#login").hidden = false;
    return;
  }
  showError("");
  $("#login").hidden = true;
  $("#plan-main").hidden = false;
  $("#who").textContent = planPage.me.name;
  $("#plan-date").value = nextWorkingDay();
  try {
    planPage.roster = await api("GET", "/plan/roster");
    $("#plan-absent").append(...planPage.roster.clerks.map((c) => el("label", {}, el("input", { type: "checkbox", value: c }), c)));
    $("#plan-history").textContent = `Lịch sử: ${planPage.roster.history_days} ngày, ${dmy(planPage.roster.first_day)} → ${dmy(planPage.roster.last_day)} · history`;
  } catch (err) {
    showError(err.message || String(err));
    $("#plan-submit").disabled = true;
    return;
  }
  runPlan();
}

bindSignIn(start);
start();
