// The queue across runs: ready, running and waiting tasks, with priority controls for members; for admins,
// the fleet that serves it (every live worker, what it offers and what it cannot reach).

import { get } from "../api.js";
import { age, debounce, empty, h, mount, status } from "../dom.js";
import { subscribe } from "../live.js";
import { prioritize, taskButtons } from "../steer.js";

const LANES = [
  ["ready", "Ready", "Waiting for a worker, highest priority first"],
  ["running", "Running", "Claimed by a worker"],
  ["waiting", "Waiting", "On dependencies, a delay, or a paused run"],
];

function item(ctx, task, lane, reload) {
  const href = `/runs/${encodeURIComponent(task.run_id)}/tasks/${encodeURIComponent(task.id)}`;
  let prio = null;
  if (ctx.canSteer && lane !== "running") {
    const input = h("input", { type: "number", step: 1, value: task.priority ?? 0, "aria-label": `Priority of ${task.id}` });
    const set = (value) => prioritize(task.run_id, task, value, reload);
    prio = h("div", { class: "prio" }, "Priority",
      h("button", { type: "button", class: "secondary small", "aria-label": `Lower ${task.id}`, onclick: () => set((task.priority ?? 0) - 1) }, "−"),
      input,
      h("button", { type: "button", class: "secondary small", "aria-label": `Raise ${task.id}`, onclick: () => set((task.priority ?? 0) + 1) }, "+"),
      h("button", { type: "button", class: "small", onclick: () => set(Number.parseInt(input.value, 10) || 0) }, "Set"));
  } else {
    prio = h("div", { class: "prio" }, `Priority ${task.priority ?? 0}`);
  }
  return h("div", { class: "qitem", dataset: { task: task.id, run: task.run_id } },
    h("div", { class: "top" }, h("a", { href }, task.title || task.id),
      status(task.run_status === "paused" && lane !== "running" ? "paused" : task.status)),
    h("div", { class: "muted" }, h("a", { href: `/runs/${encodeURIComponent(task.run_id)}` }, task.run_name || task.run_id),
      task.run_status === "paused" ? " (paused)" : "", task.started_at ? ` · ${age(task.started_at)}` : ""),
    task.waits ? h("div", { class: "muted waits" }, `Waits: ${task.waits}`) : null,
    prio,
    lane === "running" ? taskButtons(ctx, task.run_id, task, reload) : null);
}

function fleet(workers) {
  if (!workers.length) return empty("No worker is live: start `quarterdeck worker` (or `serve`) on a machine.");
  const cell = (items) => (items.length ? items.join(", ") : "—");
  return h("div", { class: "tablewrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Worker", "Host", "Busy", "Labels", "Runtimes", "Cannot reach", "Heard"].map((t) => h("th", {}, t)))),
    h("tbody", {}, workers.map((w) => h("tr", { dataset: { worker: w.id } },
      h("td", {}, h("code", {}, w.id)),
      h("td", {}, `${w.hostname} · pid ${w.pid}`),
      h("td", { class: "num" }, `${w.running}/${w.slots}`),
      h("td", {}, cell(w.labels)),
      h("td", {}, cell(w.runtimes)),
      h("td", { class: w.unreachable.length ? "bad" : "" }, cell(w.unreachable)),
      h("td", {}, age(w.heartbeat_at)))))));
}

export async function render(main, ctx) {
  const lanes = Object.fromEntries(LANES.map(([key]) => [key, h("div")]));
  const counts = Object.fromEntries(LANES.map(([key]) => [key, h("span", { class: "muted" })]));
  // the fleet names the server's hosts: only admins may read it (GET /workers answers them alone)
  const workersEl = ctx.isAdmin ? h("div") : null;
  const workerCount = h("span", { class: "muted" });
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Queue"), h("div", { class: "sub" }, "Every unfinished task of every run, as the workers see it."))),
    h("div", { class: "lanes" },
      LANES.map(([key, title, help]) =>
        h("section", { class: "card lane", id: `lane-${key}` }, h("h2", {}, title, counts[key]), h("p", { class: "muted" }, help), lanes[key]))),
    workersEl ? h("section", { class: "card", id: "workers" }, h("h2", {}, "Workers", workerCount),
      h("p", { class: "muted" }, "Live worker processes, on every machine, as they last reported themselves."), workersEl) : null);
  const fetchNow = async () => {
    const [queue, workers] = await Promise.all([get("/queue"), workersEl ? get("/workers") : null]);
    if (workers) {
      workerCount.textContent = String(workers.items.length);
      mount(workersEl, fleet(workers.items));
    }
    for (const [key] of LANES) {
      const tasks = queue[key] || [];
      counts[key].textContent = String(tasks.length);
      mount(lanes[key], tasks.length ? tasks.map((t) => item(ctx, t, key, reload)) : empty("Nothing here."));
    }
  };
  const reload = debounce(fetchNow, 300);
  await fetchNow();
  subscribe({ types: ["task.ready", "task.claimed", "task.succeeded", "task.failed", "task.cancelled", "task.blocked", "task.requeued", "task.prioritized", "run.paused", "run.resumed", "run.cancelled"] },
    reload, { onReconnect: reload });
}
