// Building DOM without innerHTML (the data comes from agents and users: it is never parsed as HTML),
// and the formatting every page shares.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h("a", {href: "/", class: "x"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, like h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Replace an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function usd(value) {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  if (n !== 0 && Math.abs(n) < 0.01) return `$${n.toFixed(4)}`;
  return `$${n.toFixed(2)}`;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "3 min ago", "2 h ago", … from an ISO timestamp. */
export function age(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function between(startIso, endIso) {
  if (!startIso) return null;
  const end = endIso ? new Date(endIso).getTime() : Date.now();
  return (end - new Date(startIso).getTime()) / 1000;
}

/** A coloured status pill; the colour comes from the stylesheet's [data-status] rules. */
export function status(value) {
  return h("span", { class: "status", dataset: { status: value || "unknown" } }, (value || "unknown").replace("_", " "));
}

/** What a waiting run waits for, as a person reads it (the API's `waiting_for`). */
export const WAITS = { plan: "plan approval", replan: "re-plan approval", budget: "more budget", merge: "merge approval" };

/** A run's status pill, saying what a waiting run waits for: "waiting for merge approval". */
export function runStatus(run) {
  const pill = status(run.status);
  if (run.status === "waiting" && run.waiting_for) pill.textContent = `waiting for ${WAITS[run.waiting_for] || run.waiting_for}`;
  return pill;
}

/** The progress bar of a run: one segment per task status, in a fixed order. */
export const STATUS_ORDER = ["succeeded", "running", "ready", "pending", "conflict", "failed", "blocked", "cancelled"];

export function progress(counts, total) {
  const bar = h("div", { class: "progress", role: "img" });
  const done = counts?.succeeded || 0;
  bar.setAttribute("aria-label", `${done} of ${total} tasks succeeded`);
  for (const name of STATUS_ORDER) {
    const n = counts?.[name] || 0;
    if (!n || !total) continue;
    const seg = h("span", { class: "seg", dataset: { status: name }, title: `${n} ${name}` });
    seg.style.width = `${(100 * n) / total}%`;
    bar.append(seg);
  }
  return h("div", { class: "progress-wrap" }, bar, h("span", { class: "progress-label" }, `${done}/${total}`));
}

/** Run ``fn`` at most once per ``ms``, trailing: bursts of events become one refresh. */
export function debounce(fn, ms) {
  let timer = null;
  let running = false;
  let again = false;
  const fire = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } catch (error) {
      // A refresh while the server is unreachable is made again when the live stream reconnects (its
      // indicator says the connection is lost meanwhile); any other failure still surfaces.
      if (error?.code !== "unreachable") throw error;
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (timer === null) timer = setTimeout(fire, ms);
  };
  return schedule;
}

/** A short message in the flash bar (errors stay until dismissed by the next one). */
export function flash(message, kind = "info") {
  const bar = document.getElementById("flash");
  if (!bar) return;
  bar.dataset.kind = kind;
  bar.textContent = message;
  bar.hidden = false;
  clearTimeout(flash.timer);
  if (kind !== "error") flash.timer = setTimeout(() => (bar.hidden = true), 4000);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function section(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}
