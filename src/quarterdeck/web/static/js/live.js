// The live event stream (SSE /api/v1/events): named events, gapless after a reconnect, with a visible state.
//
// EventSource reconnects by itself after a network error and sends Last-Event-ID. When the server refuses
// the stream instead (an expired session, a restart answering 503), the browser gives up: we refresh the
// session and reopen it from the last event we saw, with a growing pause. Each reopening calls
// onReconnect, so a page can reload its snapshot and miss nothing.

import { BASE, refresh } from "./api.js";

// Every EventType (src/quarterdeck/domain/events.py; tests/browser/test_assets.py keeps the two in step).
export const EVENT_TYPES = [
  "run.created", "run.finished", "run.planning", "run.waiting", "step.deferred", "task.created", "merge.started",
  "task.ready", "task.claimed", "task.succeeded", "task.failed", "task.blocked", "task.cancelled", "task.requeued",
  "task.prioritized", "task.said", "task.edited", "task.heard", "run.paused", "run.resumed", "run.cancelled",
  "run.budget_exhausted", "run.budget_raised", "cost.recorded", "task.released", "lease.expired",
  "checkpoint.resumed", "setup.result", "sandbox.confined", "sandbox.refused", "sandbox.egress", "sandbox.off",
  "sandbox.unavailable", "workspace.ready", "agent.message", "agent.tool", "agent.output", "agent.result",
  "verify.result", "retry.context", "memory.recalled", "revision.requested", "result.empty", "commit.created",
  "merge.done", "push.done", "push.failed", "merge.conflict", "plan.proposed", "plan.applied", "approval.requested",
  "approval.decided", "review.verdict", "forge.pull_opened", "forge.pull_ready", "forge.feedback",
];

const streams = new Set();

function paint() {
  const el = document.getElementById("live");
  if (!el) return;
  const states = [...streams].map((s) => s.state);
  const state = states.includes("offline") ? "offline" : states.includes("reconnecting") ? "reconnecting"
    : states.length ? "live" : "idle";
  el.dataset.state = state;
  const stale = document.getElementById("stale");
  if (stale) stale.hidden = state === "live" || state === "idle";
  el.querySelector(".label").textContent = state;
  el.title = { live: "Live: updates arrive as they happen", reconnecting: "Connection lost: reconnecting…",
    offline: "Offline: retrying", idle: "No live stream on this page" }[state];
}

export class Stream {
  /**
   * @param {object} filter  {run_id, task_id, types: [..], after}
   * @param {(event: object) => void} onEvent
   * @param {{onReconnect?: () => void}} hooks
   */
  constructor(filter, onEvent, hooks = {}) {
    this.filter = filter;
    this.onEvent = onEvent;
    this.onReconnect = hooks.onReconnect || (() => {});
    // Without `after` a page wants what happens from now on, not the organisation's whole history.
    this.lastId = filter.after ?? "latest";
    this.state = "reconnecting";
    this.opened = false;
    this.closed = false;
    this.pause = 500;
    this.seen = new Set();
    streams.add(this);
    this.open();
  }

  url() {
    const q = new URLSearchParams();
    if (this.filter.run_id) q.set("run_id", this.filter.run_id);
    if (this.filter.task_id) q.set("task_id", this.filter.task_id);
    if (this.filter.types?.length) q.set("types", this.filter.types.join(","));
    if (this.lastId !== null) q.set("after", String(this.lastId));
    return `${BASE}/events?${q}`;
  }

  open() {
    const source = new EventSource(this.url(), { withCredentials: true });
    this.source = source;
    const handle = (message) => this.receive(message);
    for (const type of this.filter.types?.length ? this.filter.types : EVENT_TYPES) source.addEventListener(type, handle);
    source.addEventListener("message", handle);
    source.addEventListener("open", () => {
      const again = this.opened;
      this.opened = true;
      this.pause = 500;
      this.set("live");
      if (again) this.onReconnect();
    });
    source.addEventListener("error", () => {
      if (this.closed) return;
      if (source.readyState === EventSource.CONNECTING) {
        // The browser retries by itself (with Last-Event-ID); a reopened stream is a reconnect.
        this.set("reconnecting");
        return;
      }
      source.close();
      this.set("offline");
      setTimeout(async () => {
        if (this.closed) return;
        await refresh();
        this.open();
      }, this.pause);
      this.pause = Math.min(this.pause * 2, 10000);
    });
  }

  receive(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    const id = Number(event.id ?? message.lastEventId);
    if (Number.isFinite(id)) {
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (this.lastId === null || id > this.lastId) this.lastId = id;
    }
    this.onEvent(event);
  }

  set(state) {
    this.state = state;
    paint();
  }

  close() {
    this.closed = true;
    this.source?.close();
    streams.delete(this);
    paint();
  }
}

export function subscribe(filter, onEvent, hooks) {
  return new Stream(filter, onEvent, hooks);
}
