// Steering: the actions a member may take on runs and tasks, each confirmed when it cannot be undone.

import { post } from "./api.js";
import { confirmAction, promptFor } from "./dialog.js";
import { flash, h } from "./dom.js";

const LIVE = new Set(["pending", "ready", "running"]);
const DEAD = new Set(["failed", "conflict", "cancelled", "blocked"]);
const WAITING = new Set(["pending", "ready"]);

async function act(label, call, done) {
  try {
    await call();
    flash(label, "ok");
    done?.();
  } catch (exc) {
    flash(`${label.split(":")[0]} failed: ${exc.message}`, "error");
  }
}

const path = (runId, taskId) => `/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(taskId)}`;

export async function cancelTask(runId, task, done) {
  const ok = await confirmAction({
    title: `Cancel task ${task.id}?`,
    body: "Its agent is stopped, and the tasks that depend on it will not run. You can retry it later.",
    ok: "Cancel task",
  });
  if (ok) await act(`Cancelled ${task.id}`, () => post(`${path(runId, task.id)}/cancel`), done);
}

export async function retryTask(runId, task, done) {
  await act(`Re-queued ${task.id}`, () => post(`${path(runId, task.id)}/retry`), done);
}

export async function prioritize(runId, task, priority, done) {
  await act(`Priority of ${task.id}: ${priority}`, () => post(`${path(runId, task.id)}/prioritize`, { priority }), done);
}

async function askPriority(runId, task, done) {
  const values = await promptFor({
    title: `Priority of ${task.id}`,
    ok: "Set priority",
    fields: [{ name: "priority", label: "Priority (higher runs first)", type: "number", step: 1, value: task.priority ?? 0, required: true }],
  });
  if (values) await prioritize(runId, task, Number.parseInt(values.priority, 10), done);
}

/** The buttons for one task that make sense in its state (none for a viewer). */
export function taskButtons(ctx, runId, task, done, { small = true } = {}) {
  if (!ctx.canSteer) return null;
  const cls = (extra) => [extra, small && "small"].filter(Boolean).join(" ");
  return h(
    "div",
    { class: "row-actions" },
    LIVE.has(task.status) &&
      h("button", { type: "button", class: cls("ghost-danger"), dataset: { action: "cancel-task" }, onclick: () => cancelTask(runId, task, done) }, "Cancel"),
    DEAD.has(task.status) &&
      h("button", { type: "button", class: cls("secondary"), dataset: { action: "retry-task" }, onclick: () => retryTask(runId, task, done) }, "Retry"),
    WAITING.has(task.status) &&
      h("button", { type: "button", class: cls("secondary"), dataset: { action: "prioritize-task" }, onclick: () => askPriority(runId, task, done) }, "Priority…"),
  );
}

/** Pause / resume / cancel / add budget for a run. */
export function runButtons(ctx, run, done) {
  if (!ctx.canSteer) return null;
  const id = encodeURIComponent(run.id);
  const terminal = ["succeeded", "failed", "cancelled"].includes(run.status);
  return h(
    "div",
    { class: "toolbar" },
    run.status === "running" &&
      h("button", { type: "button", class: "secondary", dataset: { action: "pause-run" },
        onclick: () => act("Paused: running tasks finish, nothing new starts", () => post(`/runs/${id}/pause`), done) }, "Pause"),
    run.status === "paused" &&
      h("button", { type: "button", class: "secondary", dataset: { action: "resume-run" },
        onclick: () => act("Resumed", () => post(`/runs/${id}/resume`), done) }, "Resume"),
    !terminal &&
      h("button", { type: "button", class: "secondary", dataset: { action: "add-budget" },
        onclick: async () => {
          const values = await promptFor({
            title: "Add budget",
            ok: "Add",
            fields: [{ name: "add_usd", label: "Amount (USD)", type: "number", step: "0.01", min: "0.01", value: "5", required: true }],
          });
          if (values) await act(`Added $${values.add_usd}`, () => post(`/runs/${id}/budget`, { add_usd: Number(values.add_usd) }), done);
        } }, "Add budget…"),
    !terminal &&
      h("button", { type: "button", class: "danger", dataset: { action: "cancel-run" },
        onclick: async () => {
          const ok = await confirmAction({
            title: `Cancel run ${run.name}?`,
            body: "Every running agent is stopped and no further task starts. This cannot be undone.",
            ok: "Cancel run",
          });
          if (ok) await act("Run cancelled", () => post(`/runs/${id}/cancel`), done);
        } }, "Cancel run"),
  );
}
