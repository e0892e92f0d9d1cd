// A task: what it was asked, how it was judged, the live agent log, its diff, verification and attempts; a box
// to send its agent a follow-up, and its prompt edited before a retry.

import { get, patch, post } from "../api.js";
import { renderDiff } from "../diff.js";
import { between, debounce, duration, flash, h, mount, section, status, usd, when } from "../dom.js";
import { subscribe } from "../live.js";
import { taskButtons } from "../steer.js";

// a task whose prompt may change: nothing runs it now, and it has not ended well
const EDITABLE = new Set(["pending", "ready", "failed", "conflict", "cancelled"]);

const TABS = [
  ["log", "Agent log"],
  ["diff", "Diff"],
  ["verify", "Verification"],
  ["attempts", "Attempts"],
];

function time(event) {
  return h("span", { class: "t" }, new Date(event.created_at).toLocaleTimeString());
}

function short(value, max = 90) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (!text) return "";
  const line = text.replace(/\s+/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The agent log: one entry per event, consecutive output of one stream merged into one block. */
class Log {
  constructor(el, verifyEl) {
    this.el = el;
    this.verifyEl = verifyEl;
    this.lastOut = null;
    this.verifications = 0;
  }

  stick() {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 40;
  }

  /** Queue an event; the queue is drawn once per frame, so replaying a long history stays fast. */
  add(event) {
    (this.pending ||= []).push(event);
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = null;
    const events = this.pending;
    this.pending = [];
    const follow = this.stick();
    this.el.querySelector(".empty")?.remove();
    for (const event of events) this.draw(event);
    if (follow) this.el.scrollTop = this.el.scrollHeight;
  }

  draw(event) {
    const p = event.payload || {};
    if (event.type === "agent.output") {
      const stream = p.stream || "stdout";
      if (this.lastOut?.stream === stream) {
        const pre = this.lastOut.pre;
        // Runtimes send output a line at a time, some with the newline and some without.
        pre.textContent += (pre.textContent && !pre.textContent.endsWith("\n") ? "\n" : "") + (p.text || "");
      } else {
        const pre = h("pre", { class: stream }, p.text || "");
        this.el.append(h("div", { class: "entry out", dataset: { type: event.type } }, time(event), h("span", { class: "muted" }, stream), pre));
        this.lastOut = { stream, pre };
      }
    } else {
      this.lastOut = null;
      this.el.append(this.entry(event, p));
    }
  }

  entry(event, p) {
    const data = { type: event.type };
    switch (event.type) {
      case "agent.message":
        return h("div", { class: "entry msg", dataset: data }, time(event), h("div", { class: "text" }, p.text || ""));
      case "agent.tool":
        return h("details", { class: "entry tool", dataset: data },
          h("summary", {}, time(event), h("b", {}, p.tool || "tool"), " ", short(p.input)),
          h("pre", {}, typeof p.input === "string" ? p.input : JSON.stringify(p.input, null, 2)));
      case "agent.result":
        return h("div", { class: "entry result", dataset: data }, time(event),
          h("b", {}, p.ok === false ? "Agent gave up" : "Agent finished"), p.summary ? `: ${p.summary}` : "");
      case "verify.result": {
        const ok = p.exit_code === 0;
        const entry = () => h("details", { class: ["entry verify", ok ? "ok" : "bad"], open: !ok, dataset: data },
          h("summary", {}, time(event), h("b", {}, ok ? "✓ " : "✗ "), h("code", {}, p.command || ""), ` exit ${p.exit_code}`),
          h("pre", {}, p.output || "(no output)"));
        if (this.verifications++ === 0) this.verifyEl.replaceChildren();
        this.verifyEl.append(entry());
        return entry();
      }
      case "memory.recalled": {
        // the lessons of earlier tasks this attempt's prompt was given (docs/memory.md)
        const given = p.memories || [];
        return h("details", { class: "entry sys", dataset: data },
          h("summary", {}, time(event), h("b", {}, `Given ${given.length} lesson${given.length === 1 ? "" : "s"} from earlier work`)),
          h("ul", {}, ...given.map((m) => h("li", {}, `${m.title} `, h("span", { class: "muted" }, `(${m.id}, similarity ${m.similarity})`)))));
      }
      case "sandbox.refused": {
        const what = p.what === "network" ? `network: ${p.host}${p.port ? `:${p.port}` : ""}` : (p.reason || p.what || "");
        return h("div", { class: "entry sys bad", dataset: data }, time(event), h("b", {}, "Sandbox refused "), short(what, 160));
      }
      default: {
        const detail = p.error || p.reason || p.message || p.commit || p.summary || (p.worker ? `worker ${p.worker}` : "");
        return h("div", { class: "entry sys", dataset: data }, time(event), event.type, detail ? ` · ${short(detail, 160)}` : "");
      }
    }
  }
}

export async function render(main, ctx) {
  const { runId, taskId } = ctx.params;
  const base = `/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(taskId)}`;
  let task = await get(base);

  const head = h("div", { class: "pagehead" });
  const meta = h("div");
  const aside = h("div");
  const logEl = h("div", { class: "log", id: "log", "aria-live": "off" }, h("p", { class: "empty" }, "Waiting for the agent…"));
  const verifyEl = h("div", { id: "verification" }, h("p", { class: "empty" }, "No verification has run yet."));
  const diffEl = h("div", { id: "diff" }, h("p", { class: "loading" }, "Loading the diff…"));
  const attemptsEl = h("div", { class: "tablewrap", id: "attempts" });
  const panels = { log: logEl, diff: diffEl, verify: verifyEl, attempts: attemptsEl };
  const tabButtons = {};
  let diffLoaded = false;

  const loadDiff = debounce(async () => {
    try {
      const diff = await get(`${base}/diff`);
      await renderDiff(diffEl, diff);
      if (diff.truncated) diffEl.prepend(h("p", { class: "flash" }, "This diff is long: only its beginning is shown."));
    } catch (exc) {
      mount(diffEl, h("p", { class: exc.status === 404 ? "empty" : "error" }, exc.status === 404 ? "No branch yet: the diff appears once an attempt has started." : exc.message));
    }
  }, 200);

  function show(name) {
    for (const [key, button] of Object.entries(tabButtons)) {
      button.setAttribute("aria-selected", String(key === name));
      button.tabIndex = key === name ? 0 : -1;
      panels[key].hidden = key !== name;
    }
    if (name === "diff" && !diffLoaded) {
      diffLoaded = true;
      loadDiff();
    }
    history.replaceState(null, "", `#${name}`);
  }

  const tabs = h("div", { class: "tabs", role: "tablist" },
    TABS.map(([key, label]) => (tabButtons[key] = h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-controls": `panel-${key}`, onclick: () => show(key) }, label))));
  tabs.addEventListener("keydown", (event) => {
    const keys = TABS.map(([k]) => k);
    const current = keys.findIndex((k) => tabButtons[k].getAttribute("aria-selected") === "true");
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step) {
      const next = keys[(current + step + keys.length) % keys.length];
      show(next);
      tabButtons[next].focus();
    }
  });

  mount(main, head, meta,
    h("div", { class: "grid2" },
      h("section", { class: "card" }, tabs,
        Object.entries(panels).map(([key, el]) => h("div", { role: "tabpanel", id: `panel-${key}`, "aria-labelledby": `tab-${key}` }, el))),
      aside));

  const reload = debounce(async () => {
    task = await get(base);
    paint();
  }, 250);

  const WHEN = {
    after_turn: "Sent: the agent gets it after its current turn, in the same session.",
    revision: "Sent: the task is reopened and its session continues with your message.",
    retry: "Sent: the task is re-queued; its next attempt gets your message.",
    with_prompt: "Sent: its first attempt gets it with the prompt.",
  };

  // What the user is typing survives the page's repaints (every live event of the task repaints it).
  const drafts = { say: "", prompt: null };

  function sayBox() {
    const text = h("textarea", { id: "say-message", rows: 3, "aria-label": "Message to the agent", placeholder: task.status === "running" ? "Delivered after its current turn" : "Sent as a new turn of its session", required: true });
    text.value = drafts.say;
    text.addEventListener("input", () => { drafts.say = text.value; });
    const form = h("form", { id: "say-form" }, text, h("button", { type: "submit" }, "Send"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const said = await post(`${base}/say`, { message: text.value });
        flash(WHEN[said.delivery] || "Sent.", "ok");
        text.value = drafts.say = "";
        reload();
      } catch (exc) {
        flash(exc.message, "error");
      }
    });
    return form;
  }

  function editBox() {
    const text = h("textarea", { id: "edit-prompt", rows: 6, "aria-label": "New prompt" });
    text.value = drafts.prompt ?? (task.prompt || "");
    text.addEventListener("input", () => { drafts.prompt = text.value; });
    const form = h("form", { id: "edit-form" }, text, h("button", { type: "submit", class: "secondary" }, "Save prompt"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await patch(base, { prompt: text.value });
        drafts.prompt = null;
        flash("Prompt saved: retry the task to use it.", "ok");
        reload();
      } catch (exc) {
        flash(exc.message, "error");
      }
    });
    return h("details", {}, h("summary", {}, "Edit before a retry"), form);
  }

  function paint() {
    document.title = `${task.title || task.id} · Quarterdeck`;
    mount(head,
      h("div", { class: "title" },
        h("div", { class: "crumbs" }, h("a", { href: "/" }, "Runs"), " / ", h("a", { href: `/runs/${encodeURIComponent(runId)}` }, runId), " / ", task.id),
        h("h1", {}, task.title || task.id, " ", status(task.status)),
        h("div", { class: "sub" }, [task.id, task.runtime, task.role, task.branch].filter(Boolean).join(" · "))),
      taskButtons(ctx, runId, task, reload, { small: false }));
    mount(meta,
      h("div", { class: "stats" }, [
        ["Attempts", `${task.attempts ?? 0}${task.max_attempts ? ` / ${task.max_attempts}` : ""}`],
        ["Revisions", String(task.revisions ?? 0)],
        ["Cost", usd(task.cost_usd)],
        ["Priority", String(task.priority ?? 0)],
        ["Estimate", task.estimate_s == null ? "—" : duration(task.estimate_s)],
        ["Commit", task.commit_sha ? task.commit_sha.slice(0, 10) : "—"],
      ].map(([k, v]) => h("div", { class: "stat" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v)))),
      task.error ? h("p", { class: "flash", dataset: { kind: "error" } }, task.error) : null);
    const verdicts = task.verdicts || [];
    const latest = verdicts[verdicts.length - 1];
    const judged = new Map((latest?.criteria || []).map((c) => [String(c.criterion), c]));
    const criteria = (task.acceptance_criteria || []).map((c, i) => {
      const text = typeof c === "string" ? c : c.text;
      const id = typeof c === "string" ? String(i + 1) : String(c.id ?? i + 1);
      const v = judged.get(id);
      return h("li", {}, text,
        v ? h("span", { class: ["verdict", v.status === "met" ? "pass" : v.status === "not_met" ? "fail" : ""], title: v.evidence || "" },
          v.status === "met" ? "✓ met" : v.status === "not_met" ? "✗ not met" : "? cannot tell") : null);
    });
    mount(aside,
      ctx.canSteer && task.status !== "blocked" ? section("Talk to the agent", sayBox()) : null,
      section("Prompt", h("pre", { class: "prompt" }, task.prompt || ""),
        ctx.canSteer && EDITABLE.has(task.status) ? editBox() : null),
      section("Acceptance criteria",
        criteria.length ? h("ol", { class: "criteria" }, criteria) : h("p", { class: "empty" }, "None given."),
        latest ? h("p", { class: "muted" }, `${latest.reviewer} · ${latest.verdict}: ${latest.summary}`) : null),
      section("Verification commands",
        (task.verify || []).length ? h("ul", {}, task.verify.map((c) => h("li", {}, h("code", {}, c)))) : h("p", { class: "empty" }, "None.")));
    const attempts = task.attempts_detail || [];
    mount(attemptsEl, attempts.length
      ? h("table", {},
        h("thead", {}, h("tr", {}, ["#", "Status", "Started", "Took", "Cost", "Worker", "Error"].map((c) => h("th", {}, c)))),
        h("tbody", {}, attempts.map((a) => h("tr", {},
          h("td", {}, String(a.number)), h("td", {}, status(a.status)), h("td", {}, when(a.started_at)),
          h("td", {}, duration(between(a.started_at, a.finished_at))), h("td", { class: "num" }, usd(a.cost_usd)),
          h("td", { class: "mono" }, a.worker_id || "—"), h("td", { class: "error" }, a.error || "")))))
      : h("p", { class: "empty" }, "No attempt yet."));
  }

  paint();
  const fromHash = () => (TABS.some(([k]) => `#${k}` === location.hash) ? location.hash.slice(1) : "log");
  show(fromHash());
  window.addEventListener("hashchange", () => show(fromHash()));
  const log = new Log(logEl, verifyEl);
  subscribe({ run_id: runId, task_id: taskId, after: 0 }, (event) => {
    log.add(event);
    if (event.type.startsWith("task.") || event.type === "cost.recorded" || event.type === "commit.created") reload();
    if (diffLoaded && (event.type === "commit.created" || event.type === "task.succeeded")) loadDiff();
  }, { onReconnect: reload });
}
