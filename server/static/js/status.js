// A citizen's ticket, live: place in line, estimated wait, "Mời đến quầy N" when called.
// The socket joins only this ticket's room (auth: the ticket's status token).
import { $, clock, config, connectLive, el, fmt } from "./live.js";
import { chime } from "./chime.js";

const token = document.querySelector("main.status").dataset.token;
let last = JSON.parse($("#qms-status").textContent);

const STATES = {
  waiting: ["Đang chờ đến lượt", "Waiting for your turn"],
  called: ["Mời đến quầy", "Please go to counter"],
  serving: ["Đang được phục vụ tại quầy", "Being served at counter"],
  parked: ["Hồ sơ tạm gác — xin chờ cán bộ gọi lại", "Set aside — the clerk will call you again"],
  done: ["Đã hoàn thành. Cảm ơn quý khách!", "Done. Thank you!"],
  no_show: ["Đã gọi nhưng quý khách vắng mặt — xin liên hệ quầy", "You were called but not present — please ask at a counter"],
  cancelled: ["Vé đã huỷ", "Ticket cancelled"],
  abandoned: ["Vé đã hết hiệu lực", "Ticket no longer valid"],
};

function render(st) {
  const [vi, en] = STATES[st.state] || [st.state, ""];
  const node = $("#state");
  node.className = `state ${st.state}`;
  document.body.dataset.state = st.state;
  if (st.counter != null && (st.state === "called" || st.state === "serving")) {
    node.replaceChildren(el("div", { class: "vi" }, `${vi} `, el("b", { id: "counter" }, String(st.counter))),
                         el("div", { class: "en" }, `${en} ${st.counter}`));
  } else {
    node.replaceChildren(el("div", { class: "vi" }, vi), el("div", { class: "en" }, en));
  }
  $("#figures").hidden = st.state !== "waiting";
  $("#ahead").textContent = String(st.people_ahead);
  // the server words the estimate's range ("khoảng 10–15 phút"), as on the ticket
  $("#estimate").replaceChildren(st.estimated_wait_text, el("small", { class: "en" }, st.estimated_wait_text_en));
}

function onStatus(st) {
  const newlyCalled = st.state === "called" && (last.state !== "called" || last.called_at !== st.called_at);
  last = st;
  render(st);
  if (newlyCalled) {
    chime();
    if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
  }
}

render(last);
clock.sync(last.at);
connectLive({
  auth: () => ({ center: config.center.id, status: token }),
  onStatus,
  onLink: (ok) => { $("#link").textContent = ok ? "" : "Mất kết nối — đang kết nối lại… · Reconnecting…"; },
  onRefused: () => { $("#link").textContent = "Không tìm thấy vé · Ticket not found"; },
});
