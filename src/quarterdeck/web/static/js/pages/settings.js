// Settings: projects, API keys and secrets (values masked, never shown again), and users for admins.

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
  const cards = { projects: h("div"), keys: h("div"), secrets: h("div"), users: h("div") };
  const fresh = h("div");
  mount(main,
    h("div", { class: "pagehead" }, h("div", { class: "title" }, h("h1", {}, "Settings"),
      h("div", { class: "sub" }, admin ? "Organisation " + ctx.me.org_id : `Organisation ${ctx.me.org_id} · only admins can change these`))),
    fresh,
    h("div", { class: "grid-even" },
      h("div", {}, section("Projects", cards.projects), section("API keys", cards.keys)),
      h("div", {}, section("Secrets", cards.secrets), section("Users", cards.users))));

  const tryList = async (path) => {
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

  await Promise.all([projects(), keys(), secrets(), users()]);
}
