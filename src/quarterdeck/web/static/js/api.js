// The REST API from the browser: cookie session, CSRF header on unsafe calls, one error type.

export const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function url(path, query) {
  const u = new URL(BASE + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") u.searchParams.set(key, value);
  }
  return u.pathname + u.search;
}

export function loginUrl() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

let refreshing = null;

/** Trade the refresh cookie for a new session; true when it worked. One refresh at a time. */
export function refresh() {
  refreshing ??= fetch(url("/auth/refresh"), {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": cookie("qd_csrf") || "" },
  })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => (refreshing = null));
  return refreshing;
}

async function send(method, path, { query, body, form } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("qd_csrf") || "";
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  try {
    return await fetch(url(path, query), { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    // Down, restarting or offline: one error type for every caller (fetch rejects with a bare TypeError).
    throw new ApiError(0, "unreachable", "Cannot reach the server");
  }
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error || {};
    throw new ApiError(response.status, error.code || "http_" + response.status, error.message || text || response.statusText, error.details);
  }
  return data;
}

/** Call the API; a lapsed session is refreshed once, and a dead one goes to the login page. */
export async function api(method, path, options = {}) {
  let response = await send(method, path, options);
  if (response.status === 401 && !path.startsWith("/auth/")) {
    if (await refresh()) response = await send(method, path, options);
    if (response.status === 401) {
      location.assign(loginUrl());
      throw new ApiError(401, "unauthenticated", "Your session ended; sign in again.");
    }
  }
  return parse(response);
}

export const get = (path, query) => api("GET", path, { query });

/** GET, with the server's clock at the time of the answer (its Date header, in ms). */
export async function getStamped(path, query) {
  let response = await send("GET", path, { query });
  if (response.status === 401) return { data: await get(path, query), at: Date.now() };
  const at = Date.parse(response.headers.get("Date") || "") || Date.now();
  return { data: await parse(response), at };
}
export const post = (path, body) => api("POST", path, { body });
export const put = (path, body) => api("PUT", path, { body });
export const patch = (path, body) => api("PATCH", path, { body });
export const del = (path) => api("DELETE", path);

/** Every item of a paged list (``{items, next_cursor}``), up to ``max``. */
export async function all(path, query = {}, max = 2000) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...query, cursor, limit: query.limit || 200 });
    items.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/** The list inside a response that may be a page (``{items}``) or a bare array. */
export function items(data) {
  if (Array.isArray(data)) return data;
  return data?.items || [];
}
