// A citizen's ticket, live: place in line, estimated wait, "Mời đến quầy N" when called.
// The socket joins only this ticket's room (auth: the ticket's status token).
import { $, clock, config, connectLive, el, fmt } from "./live.js";
import { chime } from "./chime.js";

const token = document.querySelector("main.status").dataset.token;
let last = JSON.parse($("#qms-status").textContent);

const STATES = {
  pending: ["Phiếu hợp lệ. Máy phát số đang gửi phiếu lên hệ thống; bạn vẫn giữ chỗ theo giờ lấy phiếu. Trang sẽ tự cập nhật.",
            "Valid ticket. The kiosk is still sending it to the system; your place in line is kept. This page will update by itself."],
  waiting: ["Đang chờ đến lượt", "Waiting for your turn"],
  called: ["Mời đến quầy", "Please go to counter"],
  serving: ["Đang được phục vụ tại quầy", "Being served at counter"],
  parked: ["Hồ sơ tạm gác — xin chờ cán bộ gọi lại", "Set aside — the clerk will call you again"],
  done: ["Đã hoàn thành. Cảm ơn ông/bà!", "Done. Thank you!"],
  no_show: ["Số của bạn đã được gọi nhưng bạn không có mặt", "Your number was called but you were not there"],
  cancelled: ["Vé đã huỷ", "Ticket cancelled"],
  abandoned: ["Vé đã hết hiệu lực", "Ticket no longer valid"],
};

// What to do, in plain words, for each state (a first-time visitor reads this)
const GUIDE = {
  pending: ["Bạn chưa cần làm gì: giữ phiếu và chờ ở khu vực chờ. Số của bạn sẽ được gọi theo giờ lấy phiếu.",
            "Nothing to do yet: keep your ticket and wait in the waiting area; you will be called in the order of your ticket."],
  waiting: ["Khi đến lượt, số của bạn hiện trên màn hình, được đọc qua loa và trang này rung, báo số quầy: hãy mang phiếu đến đúng quầy đó. " +
            "Nếu bạn chưa đến kịp, cán bộ sẽ gọi lại; nếu vẫn vắng mặt, vé được đánh dấu vắng mặt — khi đó hãy đưa phiếu cho cán bộ " +
            "ở bất kỳ quầy nào để được xếp lại hàng.",
            "When it is your turn, your number shows on the screen, is read out and this page vibrates, with the counter number: " +
            "take your ticket to that counter. If you miss it, the clerk calls again; after that the ticket is marked absent — " +
            "show it at any counter to be put back in line."],
  called: ["Hãy mang phiếu đến quầy đang mời ngay. Nếu chưa đến kịp, cán bộ sẽ gọi lại một lần nữa.",
           "Take your ticket to the counter now. If you cannot make it at once, the clerk will call again."],
  serving: ["Cán bộ đang tiếp nhận hồ sơ của bạn.", "The clerk is handling your dossier."],
  parked: ["Hãy bổ sung giấy tờ cán bộ yêu cầu rồi quay lại đúng quầy đó; bạn không phải xếp hàng lại.",
           "Bring the papers the clerk asked for back to the same counter; you do not queue again."],
  no_show: ["Hãy đưa phiếu này cho cán bộ ở bất kỳ quầy nào hoặc bàn hướng dẫn để được xếp lại hàng.",
            "Show this ticket at any counter or at the help desk to be put back in line."],
};

function renderSorry(st) {
  const box = $("#sorry");
  const max = config.targets.max_wait_s;
  const waited = st.state === "waiting" && st.waited_s != null ? st.waited_s + (clock.now() - st.at) : 0;
  const late = st.state === "waiting" && waited > max;
  box.hidden = !late;
  if (!late) return;
  const more = fmt.minutes(st.estimated_wait_s);
  box.replaceChildren(
    el("div", { class: "vi" }, `Xin lỗi ông/bà: ông/bà đã chờ ${Math.floor(waited / 60)} phút, quá ${Math.round(max / 60)} phút mà ` +
      "Trung tâm cam kết. Lãnh đạo Trung tâm đã được báo. ",
      el("b", {}, more.startsWith("<") ? "Sắp đến lượt ông/bà." : `Dự kiến còn khoảng ${more} phút.`)),
    el("div", { class: "en" }, `We are sorry: you have waited ${Math.floor(waited / 60)} minutes, past the center's ` +
      `${Math.round(max / 60)}-minute promise. The center's management has been told. ` +
      (more.startsWith("<") ? "It is nearly your turn." : `About ${more} more minutes.`)));
}

// the center ended its working day with this citizen still waiting (server/engine/day_end.py)
const DAY_ENDED = ["Trung tâm đã kết thúc ngày làm việc", "The center has ended its working day"];

function render(st) {
  const [vi, en] = st.day_ended ? DAY_ENDED : STATES[st.state] || [st.state, ""];
  const node = $("#state");
  node.className = `state ${st.state}`;
  document.body.dataset.state = st.state;
  if (st.counter != null && (st.state === "called" || st.state === "serving")) {
    // "quầy" and its number on one line (a phone broke "quầy / 6" across two)
    const cut = vi.lastIndexOf(" ");
    node.replaceChildren(el("div", { class: "vi" }, `${vi.slice(0, cut)} `,
                           el("span", { class: "at-counter" }, `${vi.slice(cut + 1)}\u00a0`, el("b", { id: "counter" }, String(st.counter)))),
                         el("div", { class: "en" }, `${en}\u00a0${st.counter}`));
  } else {
    node.replaceChildren(el("div", { class: "vi" }, vi), el("div", { class: "en" }, en));
  }
  $("#figures").hidden = st.state !== "waiting";
  const [gvi, gen] = st.day_ended ? [st.notice, st.notice_en] : GUIDE[st.state] || ["", ""];
  $("#guide").replaceChildren(...(gvi ? [el("p", { class: "vi" }, gvi), el("p", { class: "en" }, gen)] : []));
  renderSorry(st);
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

clock.sync(last.at);
render(last);
setInterval(() => renderSorry(last), 15000); // the wait grows between pushes
connectLive({
  auth: () => ({ center: config.center.id, status: token }),
  onStatus,
  onLink: (ok) => { $("#link").textContent = ok ? "" : "Mất kết nối — đang kết nối lại… · Reconnecting…"; },
  onRefused: () => { $("#link").textContent = "Không tìm thấy vé · Ticket not found"; },
});
