// Every run: status, progress, cost, age; filter by status, search by name; start a new one.

import { api, get } from "../api.js";
import { age, debounce, empty, flash, h, mount, progress, runStatus, usd } from "../dom.js";
import { subscribe } from "../live.js";

const STATUSES = ["", "planning", "running", "paused", "waiting", "succeeded", "failed", "cancelled"];
const TYPES = ["run.created", "run.finished", "run.planning", "run.waiting", "plan.applied", "run.paused", "run.resumed",
  "run.cancelled", "run.budget_exhausted",
  "run.budget_raised", "task.claimed", "task.succeeded", "task.failed", "task.cancelled", "task.blocked", "cost.recorded"];

// a plan the form accepts as it is (shell steps need no agent or key)
const EXAMPLE_PLAN = JSON.stringify({
  name: "hello",
  tasks: [{ id: "hello", title: "Say hello", runtime: "shell", options: { script: "echo hello > hello.txt" } }],
});
const AGENTS = ["claude-code", "codex", "gemini", "api-agent", "shell"];

/** The problems of a refused run, each once: a plan's come as details (path:line: message), the rest as the message. */
function problems(exc) {
  const listed = (exc.details || [])
    .map((d) => (typeof d === "string" ? d : d.message ? (d.line ? `${d.path}:${d.line}: ${d.message}` : d.message) : null))
    .filter(Boolean);
  const lines = listed.length ? listed : String(exc.message || "").split("\n");
  return [...new Set(lines.map((l) => l.trim()).filter(Boolean))];
}

function newRunForm(onCreated) {
  const field = (name, label, attrs = {}) => [
    h("label", { for: `run-${name}` }, label),
    h(attrs.textarea ? "textarea" : "input", { id: `run-${name}`, name, ...attrs, textarea: null }),
  ];
  const error = h("div", { class: "error full", role: "alert", id: "new-run-errors", hidden: true });
  const fail = (lines) => {
    mount(error, lines.length > 1 ? h("ul", {}, lines.map((l) => h("li", {}, l))) : h("p", {}, lines[0] || "The run was refused."));
    error.hidden = false;
  };
  const form = h("form", { class: "form", id: "new-run" },
    field("plan_path", "Plan file or stories folder", { placeholder: "/srv/plans/textkit/plan.yaml (a path on the server)" }),
    field("plan", "…or the plan as JSON", { textarea: true, rows: 5, placeholder: EXAMPLE_PLAN }),
    field("repo", "Repository", { placeholder: "/srv/repos/textkit (default: the project's)" }),
    field("agent", "Agent for tasks that name none", { placeholder: "claude-code, codex, gemini, api-agent… (default: the project's [run] agent)", list: "agents" }),
    h("datalist", { id: "agents" }, AGENTS.map((name) => h("option", { value: name }))),
    field("base", "Base", { value: "HEAD" }),
    field("branch", "Integration branch", { placeholder: "default: quarterdeck/<run>" }),
    field("budget_usd", "Budget (USD)", { type: "number", step: "0.01", min: "0" }),
    field("goal", "Goal", { placeholder: "optional: what this run is for" }),
    error,
    h("div", { class: "toolbar full" }, h("button", { type: "submit", id: "start-run" }, "Start run")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const v = Object.fromEntries(new FormData(form));
    const body = { repo: v.repo.trim() || undefined, base: v.base.trim() || undefined, branch: v.branch.trim() || undefined };
    if (v.plan_path.trim()) body.path = v.plan_path.trim();
    if (v.plan.trim()) {
      try {
        body.plan = JSON.parse(v.plan);
      } catch (exc) {
        fail([`The plan is not valid JSON: ${exc.message}`]);
        return;
      }
    }
    if (!body.path && !body.plan) {
      fail(["Give a plan: a path on the server, or the plan as JSON."]);
      return;
    }
    if (v.agent.trim()) body.agent = v.agent.trim();
    if (v.budget_usd) body.budget_usd = Number(v.budget_usd);
    if (v.goal.trim()) body.goal = v.goal.trim();
    form.querySelector("button[type=submit]").disabled = true;
    try {
      const run = await api("POST", "/runs", { body });
      flash(`Run ${run.name} started`, "ok");
      onCreated(run);
    } catch (exc) {
      fail(problems(exc));
    } finally {
      form.querySelector("button[type=submit]").disabled = false;
    }
  });
  return form;
}

/** A goal for the repository's crew: the run answers at once (planning); its plan arrives in the approvals. */
function newGoalForm(onCreated) {
  const field = (name, label, attrs = {}) => [
    h("label", { for: `goal-${name}` }, label),
    h(attrs.textarea ? "textarea" : "input", { id: `goal-${name}`, name, ...attrs, textarea: null }),
  ];
  const error = h("div", { class: "error full", role: "alert", id: "new-goal-errors", hidden: true });
  const form = h("form", { class: "form", id: "new-goal" },
    field("goal", "Goal", { textarea: true, rows: 3, required: true, placeholder: "What the crew should achieve" }),
    field("repo", "Repository", { placeholder: "/srv/repos/textkit (default: the project's)" }),
    field("project_id", "Project", { placeholder: "optional: a project id" }),
    field("budget_usd", "Budget (USD)", { type: "number", step: "0.01", min: "0" }),
    h("label", { for: "goal-approve" }, "Approve the plan first"),
    h("input", { id: "goal-approve", name: "approve", type: "checkbox", checked: true }),
    error,
    h("div", { class: "toolbar full" }, h("button", { type: "submit", id: "start-goal" }, "Start goal")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const v = Object.fromEntries(new FormData(form));
    const body = { goal: v.goal.trim(), approve: v.approve === "on" };
    if (v.repo.trim()) body.repo = v.repo.trim();
    if (v.project_id.trim()) body.project_id = v.project_id.trim();
    if (v.budget_usd) body.budget_usd = Number(v.budget_usd);
    form.querySelector("button[type=submit]").disabled = true;
    try {
      const started = await api("POST", "/goals", { body });
      flash("Goal given: the manager is planning it", "ok");
      onCreated(started.run);
    } catch (exc) {
      const lines = problems(exc);
      mount(error, lines.length > 1 ? h("ul", {}, lines.map((l) => h("li", {}, l))) : h("p", {}, lines[0] || "The goal was refused."));
      error.hidden = false;
    } finally {
      form.querySelector("button[type=submit]").disabled = false;
    }
  });
  return form;
}

export async function render(main, ctx) {
  const state = { status: new URLSearchParams(location.search).get("status") || "", q: new URLSearchParams(location.search).get("q") || "" };
  let cursor = null;
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const formCard = h("section", { class: "card", hidden: true }, h("h2", {}, "New run"), newRunForm((run) => location.assign(`/runs/${encodeURIComponent(run.id)}`)));
  const goalCard = h("section", { class: "card", hidden: true }, h("h2", {}, "New goal"), newGoalForm((run) => location.assign(`/runs/${encodeURIComponent(run.id)}`)));
  const search = h("input", { type: "search", placeholder: "Search runs by name or goal", "aria-label": "Search runs", value: state.q });
  const select = h("select", { "aria-label": "Filter by status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s ? s.replace("_", " ") : "All statuses")));

  function row(run) {
    return h("tr", { dataset: { run: run.id, status: run.status } },
      h("td", {}, h("a", { href: `/runs/${encodeURIComponent(run.id)}` }, run.name), h("span", { class: "cell-sub mono" }, run.id)),
      h("td", {}, runStatus(run)),
      h("td", {}, progress(run.counts, run.total_tasks)),
      h("td", { class: "num" }, usd(run.spent_usd), run.budget_usd ? h("span", { class: "cell-sub" }, `of ${usd(run.budget_usd)}`) : null),
      h("td", { class: "hide-narrow", title: run.created_at }, age(run.created_at)),
      h("td", { class: "hide-narrow muted" }, run.goal || run.repo_path));
  }

  async function load(append = false) {
    const page = await get("/runs", { status: state.status, q: state.q, limit: 50, cursor: append ? cursor : null });
    cursor = page.next_cursor;
    const rows = page.items.map(row);
    if (append) tbody.append(...rows);
    else mount(tbody, rows.length ? rows : h("tr", {}, h("td", { colspan: 6 }, empty(state.q || state.status ? "No run matches." : "No runs yet."))));
    more.hidden = !cursor;
  }

  const refilter = () => {
    const q = new URLSearchParams();
    if (state.status) q.set("status", state.status);
    if (state.q) q.set("q", state.q);
    history.replaceState(null, "", q.size ? `/?${q}` : "/");
    load();
  };
  search.addEventListener("input", debounce(() => ((state.q = search.value.trim()), refilter()), 250));
  select.addEventListener("change", () => ((state.status = select.value), refilter()));
  more.addEventListener("click", () => load(true));

  const newButton = ctx.canSteer
    ? h("button", { type: "button", id: "new-run-toggle", "aria-expanded": "false", onclick: (e) => {
        formCard.hidden = !formCard.hidden;
        e.currentTarget.setAttribute("aria-expanded", String(!formCard.hidden));
        if (!formCard.hidden) formCard.querySelector("input").focus();
      } }, "New run")
    : null;
  const goalButton = ctx.canSteer
    ? h("button", { type: "button", id: "new-goal-toggle", "aria-expanded": "false", onclick: (e) => {
        goalCard.hidden = !goalCard.hidden;
        e.currentTarget.setAttribute("aria-expanded", String(!goalCard.hidden));
        if (!goalCard.hidden) goalCard.querySelector("textarea").focus();
      } }, "New goal")
    : null;

  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Runs")), h("div", { class: "row-actions" }, goalButton, newButton)),
    formCard,
    goalCard,
    h("section", { class: "card" },
      h("div", { class: "filters" }, search, select),
      h("div", { class: "tablewrap" },
        h("table", { id: "runs" },
          h("thead", {}, h("tr", {}, h("th", {}, "Run"), h("th", {}, "Status"), h("th", {}, "Progress"), h("th", { class: "num" }, "Cost"),
            h("th", { class: "hide-narrow" }, "Age"), h("th", { class: "hide-narrow" }, "Goal / repository"))),
          tbody)),
      h("div", { class: "toolbar" }, more)));
  await load();
  // Live: any run's change refreshes the first page (the list is short; the server filters by organisation).
  subscribe({ types: TYPES }, debounce(() => load(), 500), { onReconnect: () => load() });
}
