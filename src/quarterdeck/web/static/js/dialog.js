// Confirmation for destructive actions: the page's <dialog id="confirm">, never window.confirm.

import { h } from "./dom.js";

/**
 * Ask before doing something that cannot be undone; resolves to true (confirmed) or false.
 * With ``reason: true`` a text field is shown and the promise resolves to {reason} instead of true.
 */
export function confirmAction({ title, body, ok = "Confirm", danger = true, reason = false }) {
  const dialog = document.getElementById("confirm");
  const form = dialog.querySelector("form");
  dialog.querySelector("#confirm-title").textContent = title;
  const bodyEl = dialog.querySelector("#confirm-body");
  bodyEl.replaceChildren(body || "");
  let field = null;
  if (reason) {
    field = h("textarea", { id: "confirm-reason", rows: 3, placeholder: "Reason (optional)", "aria-label": "Reason" });
    bodyEl.append(h("label", { class: "reason" }, field));
  }
  const okButton = dialog.querySelector("#confirm-ok");
  okButton.textContent = ok;
  okButton.className = danger ? "danger" : "primary";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const confirmed = dialog.returnValue === "ok";
        resolve(confirmed && reason ? { reason: field.value.trim() || null } : confirmed);
      },
      { once: true },
    );
    form.reset?.();
    dialog.showModal();
    (reason ? field : dialog.querySelector("#confirm-cancel")).focus();
  });
}

/** A small modal asking for values (e.g. a budget to add); resolves to the values or null. */
export function promptFor({ title, fields, ok = "Save" }) {
  const dialog = h("dialog", { class: "confirm" });
  const inputs = fields.map((f) =>
    h("input", { id: `prompt-${f.name}`, name: f.name, type: f.type || "text", step: f.step, min: f.min,
      value: f.value ?? "", required: f.required, placeholder: f.placeholder || "" }),
  );
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", {}, title),
    fields.map((f, i) => [h("label", { for: `prompt-${f.name}` }, f.label), inputs[i]]),
    h("div", { class: "actions" },
      h("button", { type: "submit", value: "cancel", class: "secondary", formnovalidate: true }, "Cancel"),
      h("button", { type: "submit", value: "ok", class: "primary" }, ok)),
  );
  dialog.append(form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const values = Object.fromEntries(fields.map((f, i) => [f.name, inputs[i].value]));
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? values : null);
    });
    dialog.showModal();
    inputs[0]?.focus();
  });
}
