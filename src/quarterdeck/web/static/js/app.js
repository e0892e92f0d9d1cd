// The dashboard shell: who is signed in, the navigation, the live indicator, then the page's module.

import { ApiError, get, loginUrl, post } from "./api.js";
import { flash, h, mount } from "./dom.js";

const ROUTES = [
  [/^\/$/, "runs", []],
  [/^\/runs\/([^/]+)$/, "run", ["runId"]],
  [/^\/runs\/([^/]+)\/tasks\/([^/]+)$/, "task", ["runId", "taskId"]],
  [/^\/queue$/, "queue", []],
  [/^\/costs$/, "costs", []],
  [/^\/analytics$/, "analytics", []],
  [/^\/audit$/, "audit", []],
  [/^\/approvals$/, "approvals", []],
  [/^\/settings$/, "settings", []],
];

const ROLE_RANK = { viewer: 0, member: 1, admin: 2 };

function route(pathname) {
  for (const [pattern, name, keys] of ROUTES) {
    const match = pattern.exec(pathname);
    if (match) return { name, params: Object.fromEntries(keys.map((k, i) => [k, decodeURIComponent(match[i + 1])])) };
  }
  return null;
}

function chrome(me, page) {
  document.getElementById("user").textContent = `${me.name || me.email} · ${me.role}`;
  document.body.dataset.role = me.role;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = link.dataset.nav === page || (page === "run" || page === "task" ? link.dataset.nav === "runs" : false);
    if (active) link.setAttribute("aria-current", "page");
  }
}

/** The top bar's own buttons work from the first moment, before anything has loaded. */
function bindTopBar() {
  const toggle = document.getElementById("navtoggle");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById("nav").classList.toggle("open", open);
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await post("/auth/logout");
    } finally {
      location.assign("/login");
    }
  });
}

async function approvalsBadge() {
  try {
    const pending = await get("/approvals", { status: "pending", limit: 100 });
    const n = (pending.items || pending || []).length;
    const badge = document.getElementById("approvals-count");
    badge.textContent = String(n);
    badge.hidden = n === 0;
  } catch {
    // the badge is a nicety: the approvals page says what went wrong
  }
}

async function start() {
  const main = document.getElementById("main");
  const found = route(location.pathname);
  // The user, the page's module and the page's data are fetched at once, not one after the other.
  const page = found ? import(`./pages/${found.name}.js`) : null;
  const data = page?.then((mod) => mod.prefetch?.(found.params)).catch(() => undefined);
  let me;
  try {
    me = await get("/me");
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) location.assign(loginUrl());
    mount(main, h("p", { class: "error" }, `Could not reach the API: ${exc.message}`));
    return;
  }
  me = me.user ? { ...me.user, ...me } : me;
  chrome(me, found?.name);
  const ctx = {
    me,
    params: found?.params || {},
    can: (role) => (ROLE_RANK[me.role] ?? -1) >= ROLE_RANK[role],
  };
  ctx.canSteer = ctx.can("member");
  ctx.isAdmin = ctx.can("admin");
  if (!found) {
    mount(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/" }, "Back to the runs")));
    return;
  }
  approvalsBadge();
  try {
    const mod = await page;
    ctx.prefetched = await data;
    await mod.render(main, ctx);
  } catch (exc) {
    console.error(exc);
    mount(main, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, exc.message));
    flash(exc.message, "error");
  }
}

bindTopBar();
start();
