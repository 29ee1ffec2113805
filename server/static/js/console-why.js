// Why a console key does nothing now (the clerk console's "never a silent key"): a key whose
// action the counter's state does not allow says so and what to press instead, Vietnamese
// first, in the form showError splits ("vi; en").

const NO_TICKET = "Chưa có vé trong tay: bấm N để gọi số tiếp; no ticket in hand: press N to call the next one";

// action: the console's action name; row: this counter's snapshot row; parked: tickets parked here
export function whyNot(action, row, parked = 0) {
  if (!row) return null;
  const t = row.ticket;
  const code = t ? t.code : "";
  const onBreak = row.state === "paused";
  const BREAK = "Quầy đang tạm nghỉ: bấm P để làm việc lại; the counter is on a break: press P to resume";
  switch (action) {
    case "call-next":
      if (onBreak) return BREAK;
      if (t && t.state === "called") {
        return `Công dân số ${code} đang được mời: bấm S để bắt đầu phục vụ, R để gọi lại hoặc V nếu vắng mặt; ` +
          `${code} is called: start (S), recall (R) or no-show (V) first`;
      }
      return null;
    case "recall": case "start": case "no-show":
      if (!t) return NO_TICKET;
      return `Vé ${code} đang được phục vụ, không còn ở bước mời; ${code} is already being served`;
    case "finish":
      if (!t) return NO_TICKET;
      return `Vé ${code} chưa bắt đầu phục vụ: bấm S khi công dân đến; start ${code} first (S)`;
    case "transfer": case "park":
      return t ? null : NO_TICKET;
    case "reprint":
      if (!t) return NO_TICKET;
      return `Vé ${code} đã in được, không cần in lại; ${code} printed, no reprint needed`;
    case "sign-out":
      if (t) return `Còn vé ${code} trong tay: hoàn thành (F) hoặc chuyển (T) trước khi đóng quầy; ` +
        `finish or transfer ${code} before signing out`;
      return null;
    case "resume-parked":
      if (!parked) return "Không có vé tạm gác ở quầy này; no ticket is parked at this counter";
      if (onBreak) return BREAK;
      if (t) return `Còn vé ${code} trong tay: hoàn thành hoặc tạm gác vé đó trước; finish or park ${code} first`;
      return null;
    default:
      return null;
  }
}
