// The sign-in page: a lapsed session is refreshed silently; otherwise e-mail and password.

import { api, refresh } from "./api.js";

const next = (() => {
  const target = new URLSearchParams(location.search).get("next") || "/";
  // Only paths on this site: never an open redirect.
  return target.startsWith("/") && !target.startsWith("//") ? target : "/";
})();

const form = document.getElementById("login");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  try {
    await api("POST", "/auth/login", {
      body: { email: form.email.value.trim(), password: form.password.value },
    });
    location.assign(next);
  } catch (exc) {
    error.textContent = exc.status === 401 || exc.status === 400 || exc.status === 422
      ? "That e-mail and password do not match an account."
      : `Could not sign in: ${exc.message}`;
    error.hidden = false;
    submit.disabled = false;
    form.password.select();
  }
});

// A valid session never gets here (the server sends it straight on). A lapsed one that can be refreshed
// leaves its CSRF cookie (same lifetime as the refresh cookie): only then is a refresh tried, so a visitor
// without a session causes no request and no 401 in the console.
const lapsed = document.cookie.split("; ").some((c) => c.startsWith("qd_csrf="));
if (lapsed && (await refresh())) location.assign(next);
