// The director's dashboard at the main center: how far each standalone satellite point's
// events have arrived (server/satellite/mirror.py). Shown only when the center has one.
import { $, api, config, el, fmt } from "./live.js";

const standalone = config.sites.filter((s) => s.standalone && !s.main);
const box = $("#site-links");
const EVERY_MS = 15000;

async function refresh() {
  let links;
  try { links = (await api("GET", "/sites/links")).sites; } catch (err) { return; }  // not signed in yet
  const now = Date.now() / 1000;
  box.replaceChildren(...links.map((l) => {
    const late = l.updated_at == null || now - l.updated_at > 120;
    const when = l.last_event_at == null ? "chưa nhận dữ liệu · nothing yet"
      : `dữ liệu đến ${fmt.hm(l.last_event_at)} ${fmt.date(l.last_event_at)} · data up to ${fmt.hm(l.last_event_at)}`;
    return el("li", { class: late ? "late" : "ok" },
      el("strong", {}, l.name), " — ", when,
      late ? el("span", { class: "en" }, " (mất kết nối với điểm, điểm vẫn làm việc riêng · link down, the point works on its own)") : "");
  }));
}

if (box && standalone.length) {
  box.closest("section").hidden = false;
  refresh();
  setInterval(refresh, EVERY_MS);
}
