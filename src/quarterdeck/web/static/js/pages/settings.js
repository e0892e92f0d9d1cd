// Settings: projects, API keys and secrets (values masked, never shown again), users for admins, and
// notification subscriptions (the organisation's and projects' for admins, everyone their own) with the outbox.

import { del, get, items, post, put } from "../api.js";
import { confirmAction } from "../dialog.js";
import { age, empty, flash, h, mount, section, status } from "../dom.js";

function tableOf(columns, rows, actions) {
  if (!rows.length) return empty("None yet.");
  return h("div", { class: "tablewrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", {}, label)), actions ? h("th", {}, "") : null)),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))), actions ? h("td", {}, actions(row)) : null)))));
}

function inlineForm(id, fields, submitLabel, onSubmit) {
  const form = h("form", { class: "filters", id, "aria-label": submitLabel },
    fields.map((f) => f.options
      ? h("select", { name: f.name, "aria-label": f.label }, f.options.map((o) => h("option", { value: o, selected: o === f.value }, o)))
      : h("input", { name: f.name, type: f.type || "text", placeholder: f.label, "aria-label": f.label, required: f.required, autocomplete: "off" })),
    h("button", { type: "submit" }, submitLabel));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    try {
      await onSubmit(values);
      form.reset();
    } catch (exc) {
      flash(exc.message, "error");
    }
  });
  return h("div", { class: "addform" }, h("h3", {}, submitLabel), form);
}

async function destroy(what, call, reload) {
  if (!(await confirmAction({ title: `Delete ${what}?`, body: "This cannot be undone.", ok: "Delete" }))) return;
  try {
    await call();
    flash(`Deleted ${what}`, "ok");
    reload();
  } catch (exc) {
    flash(exc.message, "error");
  }
}

export async function render(main, ctx) {
  const admin = ctx.isAdmin;
  const cards = { projects: h("div"), keys: h("div"), secrets: h("div"), users: h("div"), notifications: h("div") };
  const fresh = h("div");
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Settings"),
      h("div", { class: "sub" }, admin ? "Organisation " + ctx.me.org_id : `Organisation ${ctx.me.org_id} · only admins can change these`))),
    fresh,
    h("div", { class: "grid-even" },
      h("div", {}, section("Projects", cards.projects), section("API keys", cards.keys)),
      h("div", {}, section("Secrets", cards.secrets), section("Users", cards.users))),
    section("Notifications", cards.notifications));

  // A viewer's page asks only for what it may read: keys, secrets and users are the admins'.
  const ADMIN_ONLY = new Set(["/api-keys", "/secrets", "/users"]);
  const tryList = async (path) => {
    if (!admin && ADMIN_ONLY.has(path)) return null;
    try {
      return items(await get(path, { limit: 200 }));
    } catch (exc) {
      if (exc.status === 403) return null;
      throw exc;
    }
  };
  const forbidden = () => h("p", { class: "muted" }, "Only admins can see these.");

  async function projects() {
    const rows = await tryList("/projects");
    if (rows === null) return mount(cards.projects, forbidden());
    mount(cards.projects,
      tableOf([["Name", (p) => p.name], ["Repository", (p) => h("code", {}, p.repo_path)], ["Created", (p) => age(p.created_at)]], rows,
        admin ? (p) => h("button", { type: "button", class: "small ghost-danger", onclick: () => destroy(`project ${p.name}`, () => del(`/projects/${encodeURIComponent(p.id)}`), projects) }, "Delete") : null),
      admin ? inlineForm("new-project", [{ name: "name", label: "Name", required: true }, { name: "repo_path", label: "Repository path on the server", required: true }], "Add project",
        async (v) => { await post("/projects", v); flash(`Project ${v.name} added`, "ok"); projects(); }) : null);
  }

  async function keys() {
    const rows = await tryList("/api-keys");
    if (rows === null) return mount(cards.keys, forbidden());
    mount(cards.keys,
      tableOf([["Name", (k) => k.name], ["Key", (k) => h("code", {}, `${k.prefix}…`)], ["Role", (k) => k.role],
        ["Last used", (k) => (k.last_used_at ? age(k.last_used_at) : "never")], ["State", (k) => (k.revoked_at ? status("cancelled") : h("span", {}, "active"))]], rows,
        admin ? (k) => (k.revoked_at ? null : h("button", { type: "button", class: "small ghost-danger", onclick: () => destroy(`API key ${k.name}`, () => del(`/api-keys/${encodeURIComponent(k.id)}`), keys) }, "Revoke")) : null),
      admin ? inlineForm("new-key", [{ name: "name", label: "Key name", required: true }, { name: "role", label: "Role", options: ["viewer", "member", "admin"], value: "member" }], "Create key",
        async (v) => {
          const created = await post("/api-keys", v);
          mount(fresh, h("section", { class: "card panel" }, h("h2", {}, `API key ${created.name}`),
            h("p", {}, "Copy it now: it is shown this once and never stored."), h("div", { class: "token", id: "new-key-value" }, created.key)));
          keys();
        }) : null);
  }

  async function secrets() {
    const rows = await tryList("/secrets");
    if (rows === null) return mount(cards.secrets, forbidden());
    mount(cards.secrets,
      tableOf([["Name", (s) => h("code", {}, s.name)], ["Kind", (s) => s.kind], ["Value", (s) => h("span", { class: "secret" }, s.masked)], ["Updated", (s) => age(s.updated_at)]], rows,
        admin ? (s) => h("button", { type: "button", class: "small ghost-danger", onclick: () => destroy(`secret ${s.name}`, () => del(`/secrets/${encodeURIComponent(s.name)}`), secrets) }, "Delete") : null),
      admin ? inlineForm("new-secret", [{ name: "name", label: "Name", required: true }, { name: "value", label: "Value", type: "password", required: true },
        { name: "kind", label: "Kind", options: ["provider_key", "git_credential", "other"], value: "other" }], "Save secret",
        async (v) => { await put(`/secrets/${encodeURIComponent(v.name)}`, { value: v.value, kind: v.kind }); flash(`Secret ${v.name} saved`, "ok"); secrets(); }) : null);
  }

  async function users() {
    const rows = await tryList("/users");
    if (rows === null) return mount(cards.users, forbidden());
    mount(cards.users,
      tableOf([["Name", (u) => u.name], ["E-mail", (u) => u.email], ["Role", (u) => u.role], ["State", (u) => (u.disabled ? "disabled" : "active")]], rows),
      admin ? inlineForm("new-user", [{ name: "name", label: "Name", required: true }, { name: "email", label: "E-mail", type: "email", required: true },
        { name: "password", label: "Password", type: "password", required: true }, { name: "role", label: "Role", options: ["viewer", "member", "admin"], value: "member" }], "Add user",
        async (v) => { await post("/users", v); flash(`User ${v.email} added`, "ok"); users(); }) : null);
  }

  async function notifications() {
    const [subs, outbox] = await Promise.all([get("/subscriptions"), get("/notifications", { limit: 20 })]);
    const canSubscribe = ctx.me.role !== "viewer";
    mount(cards.notifications,
      h("p", { class: "muted" }, "Webhooks (signed with a secret), Slack incoming webhooks and email, when a run needs you or ends. See docs/notifications.md."),
      tableOf([["Scope", (s) => s.scope + (s.project_id ? ` ${s.project_id}` : "")], ["Channel", (s) => s.channel], ["Target", (s) => h("code", {}, s.target)],
        ["Kinds", (s) => (s.kinds.length ? s.kinds.join(", ") : "all")], ["Signed by", (s) => s.secret_name || ""], ["Created", (s) => age(s.created_at)]], items(subs),
        canSubscribe ? (s) => h("button", { type: "button", class: "small ghost-danger", onclick: () => destroy(`subscription ${s.id}`, () => del(`/subscriptions/${encodeURIComponent(s.id)}`), notifications) }, "Delete") : null),
      canSubscribe ? inlineForm("new-subscription", [
        { name: "scope", label: "Scope", options: admin ? ["user", "org", "project"] : ["user"], value: "user" },
        { name: "channel", label: "Channel", options: ["email", "slack", "webhook"], value: "email" },
        { name: "target", label: "URL or e-mail (yours by default)" },
        { name: "project_id", label: "Project id (project scope)" },
        { name: "secret_name", label: "Signing secret (webhooks)" },
        { name: "kinds", label: "Kinds, comma-separated (empty: all)" }], "Subscribe",
        async (v) => {
          const body = { scope: v.scope, channel: v.channel, kinds: v.kinds ? v.kinds.split(",").map((k) => k.trim()).filter(Boolean) : [] };
          for (const name of ["target", "project_id", "secret_name"]) if (v[name]) body[name] = v[name];
          await post("/subscriptions", body);
          flash(`Subscribed ${body.channel}`, "ok");
          notifications();
        }) : null,
      h("h3", {}, "Recent notifications"),
      tableOf([["Kind", (n) => n.kind], ["Channel", (n) => n.channel], ["Run", (n) => (n.run_id ? h("a", { href: `/runs/${encodeURIComponent(n.run_id)}` }, n.run_id) : "")],
        ["State", (n) => status(n.status)], ["Tries", (n) => String(n.attempts)], ["Last error", (n) => n.last_error || ""], ["Created", (n) => age(n.created_at)]], items(outbox)));
  }

  await Promise.all([projects(), keys(), secrets(), users(), notifications()]);
}
