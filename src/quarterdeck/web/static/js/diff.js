// A unified diff as tables, one per file, each line highlighted in its file's language (vendored highlight.js).

import { h } from "./dom.js";

const EXTENSIONS = {
  py: "python", pyi: "python", js: "javascript", mjs: "javascript", cjs: "javascript", jsx: "javascript",
  ts: "typescript", tsx: "typescript", json: "json", yml: "yaml", yaml: "yaml", md: "markdown",
  sh: "bash", bash: "bash", go: "go", rs: "rust", css: "css", html: "xml", xml: "xml", svg: "xml",
  sql: "sql", toml: "ini", ini: "ini", cfg: "ini", java: "java", c: "c", h: "c", cc: "cpp", cpp: "cpp",
  hpp: "cpp", mk: "makefile",
};
const NAMES = { Makefile: "makefile", Dockerfile: "dockerfile" };
const BIG = 6000; // lines: past this, no highlighting (a page must stay fast)

let hljs = null;
const loaded = new Map();

async function grammar(path) {
  const base = path.split("/").pop();
  const lang = NAMES[base] || EXTENSIONS[base.split(".").pop()?.toLowerCase()];
  if (!lang) return null;
  try {
    hljs ??= (await import("/static/vendor/highlight/core.min.js")).default;
    if (!loaded.has(lang)) {
      loaded.set(lang, import(`/static/vendor/highlight/languages/${lang}.min.js`).then((m) => hljs.registerLanguage(lang, m.default)));
    }
    await loaded.get(lang);
    return lang;
  } catch {
    return null;
  }
}

/** Files of a unified diff: [{path, oldPath, lines: [{kind: add|del|ctx|hunk|meta, text, a, b}]}]. */
export function parse(text) {
  const files = [];
  let file = null;
  let a = 0;
  let b = 0;
  for (const line of (text || "").split("\n")) {
    if (line.startsWith("diff --git ")) {
      const m = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
      file = { path: m ? m[2] : line.slice(11), oldPath: m ? m[1] : null, lines: [], add: 0, del: 0, binary: false };
      files.push(file);
      continue;
    }
    if (!file) {
      if (!line.trim()) continue;
      file = { path: "(diff)", lines: [], add: 0, del: 0 };
      files.push(file);
    }
    const hunk = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/.exec(line);
    if (hunk) {
      a = Number(hunk[1]);
      b = Number(hunk[2]);
      file.lines.push({ kind: "hunk", text: line });
    } else if (line.startsWith("+++ ") || line.startsWith("--- ")) {
      if (line.startsWith("+++ b/")) file.path = line.slice(6);
    } else if (line.startsWith("Binary files")) {
      file.binary = true;
    } else if (/^(index |new file|deleted file|similarity|rename |old mode|new mode)/.test(line)) {
      file.lines.push({ kind: "meta", text: line });
    } else if (line.startsWith("+")) {
      file.lines.push({ kind: "add", text: line.slice(1), b: b++ });
      file.add++;
    } else if (line.startsWith("-")) {
      file.lines.push({ kind: "del", text: line.slice(1), a: a++ });
      file.del++;
    } else if (line.startsWith(" ")) {
      file.lines.push({ kind: "ctx", text: line.slice(1), a: a++, b: b++ });
    }
  }
  return files;
}

function codeCell(text, lang) {
  const td = h("td", { class: "code" });
  if (lang && text) {
    // highlight.js escapes its input; the HTML it returns holds only its own <span class="hljs-…">.
    td.innerHTML = hljs.highlight(text, { language: lang, ignoreIllegals: true }).value;
  } else td.textContent = text;
  return td;
}

/** Render ``{stat, diff}`` into ``container``. */
export async function renderDiff(container, { stat, diff }) {
  const files = parse(diff);
  if (!files.length) {
    container.replaceChildren(h("p", { class: "empty" }, "No changes on this task's branch."));
    return;
  }
  const total = files.reduce((n, f) => n + f.lines.length, 0);
  const nodes = [stat ? h("div", { class: "diffstat" }, stat) : null];
  for (const file of files) {
    const lang = total <= BIG ? await grammar(file.path) : null;
    const rows = file.lines
      .filter((l) => l.kind !== "meta")
      .map((l) =>
        l.kind === "hunk"
          ? h("tr", { class: "hunk" }, h("td", { colspan: 3 }, l.text))
          : h("tr", { class: l.kind }, h("td", { class: "ln" }, l.a ?? ""), h("td", { class: "ln" }, l.b ?? ""), codeCell(l.text, lang)),
      );
    nodes.push(
      h("details", { class: "diff-file", open: true },
        h("summary", {}, h("span", {}, file.path), h("span", { class: "add" }, `+${file.add}`), h("span", { class: "del" }, `−${file.del}`)),
        file.binary ? h("p", { class: "empty" }, "Binary file") : h("table", { class: "diff-table" },
          h("colgroup", {}, h("col", { class: "lncol" }), h("col", { class: "lncol" }), h("col")), h("tbody", {}, rows))),
    );
  }
  container.replaceChildren(...nodes.filter(Boolean));
}
