// A run: totals, the live DAG (click a task for its detail), the timeline of attempts, every task, and the
// notifications sent about it.

import { get, getStamped, items } from "../api.js";
import { Dag } from "../dag.js";
import { age, between, debounce, duration, h, mount, progress, runStatus, section, status, STATUS_ORDER, usd, when } from "../dom.js";
import { Timeline } from "../gantt.js";
import { subscribe } from "../live.js";
import { runButtons, taskButtons } from "../steer.js";

const TYPES = [
  "run.created", "run.finished", "run.planning", "run.waiting", "plan.proposed", "plan.applied", "approval.requested",
  "approval.decided", "run.paused", "run.resumed", "run.cancelled", "run.budget_exhausted",
  "run.budget_raised", "task.created", "task.ready", "task.claimed", "task.succeeded", "task.failed",
  "task.blocked", "task.cancelled", "task.requeued", "task.prioritized", "task.released", "lease.expired",
  "merge.done", "merge.conflict", "cost.recorded",
];

function stat(key, value, sub) {
  return h("div", { class: "stat" }, h("div", { class: "k" }, key), h("div", { class: "v" }, value), sub ? h("div", { class: "muted" }, sub) : null);
}

/** Started by the shell while it asks who is signed in. */
export function prefetch({ runId }) {
  return getStamped(`/runs/${encodeURIComponent(runId)}`);
}

export async function render(main, ctx) {
  const runId = ctx.params.runId;
  const taskHref = (id) => `/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(id)}`;
  let { data: run, at: snapshotAt } = ctx.prefetched || (await prefetch(ctx.params));
  let selected = null;
  const titles = new Map();

  const head = h("div", { class: "pagehead" });
  const stats = h("div", { class: "stats" });
  const dagCard = h("section", { class: "card dag-card" });
  // The selected task's details: a drawer beside the graph, inside its card, so it opens where the
  // click was (in view) and covers nothing else on the page.
  const panel = h("aside", { class: "drawer", "aria-label": "Selected task" });
  const dagBody = h("div", { class: "dag-body" });
  dagCard.append(dagBody);
  const gantt = h("div", { class: "gantt" });
  const taskTable = h("div", { class: "tablewrap" });
  const notes = h("div", { id: "run-notifications" });
  const timeline = new Timeline();
  const dag = new Dag(dagBody, {
    onSelect: (id) => {
      selected = id;
      paintPanel();
      panel.querySelector("h2")?.focus({ preventScroll: true });
    },
  });
  const close = () => {
    const was = selected;
    selected = null;
    paintPanel();
    if (was) dag.nodes.get(was)?.focus({ preventScroll: true });
  };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selected && !document.querySelector("dialog[open]")) close();
  });
  const legend = h("div", { class: "legend" },
    STATUS_ORDER.map((name) => h("span", {}, h("span", { class: "sw", dataset: { status: name } }), name)),
    h("span", {}, h("span", { class: "sw critical" }), "critical path"));
  dagCard.prepend(h("div", { class: "dag-head" }, h("h2", {}, "Task graph"), legend, dag.controls()));
  dagBody.append(panel);

  mount(main, head, stats, dagCard,
    section("Timeline", gantt),
    section("Tasks", taskTable),
    section("Notifications", notes));

  const reload = debounce(async () => {
    ({ data: run, at: snapshotAt } = await prefetch(ctx.params));
    paint();
  }, 250);

  function paintHead() {
    mount(head,
      h("div", { class: "title" },
        h("div", { class: "crumbs" }, h("a", { href: "/" }, "Runs"), " / ", run.id),
        h("h1", {}, run.name, " ", runStatus(run)),
        h("div", { class: "sub" }, `${run.repo_path} → ${run.integration_branch} · started ${age(run.created_at)} · `,
          h("a", { href: `/costs?run_id=${encodeURIComponent(run.id)}` }, "costs"), " · ",
          h("a", { href: `/audit?run_id=${encodeURIComponent(run.id)}` }, "audit trail")),
        run.goal ? h("div", { class: "sub" }, `Goal: ${run.goal}`) : null,
        run.status === "planning" ? h("div", { class: "notice", id: "run-waiting" }, "The crew's manager is planning this goal; its plan arrives here.") : null,
        run.status === "waiting" && run.waiting_for === "merge"
          ? h("div", { class: "notice", id: "run-waiting" }, "Waiting for merge approval: a task's landing waits for a person; the run's other tasks go on. ",
            h("a", { href: "/approvals" }, "open the approvals"))
          : run.status === "waiting"
          ? h("div", { class: "notice", id: "run-waiting" }, `Waiting for a person to decide its ${run.waiting_for || "next step"}: `,
            h("a", { href: "/approvals" }, "open the approvals"))
          : null,
        pullRequests(run.pull_requests || [])),
      runButtons(ctx, run, reload));
  }

  function paintStats() {
    const counts = run.counts || {};
    const total = run.total_tasks ?? run.tasks.length;
    const seconds = between(run.created_at, run.finished_at);
    mount(stats,
      stat("Progress", `${counts.succeeded || 0} / ${total}`, progress(counts, total)),
      stat("Running", String(counts.running || 0), `${counts.ready || 0} ready · ${counts.pending || 0} waiting`),
      stat("Failed", String((counts.failed || 0) + (counts.conflict || 0)), `${counts.blocked || 0} blocked · ${counts.cancelled || 0} cancelled`),
      stat("Cost", usd(run.spent_usd), run.budget_usd ? `of ${usd(run.budget_usd)} budget` : "no budget"),
      stat("Duration", duration(seconds), run.finished_at ? `ended ${when(run.finished_at)}` : "so far"),
      stat("Critical path", `${(run.critical_path || []).length} tasks`));
  }

  function paintPanel() {
    const task = run.tasks.find((t) => t.id === selected);
    panel.classList.toggle("open", Boolean(task));
    if (!task) {
      mount(panel);
      return;
    }
    mount(panel,
      h("section", { class: "card panel", id: "task-panel" },
        h("div", { class: "drawer-head" },
          h("h2", { tabindex: "-1" }, task.title || task.id, " ", status(task.status)),
          h("button", { type: "button", class: "secondary small", "aria-label": "Close", onclick: close }, "×")),
        h("dl", { class: "meta" },
          h("dt", {}, "Id"), h("dd", { class: "mono" }, task.id),
          run.status === "paused" && ["ready", "pending"].includes(task.status)
            ? [h("dt", {}, "Waiting"), h("dd", { id: "paused-note" }, "for the run: it is paused, nothing starts until it is resumed")]
            : null,
          h("dt", {}, "Depends on"), h("dd", {}, (task.depends_on || []).join(", ") || "—"),
          h("dt", {}, "Runtime"), h("dd", {}, task.runtime || "—", task.role ? ` · ${task.role}` : ""),
          h("dt", {}, "Priority"), h("dd", {}, String(task.priority ?? 0)),
          task.estimate_s == null ? null : [h("dt", {}, "Estimate"), h("dd", {}, duration(task.estimate_s))],
          h("dt", {}, "Attempts"), h("dd", {}, String(task.attempts ?? 0), task.revisions ? ` · ${task.revisions} revisions` : ""),
          h("dt", {}, "Cost"), h("dd", {}, usd(task.cost_usd)),
          task.commit_sha ? [h("dt", {}, "Commit"), h("dd", { class: "mono" }, task.commit_sha.slice(0, 12))] : null,
          task.error ? [h("dt", {}, "Error"), h("dd", { class: "error" }, task.error)] : null),
        h("div", { class: "toolbar" },
          h("a", { class: "button", href: taskHref(task.id) }, "Open task: log & diff"),
          taskButtons(ctx, runId, task, reload, { small: false }))));
  }

  function paintTasks() {
    const rows = run.tasks.map((t) =>
      h("tr", { dataset: { task: t.id, status: t.status } },
        h("td", {}, h("a", { href: taskHref(t.id) }, t.title || t.id), h("span", { class: "cell-sub mono" }, t.id)),
        h("td", {}, status(t.status)),
        h("td", { class: "num hide-narrow" }, String(t.priority ?? 0)),
        h("td", { class: "num hide-narrow" }, String(t.attempts ?? 0)),
        h("td", { class: "num" }, usd(t.cost_usd)),
        h("td", {}, taskButtons(ctx, runId, t, reload))));
    mount(taskTable,
      h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "Status"), h("th", { class: "num hide-narrow" }, "Priority"),
          h("th", { class: "num hide-narrow" }, "Attempts"), h("th", { class: "num" }, "Cost"), h("th", {}, ctx.canSteer ? "Actions" : ""))),
        h("tbody", {}, rows)));
  }

  async function paintNotes() {
    let sent;
    try {
      sent = items(await get("/notifications", { run: runId, limit: 50 }));
    } catch {
      return;
    }
    if (!sent.length) return mount(notes, h("p", { class: "muted" }, "None sent (subscribe under Settings)."));
    mount(notes, h("div", { class: "tablewrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Kind", "Channel", "To", "State", "Tries", "Last error"].map((c) => h("th", {}, c)))),
      h("tbody", {}, sent.map((n) => h("tr", {},
        h("td", {}, n.kind, n.task_id ? h("span", { class: "cell-sub mono" }, n.task_id) : null), h("td", {}, n.channel),
        h("td", { class: "mono" }, n.target), h("td", {}, status(n.status)), h("td", { class: "num" }, String(n.attempts)),
        h("td", {}, n.last_error || "")))))));
  }

  function paint() {
    paintNotes();
    for (const t of run.tasks) titles.set(t.id, t.title || t.id);
    document.title = `${run.name} · Quarterdeck`;
    paintHead();
    paintStats();
    dag.show(run.tasks, run.critical_path || []);
    paintPanel();
    paintTasks();
    timeline.render(gantt, titles);
  }

  paint();
  const redrawTimeline = debounce(() => timeline.render(gantt, titles), 400);
  // From the run's first event: the timeline is drawn from the history, then follows live.
  subscribe({ run_id: runId, types: TYPES, after: 0 }, (event) => {
    if (timeline.feed(event)) redrawTimeline();
    // History the snapshot already shows needs no reload (a second of slack for the Date header's rounding).
    if (Date.parse(event.created_at) > snapshotAt - 1000) reload();
  }, { onReconnect: reload });
  // Running bars grow with the clock.
  setInterval(() => {
    if (!["succeeded", "failed", "cancelled"].includes(run.status)) redrawTimeline();
  }, 5000);
}

/** The run's pull requests on GitHub / GitLab and the issue it came from (docs/pull-requests.md). */
function pullRequests(links) {
  if (!links.length) return null;
  const items = links.map((link, i) => {
    const what = link.kind === "issue" ? `issue #${link.number}` : `pull request #${link.number}`;
    const label = link.task_id ? `${what} (${link.task_id})` : what;
    const state = link.kind === "issue" ? "" : link.state === "open" ? " · draft" : ` · ${link.state}`;
    const safe = /^https?:\/\//.test(link.url) ? link.url : null;
    return [i ? " · " : "", safe ? h("a", { href: safe, rel: "noopener noreferrer", target: "_blank" }, label) : label,
      state];
  });
  return h("div", { class: "sub", id: "pull-requests" }, `${links[0].repository}: `, ...items.flat());
}
