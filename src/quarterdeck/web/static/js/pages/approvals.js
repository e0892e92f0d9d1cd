// The approvals inbox: plans, re-plans, merges, budget raises and review revisions waiting for a human.

import { get, post, put } from "../api.js";
import { confirmAction } from "../dialog.js";
import { age, debounce, empty, flash, h, mount, section, status, usd, when } from "../dom.js";
import { subscribe } from "../live.js";

function payloadSummary(a) {
  const p = a.payload || {};
  if (a.kind === "plan") {
    const tasks = p.tasks || p.plan?.tasks || [];
    const estimate = p.estimate_usd != null ? `, estimate ${usd(p.estimate_usd)}` : "";
    return `${tasks.length} tasks${estimate}${p.reason ? ` — ${p.reason}` : ""}`;
  }
  if (a.kind === "replan") {
    const added = (p.changes || []).flatMap((c) => c.tasks || []);
    return `task ${p.task || a.task_id || "?"} failed for good: ${(p.changes || []).length} changes, ${added.length} new tasks${p.reason ? ` — ${p.reason}` : ""}`;
  }
  if (a.kind === "budget") return `raise by $${p.add_usd ?? p.amount_usd ?? "?"}${p.reason ? ` — ${p.reason}` : ""}`;
  if (a.kind === "merge") return `merge ${p.branch || a.task_id || ""}`;
  // review feedback on a pull request, held until approved (docs/pull-requests.md)
  if (a.kind === "revision") return `revise ${p.task_id || a.task_id || ""}: ${(p.turn || "").split("\n").slice(2, 5).join(" ").slice(0, 200)}`;
  return p.summary || p.reason || "";
}

/** A plan's tasks as the approver judges them: role, dependencies, criteria, checks, estimate. */
function planTable(tasks) {
  const criteria = (t) => (t.criteria || (t.acceptance_criteria || []).map((c) => (typeof c === "string" ? c : c.text)));
  return h("table", { class: "plan-tasks" },
    h("thead", {}, h("tr", {}, ["Task", "Role", "Depends on", "Acceptance criteria", "Checks", "Estimate"].map((c) => h("th", {}, c)))),
    h("tbody", {}, tasks.map((t) => h("tr", { dataset: { task: t.id } },
      h("td", {}, t.title, h("span", { class: "cell-sub mono" }, t.id)),
      h("td", {}, t.role || "—"),
      h("td", { class: "mono" }, (t.depends_on || []).join(", ") || "—"),
      h("td", {}, h("ol", {}, criteria(t).map((c) => h("li", {}, c)))),
      h("td", { class: "mono" }, (t.verify || []).join("\n") || "—"),
      h("td", { class: "num" }, t.estimate_usd != null ? usd(t.estimate_usd) : "—")))));
}

/** What a pending approval changes and why: the whole plan, the re-plan's changes, the money. */
function details(a) {
  const p = a.payload || {};
  if (a.kind === "plan") {
    return h("details", { class: "approval-details", open: true },
      h("summary", {}, `Plan v${p.version ?? 1}${p.goal ? ` for: ${p.goal}` : ""}`),
      planTable(p.tasks || []));
  }
  if (a.kind === "replan") {
    return h("details", { class: "approval-details", open: true },
      h("summary", {}, `Plan v${p.version ?? "?"}: why`),
      p.error ? h("pre", { class: "failure" }, String(p.error).slice(0, 2000)) : null,
      h("ul", { class: "changes" }, (p.changes || []).map((c) =>
        h("li", {}, `${c.action} ${c.task} → ${(c.tasks || []).map((t) => t.id).join(", ") || "nothing"}`))),
      planTable((p.changes || []).flatMap((c) => c.tasks || [])));
  }
  if (a.kind === "budget" && p.spent_usd != null) {
    return h("span", { class: "cell-sub" }, `${usd(p.spent_usd)} spent of ${usd(p.budget_usd || 0)}; approving adds ${usd(p.add_usd || 0)}`);
  }
  return null;
}

/** The approver's own version of a plan: the plan file as JSON in a dialog, saved as a new plan version. */
function editPlan(a, onSaved) {
  const text = h("textarea", { id: "plan-edit-text", rows: 18, "aria-label": "Plan" });
  text.value = JSON.stringify(a.payload?.plan_file || { name: "plan", tasks: a.payload?.tasks || [] }, null, 2);
  const error = h("div", { class: "error", role: "alert", id: "plan-edit-errors", hidden: true });
  const dialog = h("dialog", { class: "confirm wide", id: "plan-edit" });
  const save = h("button", { type: "button", class: "primary", id: "plan-edit-save" }, "Save plan");
  const cancel = h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel");
  dialog.append(h("h2", {}, "Edit the plan before approving it"), text, error, h("div", { class: "actions" }, cancel, save));
  dialog.addEventListener("close", () => dialog.remove());
  save.addEventListener("click", async () => {
    save.disabled = true;
    try {
      await put(`/approvals/${encodeURIComponent(a.id)}/plan`, { plan: text.value });
      flash("Plan saved: approve it to run", "ok");
      dialog.close();
      onSaved();
    } catch (exc) {
      const lines = (exc.details || []).map((d) => (typeof d === "string" ? d : d.line ? `${d.path}:${d.line}: ${d.message}` : d.message));
      mount(error, h("p", {}, lines.length ? lines.join("; ") : exc.message));
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  text.focus();
}

export async function render(main, ctx) {
  const pending = h("div");
  const decided = h("div");
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Approvals"), h("div", { class: "sub" }, "Gates the crews wait on: plans, re-plans, merges and budget raises — each with what it changes and why."))),
    section("Waiting for a decision", pending),
    section("Decided recently", decided));

  async function decide(a, approve) {
    let reason = null;
    if (!approve) {
      const answer = await confirmAction({ title: `Reject this ${a.kind}?`, body: "The crew is told why; the run does not go on with it.", ok: "Reject", reason: true });
      if (!answer) return;
      reason = answer.reason;
    }
    try {
      await post(`/approvals/${encodeURIComponent(a.id)}/${approve ? "approve" : "reject"}`, reason ? { reason } : {});
      flash(`${approve ? "Approved" : "Rejected"} ${a.kind}`, "ok");
      load();
    } catch (exc) {
      flash(`Could not decide: ${exc.message}`, "error");
    }
  }

  function table(rows, open) {
    if (!rows.length) return empty(open ? "Nothing waits for you." : "No decisions yet.");
    return h("div", { class: "tablewrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Kind", "Run / task", "What", open ? "Asked" : "Decided", open ? "" : "Status"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.map((a) => h("tr", { dataset: { approval: a.id } },
        h("td", {}, h("span", { class: "kind", dataset: { kind: "decision" } }, a.kind)),
        h("td", {}, a.run_id ? h("a", { href: `/runs/${encodeURIComponent(a.run_id)}` }, a.run_name || a.run_id) : "—", a.task_id ? h("span", { class: "cell-sub mono" }, a.task_id) : null),
        h("td", {}, payloadSummary(a), h("span", { class: "cell-sub" }, `asked by ${a.requested_by_name || a.requested_by}`),
          open ? details(a) : null),
        h("td", { class: "muted", title: when(open ? a.requested_at : a.decided_at) }, age(open ? a.requested_at : a.decided_at)),
        h("td", {}, open
          ? ctx.canSteer
            ? h("div", { class: "row-actions" },
              h("button", { type: "button", class: "small", dataset: { action: "approve" }, onclick: () => decide(a, true) }, "Approve"),
              a.kind === "plan"
                ? h("button", { type: "button", class: "small secondary", dataset: { action: "edit" }, onclick: () => editPlan(a, load) }, "Edit plan")
                : null,
              h("button", { type: "button", class: "small ghost-danger", dataset: { action: "reject" }, onclick: () => decide(a, false) }, "Reject"))
            : h("span", { class: "muted" }, "members decide")
          : [status(a.status), a.decided_by ? h("span", { class: "cell-sub" }, `by ${a.decided_by_name || a.decided_by}`) : null,
            a.reason ? h("span", { class: "cell-sub" }, a.reason) : null]))))));
  }

  const fetchNow = async () => {
    const [open, approved, rejected] = await Promise.all(
      ["pending", "approved", "rejected"].map((status) => get("/approvals", { status, limit: 100 })));
    const done = [...approved.items, ...rejected.items].sort((a, b) => (b.decided_at || "").localeCompare(a.decided_at || ""));
    mount(pending, table(open.items, true));
    mount(decided, table(done.slice(0, 50), false));
    const badge = document.getElementById("approvals-count");
    badge.textContent = String(open.items.length);
    badge.hidden = !open.items.length;
  };
  const load = debounce(fetchNow, 300);
  await fetchNow();
  subscribe({ types: ["approval.requested", "approval.decided"] }, load, { onReconnect: load });
}
