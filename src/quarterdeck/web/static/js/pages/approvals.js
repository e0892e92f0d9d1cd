// The approvals inbox: plans, re-plans, merges and budget raises waiting for a human.

import { get, post } from "../api.js";
import { confirmAction } from "../dialog.js";
import { age, debounce, empty, flash, h, mount, section, status, when } from "../dom.js";
import { subscribe } from "../live.js";

function payloadSummary(a) {
  const p = a.payload || {};
  if (a.kind === "plan" || a.kind === "replan") {
    const tasks = p.plan?.tasks || p.tasks || [];
    return `${tasks.length} tasks${p.reason ? ` — ${p.reason}` : ""}`;
  }
  if (a.kind === "budget") return `raise by $${p.add_usd ?? p.amount_usd ?? "?"}${p.reason ? ` — ${p.reason}` : ""}`;
  if (a.kind === "merge") return `merge ${p.branch || a.task_id || ""}`;
  return p.summary || p.reason || "";
}

export async function render(main, ctx) {
  const pending = h("div");
  const decided = h("div");
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Approvals"), h("div", { class: "sub" }, "Gates the crews wait on: plans, merges and budget raises."))),
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
        h("td", {}, a.run_id ? h("a", { href: `/runs/${encodeURIComponent(a.run_id)}` }, a.run_id) : "—", a.task_id ? h("span", { class: "cell-sub mono" }, a.task_id) : null),
        h("td", {}, payloadSummary(a), h("span", { class: "cell-sub" }, `asked by ${a.requested_by}`)),
        h("td", { class: "muted", title: when(open ? a.requested_at : a.decided_at) }, age(open ? a.requested_at : a.decided_at)),
        h("td", {}, open
          ? ctx.canSteer
            ? h("div", { class: "row-actions" },
              h("button", { type: "button", class: "small", dataset: { action: "approve" }, onclick: () => decide(a, true) }, "Approve"),
              h("button", { type: "button", class: "small ghost-danger", dataset: { action: "reject" }, onclick: () => decide(a, false) }, "Reject"))
            : h("span", { class: "muted" }, "members decide")
          : [status(a.status), a.reason ? h("span", { class: "cell-sub" }, a.reason) : null]))))));
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
