// A two-note chime made with Web Audio (no sound file to download or lose).
// Calls made together chime one after the other, never on top of each other.
let ctx = null;
let queueEnd = 0;
const NOTE_S = 0.42;
const GAP_S = 0.35;

function context() {
  if (!ctx) {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    ctx = new AC();
  }
  return ctx;
}

// true when the browser lets us play (kiosk Chromium: --autoplay-policy=no-user-gesture-required)
export function audioReady() {
  const c = context();
  return !!c && c.state === "running";
}

export function unlockAudio() {
  const c = context();
  if (c && c.state !== "running") return c.resume().catch(() => {});
  return Promise.resolve();
}

function note(c, freq, start) {
  const osc = c.createOscillator();
  const gain = c.createGain();
  osc.type = "sine";
  osc.frequency.setValueAtTime(freq, start);
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.5, start + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + NOTE_S);
  osc.connect(gain).connect(c.destination);
  osc.start(start);
  osc.stop(start + NOTE_S + 0.05);
}

export function chime() {
  const c = context();
  if (!c) return;
  if (c.state !== "running") c.resume().catch(() => {});
  const start = Math.max(c.currentTime + 0.02, queueEnd);
  note(c, 880, start);          // A5
  note(c, 659.25, start + 0.3); // E5
  queueEnd = start + 0.3 + NOTE_S + GAP_S;
}
