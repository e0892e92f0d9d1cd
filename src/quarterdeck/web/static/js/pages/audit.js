// The audit trail of a run: messages, verdicts, plan versions and decisions in order, filterable.

import { get } from "../api.js";
import { debounce, empty, h, mount, when } from "../dom.js";
import { subscribe } from "../live.js";

const KINDS = ["", "message", "verdict", "decision", "plan", "event"];

export async function render(main, ctx) {
  const params = new URLSearchParams(location.search);
  const runs = (await get("/runs", { limit: 100 })).items;
  let runId = params.get("run_id") || runs[0]?.id || "";
  let entries = [];
  const runSelect = h("select", { "aria-label": "Run" }, runs.map((r) => h("option", { value: r.id, selected: r.id === runId }, `${r.name} (${r.id})`)));
  const kindSelect = h("select", { "aria-label": "Kind" }, KINDS.map((k) => h("option", { value: k }, k || "All kinds")));
  const search = h("input", { type: "search", placeholder: "Filter by text, sender or task", "aria-label": "Filter the trail" });
  const body = h("div", { class: "tablewrap" });
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Audit trail"), h("div", { class: "sub" }, "What the crew and its humans said and decided, oldest first."))),
    h("section", { class: "card" }, h("div", { class: "filters" }, runSelect, kindSelect, search), body));

  function paint() {
    const kind = kindSelect.value;
    const q = search.value.trim().toLowerCase();
    const shown = entries.filter((e) => (!kind || e.kind === kind) &&
      (!q || [e.summary, e.sender, e.recipient, e.task_id].some((v) => v && String(v).toLowerCase().includes(q))));
    mount(body, shown.length
      ? h("table", { id: "audit" },
        h("thead", {}, h("tr", {}, ["When", "Kind", "From → to", "Task", "What"].map((c) => h("th", {}, c)))),
        h("tbody", {}, shown.map((e) => h("tr", {},
          h("td", { class: "muted" }, when(e.at)),
          h("td", {}, h("span", { class: "kind", dataset: { kind: e.kind } }, e.kind)),
          h("td", {}, e.sender, e.recipient ? ` → ${e.recipient}` : ""),
          h("td", { class: "mono" }, e.task_id || ""),
          h("td", {}, e.summary)))))
      : empty(runId ? "Nothing recorded matches." : "No runs yet."));
  }

  const fetchNow = async () => {
    if (!runId) return paint();
    const data = await get(`/runs/${encodeURIComponent(runId)}/audit`);
    entries = data.items || data || [];
    paint();
  };
  const load = debounce(fetchNow, 300);
  let stream = null;
  const follow = () => {
    stream?.close();
    if (runId) stream = subscribe({ run_id: runId, types: ["review.verdict", "approval.requested", "approval.decided", "plan.proposed", "plan.applied", "task.cancelled", "task.requeued", "task.prioritized", "run.paused", "run.resumed", "run.cancelled", "run.budget_raised"] }, load, { onReconnect: load });
  };
  runSelect.addEventListener("change", () => {
    runId = runSelect.value;
    history.replaceState(null, "", `/audit?run_id=${encodeURIComponent(runId)}`);
    load();
    follow();
  });
  kindSelect.addEventListener("change", paint);
  search.addEventListener("input", paint);
  await fetchNow();
  follow();
}
