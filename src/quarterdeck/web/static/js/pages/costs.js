// Costs: what was spent, per model, per day and per run, as bar charts with the figures beside them.

import { get, items } from "../api.js";
import { debounce, empty, h, mount, section, usd } from "../dom.js";
import { subscribe } from "../live.js";

function label(row, by) {
  return String(row.key ?? row[by] ?? row.model ?? row.day ?? row.run_name ?? row.run_id ?? row.task_id ?? "—");
}

function cost(row) {
  return Number(row.cost_usd ?? row.total_usd ?? row.usd ?? 0);
}

/** A cost as shown: calls of a model missing from the price table have an unknown cost, never "$0.00". */
export function shown(row) {
  const unpriced = Number(row.unpriced ?? 0);
  const entries = Number(row.entries ?? row.calls ?? 0);
  if (unpriced && unpriced >= entries) return "unpriced";
  return unpriced ? `${usd(cost(row))} + ${unpriced} unpriced` : usd(cost(row));
}

/** A horizontal bar chart, biggest first: HTML bars sized in the stylesheet's grid, so text stays readable. */
export function barChart(rows, by, { max = 12 } = {}) {
  const data = rows.map((r) => ({ label: label(r, by), value: cost(r), text: shown(r) })).slice(0, max);
  if (!data.length) return empty("Nothing spent yet.");
  const top = Math.max(...data.map((d) => d.value), 1e-9);
  return h("div", { class: "chart", role: "img", "aria-label": `Cost by ${by}` },
    data.map((d) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${Math.max(0.5, (100 * d.value) / top)}%`;
      return h("div", { class: "chart-row", title: `${d.label}: ${d.text}` },
        h("span", { class: "chart-label" }, d.label), h("span", { class: "track" }, bar), h("span", { class: "chart-value" }, d.text));
    }));
}

function table(rows, by) {
  if (!rows.length) return null;
  const extra = rows.some((r) => r.input_tokens !== undefined || r.tokens !== undefined);
  return h("div", { class: "tablewrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, by), extra ? h("th", { class: "num" }, "Tokens in / out") : null, h("th", { class: "num" }, "Calls"), h("th", { class: "num" }, "Cost"))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("td", {}, label(r, by)),
      extra ? h("td", { class: "num" }, `${r.input_tokens ?? r.tokens ?? "—"} / ${r.output_tokens ?? "—"}`) : null,
      h("td", { class: "num" }, String(r.entries ?? r.calls ?? "—")),
      h("td", { class: "num" }, shown(r)))))));
}

export async function render(main, ctx) {
  const runFilter = new URLSearchParams(location.search).get("run_id") || "";
  const total = h("div", { class: "stat" });
  const cards = { model: h("div"), day: h("div"), run: h("div") };
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Costs"),
      h("div", { class: "sub" }, runFilter ? `Run ${runFilter} · ` : "", "Every model call is recorded with its tokens and cost."))),
    h("div", { class: "stats" }, total),
    h("div", { class: "grid2" },
      h("div", {}, section("By model", cards.model), section("By run", cards.run)),
      section("By day", cards.day)));
  const fetchNow = async () => {
    const results = await Promise.all(Object.keys(cards).map((by) => get("/costs", { by, run_id: runFilter }).then((d) => [by, d])));
    let sum = 0;
    let unpriced = 0;
    for (const [by, data] of results) {
      const rows = items(data).sort((a, b) => (by === "day" ? label(a, by).localeCompare(label(b, by)) : cost(b) - cost(a)));
      if (by === "model") {
        sum = data.total_usd ?? rows.reduce((a, r) => a + cost(r), 0);
        unpriced = rows.reduce((a, r) => a + Number(r.unpriced ?? 0), 0);
      }
      mount(cards[by], barChart(rows, by, { max: by === "day" ? 31 : 12 }), table(rows, by));
    }
    const extra = unpriced ? ` + ${unpriced} unpriced call${unpriced === 1 ? "" : "s"}` : "";
    mount(total, h("div", { class: "k" }, "Total spent"), h("div", { class: "v", id: "cost-total" }, usd(sum) + extra));
  };
  const reload = debounce(fetchNow, 500);
  await fetchNow();
  subscribe({ types: ["cost.recorded"], run_id: runFilter || undefined }, reload, { onReconnect: reload });
}
