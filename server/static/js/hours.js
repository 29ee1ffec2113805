// The center's ticket hours ([hours] of the center file) as a screen says them: outside them
// (the kiosk refuses: enforce = true) the wall display must not invite citizens to take a number.

const DAY_VI = { 1: "thứ Hai", 2: "thứ Ba", 3: "thứ Tư", 4: "thứ Năm", 5: "thứ Sáu", 6: "thứ Bảy", 7: "Chủ nhật" };
const DAY_EN = { 1: "Monday", 2: "Tuesday", 3: "Wednesday", 4: "Thursday", 5: "Friday", 6: "Saturday", 7: "Sunday" };
const WEEKDAY = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

// the center's local weekday (1 = Monday) and "HH:MM" at a time in seconds
export function localNow(timezone, seconds) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: timezone, weekday: "short", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(seconds * 1000));
  const get = (t) => parts.find((p) => p.type === t).value;
  return { day: WEEKDAY[get("weekday")], hm: `${get("hour")}:${get("minute")}` };
}

function days(list, names, to) {
  const d = [...list].sort((a, b) => a - b);
  const contiguous = d.length > 2 && d.every((x, i) => i === 0 || x === d[i - 1] + 1);
  return contiguous ? `${names[d[0]]}${to}${names[d[d.length - 1]]}` : d.map((x) => names[x]).join(", ");
}

// [vi, en] when tickets are not issued now, else null (hours not enforced, or within them)
export function closedWords(hours, timezone, seconds) {
  if (!hours || !hours.enforce) return null;
  const { day, hm } = localNow(timezone, seconds);
  if (hours.work_days.includes(day) && hm >= hours.opens && hm < hours.closes) return null;
  const when = `${hours.opens}–${hours.closes}`;
  return [`Trung tâm ngoài giờ cấp số. Giờ cấp số: ${when}, ${days(hours.work_days, DAY_VI, " đến ")}`,
          `Tickets are issued ${when}, ${days(hours.work_days, DAY_EN, " to ")}`];
}
