// The director's "Kết thúc ngày làm việc" (server/engine/day_end.py, docs/screens.md): who is still
// waiting, what stands in the way (a citizen in hand: never; a clerk signed in or before closing:
// only when confirmed anyway), one confirmation naming how many citizens are told to come back.
import { $, api, el, fmt, splitMessage } from "./live.js";

const state = { role: null, day: null, busy: false, last: 0 };
const REFRESH_MS = 15000; // the counts follow the snapshots, at most this often (a burst is one request)

function say(node, text, kind = "info") { node.textContent = text; node.dataset.kind = kind; }

function summary(d) {
  const who = `${d.waiting} công dân đang chờ${d.parked ? `, ${d.parked} hồ sơ tạm gác` : ""}`;
  const auto = d.ends_by_itself_at != null
    ? ` Ngày tự kết thúc lúc ${fmt.hm(d.ends_by_itself_at)} nếu không còn cán bộ đăng nhập.` : "";
  return `${who}.${auto} · ${d.waiting} waiting${d.parked ? `, ${d.parked} set aside` : ""}.`;
}

async function refresh() {
  state.last = Date.now();
  try {
    state.day = await api("GET", "/day");
    say($("#day-end-summary"), summary(state.day));
  } catch (err) { say($("#day-end-summary"), err.message || String(err), "error"); }
  $("#day-end-open").hidden = state.role !== "director";
}

async function open() {
  await refresh();
  const d = state.day;
  if (!d) return;
  const n = d.waiting + d.parked;
  $("#day-end-count").replaceChildren(
    el("b", {}, n ? `${n} công dân còn chờ sẽ được báo Trung tâm đã kết thúc ngày làm việc và mời quay lại ngày làm việc tiếp theo.`
                  : "Không còn công dân nào đang chờ."),
    el("span", { class: "en" }, n ? ` ${n} citizens still waiting will be told the center has ended its day.` : " Nobody is waiting."));
  const lines = [];
  for (const c of d.in_hand) lines.push(el("li", { class: "blocked" }, `Quầy ${c.counter} còn vé ${c.ticket} đang xử lý: cán bộ hãy hoàn thành trước · a citizen is in hand`));
  for (const c of d.signed_in) lines.push(el("li", {}, `Quầy ${c.counter}: ${c.clerk_name || c.clerk || ""} còn đăng nhập · still signed in`));
  if (d.before_closes) lines.push(el("li", {}, `Chưa đến giờ đóng cửa (${d.closes}): máy phát số vẫn cấp số · before closing time`));
  $("#day-end-blockers").replaceChildren(...(lines.length ? [el("ul", {}, ...lines)] : []));
  const needsForce = !d.can_end && d.can_force;
  $("#day-end-force-label").hidden = !needsForce;
  $("#day-end-force").checked = false;
  $("#day-end-confirm").disabled = !d.can_force || needsForce;
  $("#day-end-dialog").showModal();
}

$("#day-end-force").addEventListener("change", () => { $("#day-end-confirm").disabled = !$("#day-end-force").checked; });
$("#day-end-cancel").addEventListener("click", () => $("#day-end-dialog").close());
$("#day-end-open").addEventListener("click", open);
$("#day-end-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (state.busy) return;  // a double click ends the day once
  state.busy = true;
  $("#day-end-confirm").disabled = true;
  const force = !state.day.can_end;
  try {
    const r = await api("POST", "/day/end", { force });
    say($("#day-end-result"), `Đã kết thúc ngày làm việc: ${r.ended + r.finished} vé (${fmt.time(r.at)}) · the day is ended`, "ok");
  } catch (err) {
    say($("#day-end-result"), splitMessage(err.message || String(err))[0], "error");
  }
  state.busy = false;
  $("#day-end-dialog").close();
  refresh();
});

document.addEventListener("qms:dashboard", (e) => { state.role = e.detail.role; refresh(); });
document.addEventListener("qms:snapshot", () => {
  if (state.role && !state.busy && Date.now() - state.last > REFRESH_MS) refresh();
});
if (window.qmsDashboard && window.qmsDashboard.me) { state.role = window.qmsDashboard.me.role; refresh(); }
