"""The HTML of the kiosk's local page (one file, no assets, no framework)."""

PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kiosk lấy số thứ tự</title>
<style>
  body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 0; background: #f3f5f8; color: #111; }
  header { background: #0b4f8a; color: #fff; padding: 14px 20px; font-size: 1.4rem; font-weight: bold; }
  header small { display: block; font-weight: normal; font-size: .9rem; opacity: .85; }
  main { display: grid; grid-template-columns: 2fr 1fr; gap: 18px; padding: 18px; }
  #services { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
  button.svc { font-size: 1.3rem; padding: 22px 10px; border: 0; border-radius: 10px; background: #1769aa;
               color: #fff; cursor: pointer; text-align: left; }
  button.svc small { display: block; font-size: .85rem; opacity: .85; }
  button.svc kbd { float: right; background: rgba(255,255,255,.25); border-radius: 4px; padding: 0 6px; }
  button.prio { background: #8a4b00; }
  button.prio.armed { background: #e07b00; outline: 4px solid #ffcc66; }
  button:disabled { opacity: .5; }
  #ticket { background: #fff; border-radius: 10px; padding: 16px; text-align: center; min-height: 200px; }
  #code { font-size: 4.2rem; font-weight: bold; letter-spacing: 2px; }
  #msg { margin: 0 18px; padding: 14px 18px; border-radius: 8px; font-size: 1.2rem; background: #e6f1fb; }
  #notice { margin: 8px 18px 0; padding: 10px 18px; border-radius: 8px; font-size: 1.1rem; background: #fff3cd; }
  #msg.warn { background: #fff3cd; } #msg.error { background: #f8d7da; color: #6b0000; font-weight: bold; }
  #status { margin: 0 18px 18px; padding: 12px 18px; border-radius: 8px; font-size: 1.15rem; background: #fff3cd; }
  #status.bad { background: #f8d7da; color: #6b0000; }
  #unprinted { margin: 10px 0 0; padding: 10px; border-radius: 8px; background: #f8d7da; color: #6b0000;
               font-weight: bold; font-size: 1.15rem; }
</style>
</head>
<body>
<header><span id="center">…</span><small>Mời chọn lĩnh vực · Choose a field (phím 1–9, P: ưu tiên)</small></header>
<p id="msg">…</p>
<p id="notice" hidden></p>
<main>
  <section id="services"></section>
  <section id="ticket"><div>Số vừa cấp · Last number</div><div id="code">—</div><div id="tinfo"></div>
    <p id="unprinted" hidden></p></section>
</main>
<p id="status" role="status" hidden></p>
<script>
let version = -1, screen = null, keys = {};
// what a citizen reads about the machine: nothing when all is well, plain words when not
const PRINTER_VI = {no_paper: 'máy in hết giấy', paper_low: 'máy in sắp hết giấy', cover_open: 'nắp máy in đang mở',
                    offline: 'máy in chưa được kết nối', error: 'máy in bị lỗi', stuck: 'máy in bị treo (có thể kẹt giấy)'};
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; }
async function press(button) {
  await fetch('/api/press', {method: 'POST', headers: {'Content-Type': 'application/json'},
                             body: JSON.stringify({button})});
}
function render(s) {
  screen = s;
  document.getElementById('center').textContent = s.center_name;
  const box = document.getElementById('services');
  if (!box.childElementCount) {
    for (const svc of s.services) {
      const b = el('button', 'svc'); b.append(el('kbd', '', svc.key), svc.label);
      if (svc.label_en) b.append(el('small', '', svc.label_en));
      b.onclick = () => press(svc.key); keys[svc.key] = svc.key; box.append(b);
    }
    const p = el('button', 'svc prio'); p.id = 'prio';
    p.append(el('kbd', '', 'P'), 'Ưu tiên', el('small', '', 'Priority: elderly, disabled, pregnant'));
    p.onclick = () => press('P'); box.append(p);
  }
  document.getElementById('prio').classList.toggle('armed', s.priority_armed);
  for (const b of box.querySelectorAll('button')) b.disabled = s.busy;
  const msg = document.getElementById('msg'); msg.textContent = s.message; msg.className = s.level;
  const notice = document.getElementById('notice'); notice.textContent = s.notice; notice.hidden = !s.notice;
  const t = s.ticket;
  document.getElementById('code').textContent = t ? t.code : '—';
  let info = '';
  if (t) {
    info = t.service_label + (t.priority ? ' · ƯU TIÊN' : '');
    if (t.people_ahead !== null) info += ' · Trước bạn: ' + t.people_ahead + ' người';
    if (t.offline) info += ' · Phiếu phát khi mất kết nối';
  }
  document.getElementById('tinfo').textContent = info;
  const unprinted = document.getElementById('unprinted');
  unprinted.hidden = !(t && t.printed === false);
  if (t && t.printed === false) unprinted.textContent = 'Không in được phiếu số ' + t.code + '. Xin ghi nhớ số ' + t.code +
    ' và báo cán bộ tại quầy để được in lại; số của bạn vẫn được gọi. · The ticket could not be printed: remember ' + t.code + '.';
  const said = [];
  if (PRINTER_VI[s.printer]) said.push('Máy phát số đang có sự cố: ' + PRINTER_VI[s.printer] +
    '. Số vẫn được cấp trên màn hình; xin ghi nhớ số và báo cán bộ.');
  if (s.mode === 'offline') said.push('Đang mất kết nối với hệ thống: phiếu vẫn được cấp và có giá trị.');
  const status = document.getElementById('status');
  status.textContent = said.join(' ');
  status.hidden = !said.length;
  status.className = PRINTER_VI[s.printer] ? 'bad' : '';
}
async function poll() {
  for (;;) {
    try {
      const r = await fetch('/api/state?after=' + version);
      const s = await r.json(); version = s.version; render(s);
    } catch (e) { await new Promise(r => setTimeout(r, 1000)); }
  }
}
document.addEventListener('keydown', (e) => {
  if (e.repeat) return;
  const k = e.key.toUpperCase();
  if (k === 'P' || keys[k]) press(k);
});
fetch('/api/state').then(r => r.json()).then(s => { version = s.version; render(s); poll(); });
</script>
</body>
</html>
"""
