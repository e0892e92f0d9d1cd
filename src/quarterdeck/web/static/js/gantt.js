// The timeline: one lane per task, one bar per attempt, built from the run's task events.

import { h, s } from "./dom.js";

const START = new Set(["task.claimed"]);
const END = {
  "task.succeeded": "succeeded", "task.failed": "failed", "task.cancelled": "cancelled",
  "task.released": "cancelled", "lease.expired": "expired", "merge.conflict": "conflict",
};

function tick(seconds, span) {
  if (span < 10) return `+${seconds.toFixed(1)} s`;
  if (span < 600) return `+${Math.round(seconds)} s`;
  if (span < 36000) return `+${Math.round(seconds / 60)} min`;
  return `+${(seconds / 3600).toFixed(1)} h`;
}

/** Attempts per task, fed one event at a time. */
export class Timeline {
  constructor() {
    this.lanes = new Map();
  }

  /** Returns true when the event changed the timeline. */
  feed(event) {
    if (!event.task_id) return false;
    const at = new Date(event.created_at).getTime();
    let lane = this.lanes.get(event.task_id);
    if (START.has(event.type)) {
      if (!lane) this.lanes.set(event.task_id, (lane = []));
      lane.push({ start: at, end: null, status: "running" });
      return true;
    }
    if (event.type in END && lane?.length) {
      const open = lane[lane.length - 1];
      if (open.end === null || event.type === "merge.conflict") {
        open.end ??= at;
        open.status = END[event.type];
        return true;
      }
    }
    return false;
  }

  render(container, titles) {
    if (!this.observer) {
      // Redraw at the new width when the card resizes (a phone turned, a window narrowed).
      let last = container.clientWidth;
      this.observer = new ResizeObserver(() => {
        if (Math.abs(container.clientWidth - last) > 8) {
          last = container.clientWidth;
          this.render(container, titles);
        }
      });
      this.observer.observe(container);
    }
    const lanes = [...this.lanes.entries()].sort((a, b) => a[1][0].start - b[1][0].start);
    if (!lanes.length) {
      container.replaceChildren(h("p", { class: "empty" }, "No attempt has started yet."));
      return;
    }
    const now = Date.now();
    const t0 = lanes[0][1][0].start;
    const t1 = Math.max(...lanes.flatMap(([, a]) => a.map((x) => x.end ?? now)), t0 + 1000);
    const width = Math.max(container.clientWidth || 640, 300);
    const label = width < 560 ? 110 : 170;
    const chars = width < 560 ? 15 : 24;
    const plot = width - label - 16;
    const laneH = 18;
    const top = 20;
    const x = (t) => label + ((t - t0) / (t1 - t0)) * plot;
    const svg = s("svg", { width, height: top + lanes.length * laneH + 6, role: "img", "aria-label": "Timeline of attempts" });
    const ticks = Math.max(2, Math.min(6, Math.floor(plot / 90)));
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + ((t1 - t0) * i) / ticks;
      svg.append(s("line", { class: "grid", x1: x(t), x2: x(t), y1: top - 4, y2: top + lanes.length * laneH }));
      svg.append(s("text", { x: x(t), y: 11, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" },
        tick((t - t0) / 1000, (t1 - t0) / 1000)));
    }
    lanes.forEach(([taskId, attempts], i) => {
      const y = top + i * laneH;
      const name = titles.get(taskId) || taskId;
      svg.append(s("text", { class: "lane-label", x: 0, y: y + 12 }, name.length > chars ? `${name.slice(0, chars - 1)}…` : name));
      attempts.forEach((a, n) => {
        const x0 = x(a.start);
        const w = Math.max(3, x(a.end ?? now) - x0);
        svg.append(
          s("rect", { class: "att", x: x0, y: y + 3, width: w, height: laneH - 6, dataset: { status: a.status } },
            s("title", {}, `${taskId} attempt ${n + 1}: ${a.status}, ${((a.end ?? now) - a.start) / 1000} s`)),
        );
      });
    });
    container.replaceChildren(svg);
  }
}
