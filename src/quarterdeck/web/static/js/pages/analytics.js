// Analytics: how the crew's ended tasks did (GET /api/v1/analytics), grouped by role, runtime, model …,
// with bar charts of success and cost, stacked bars of where the time went, and the trend by day.

import { get } from "../api.js";
import { debounce, duration, empty, h, mount, section, usd } from "../dom.js";
import { subscribe } from "../live.js";

const GROUPINGS = ["role", "runtime", "model", "project", "story", "run"];
const WINDOWS = [["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"]];
const PHASES = ["agent", "checks", "review", "landing", "waiting", "other"];

function percent(value) {
  return `${Math.round(100 * Number(value || 0))}%`;
}

/** Horizontal bars, one per group: ``value`` picks the figure, ``text`` shows it. */
function bars(groups, label, value, text) {
  if (!groups.length) return empty("No task ended in this window.");
  const top = Math.max(...groups.map(value), 1e-9);
  return h("div", { class: "chart", role: "img", "aria-label": label },
    groups.map((g) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${Math.max(0.5, (100 * value(g)) / top)}%`;
      return h("div", { class: "chart-row", title: `${g.key}: ${text(g)}` },
        h("span", { class: "chart-label" }, g.key), h("span", { class: "track" }, bar), h("span", { class: "chart-value" }, text(g)));
    }));
}

/** One stacked bar per group: the mean time per task in each phase, scaled to the slowest group. */
function phases(groups) {
  if (!groups.length) return empty("No task ended in this window.");
  const total = (g) => PHASES.reduce((a, p) => a + Number(g.seconds_per_task[p] || 0), 0);
  const top = Math.max(...groups.map(total), 1e-9);
  return h("div", {},
    h("div", { class: "chart", role: "img", "aria-label": "Time per task by phase" },
      groups.map((g) => {
        const track = h("span", { class: "track stack" });
        for (const p of PHASES) {
          const seconds = Number(g.seconds_per_task[p] || 0);
          if (!seconds) continue;
          const seg = h("span", { class: "seg", dataset: { phase: p }, title: `${p}: ${duration(seconds)}` });
          seg.style.width = `${(100 * seconds) / top}%`;
          track.append(seg);
        }
        return h("div", { class: "chart-row", title: `${g.key}: ${duration(total(g))} per task` },
          h("span", { class: "chart-label" }, g.key), track, h("span", { class: "chart-value" }, duration(total(g))));
      })),
    h("div", { class: "legend" }, PHASES.map((p) => h("span", { class: "key", dataset: { phase: p } }, p))));
}

/** The trend: one column per day, its height the tasks that ended, its filled part those that succeeded. */
function trend(days) {
  if (!days.length) return empty("No task ended in this window.");
  const top = Math.max(...days.map((d) => d.tasks), 1);
  return h("div", { class: "trend", role: "img", "aria-label": "Tasks and successes per day" },
    days.map((d) => {
      const col = h("span", { class: "col" });
      col.style.height = `${(100 * d.tasks) / top}%`;
      const ok = h("span", { class: "ok" });
      ok.style.height = `${(100 * d.succeeded) / Math.max(d.tasks, 1)}%`;
      col.append(ok);
      return h("div", { class: "day", title: `${d.key}: ${d.succeeded}/${d.tasks} succeeded (${percent(d.success_rate)})` },
        h("span", { class: "colwrap" }, col), h("span", { class: "daylabel" }, d.key.slice(5)));
    }));
}

function stat(label, id, value) {
  return h("div", { class: "stat" }, h("div", { class: "k" }, label), h("div", { class: "v", id }, value));
}

function table(groups, by) {
  if (!groups.length) return null;
  return h("div", { class: "tablewrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, by), ...["Tasks", "Success", "1st try", "Dead", "Revisions", "Cost / task", "Tokens"].map((t) => h("th", { class: "num" }, t)))),
    h("tbody", {}, groups.map((g) => h("tr", {},
      h("td", {}, g.key),
      h("td", { class: "num" }, String(g.tasks)),
      h("td", { class: "num" }, percent(g.success_rate)),
      h("td", { class: "num" }, percent(g.first_attempt_rate)),
      h("td", { class: "num" }, String(g.dead)),
      h("td", { class: "num" }, Number(g.revisions_per_task).toFixed(2)),
      h("td", { class: "num" }, usd(g.cost_per_task_usd)),
      h("td", { class: "num" }, (g.input_tokens + g.output_tokens).toLocaleString()))))));
}

export async function render(main) {
  const params = new URLSearchParams(location.search);
  let by = GROUPINGS.includes(params.get("by")) ? params.get("by") : "role";
  let since = WINDOWS.some(([w]) => w === params.get("since")) ? params.get("since") : "30d";
  const byPicker = h("select", { "aria-label": "Group by" }, GROUPINGS.map((g) => h("option", { value: g, selected: g === by }, g)));
  const windowPicker = h("select", { "aria-label": "Window" }, WINDOWS.map(([w, text]) => h("option", { value: w, selected: w === since }, text)));
  const totals = h("div", { class: "stats" });
  const success = h("div", { id: "an-success" });
  const cost = h("div", { id: "an-cost" });
  const time = h("div", { id: "an-time" });
  const days = h("div", { id: "an-trend" });
  const detail = h("div", { id: "an-table" });
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Analytics"),
      h("div", { class: "sub" }, "How the crew's ended tasks did: success, revisions, cost and where the time went.")),
      h("div", { class: "actions" }, h("label", {}, "By ", byPicker), h("label", {}, "Last ", windowPicker))),
    totals,
    h("div", { class: "grid-even" }, section("Success (first attempt · overall)", success), section("Cost per task", cost)),
    section("Time per task", time),
    section("Tasks per day (filled: succeeded)", days),
    section("Figures", detail));
  const fetchNow = async () => {
    const [report, daily] = await Promise.all([get("/analytics", { by, since }), get("/analytics", { by: "day", since })]);
    const t = report.total;
    mount(totals,
      stat("Tasks ended", "an-tasks", String(t?.tasks ?? 0)),
      stat("Success", "an-rate", t ? percent(t.success_rate) : "—"),
      stat("First attempt", "an-first", t ? percent(t.first_attempt_rate) : "—"),
      stat("Dead letters", "an-dead", String(t?.dead ?? 0)),
      stat("Cost per task", "an-cpt", t ? usd(t.cost_per_task_usd) : "—"));
    const groups = report.groups;
    mount(success, bars(groups, `First-attempt success by ${by}`, (g) => g.success_rate, (g) => `${percent(g.first_attempt_rate)} · ${percent(g.success_rate)}`));
    mount(cost, bars(groups, `Cost per task by ${by}`, (g) => g.cost_per_task_usd, (g) => usd(g.cost_per_task_usd)));
    mount(time, phases(groups));
    mount(days, trend(daily.groups));
    mount(detail, table(groups, by));
  };
  const reload = debounce(fetchNow, 1000);
  const choose = () => {
    by = byPicker.value;
    since = windowPicker.value;
    history.replaceState(null, "", `/analytics?by=${by}&since=${since}`);
    fetchNow();
  };
  byPicker.addEventListener("change", choose);
  windowPicker.addEventListener("change", choose);
  await fetchNow();
  subscribe({ types: ["task.succeeded", "task.failed"] }, reload, { onReconnect: reload });
}
