// The run's DAG as SVG: a layered layout of our own (levels from dependencies, dummy nodes on long edges,
// barycentric ordering, straightened coordinates), folded into bands when much wider than tall, fitted to
// the view with titles that stay readable at any zoom, pan and zoom, the critical path highlighted, and
// running tasks with a spinner and their elapsed time.

import { duration, h, s } from "./dom.js";

export const NODE_W = 188;
export const NODE_H = 44;
const GAP_X = 64;
const ROW = NODE_H + 14;
const DUMMY = 16;
const SWEEPS = 12;
const BAND_GAP = 28;
// the smallest on-screen size of a node's title, in CSS pixels: zoomed out further, titles grow to stay readable
const MIN_FONT_PX = 10;

/**
 * Place every task. ``tasks``: [{id, depends_on}] in plan order.
 * Returns {pos: Map id → {x, y}, edges: [{from, to, points: [[x, y], …]}], width, height}.
 */
export function layout(tasks) {
  const ids = new Set(tasks.map((t) => t.id));
  const deps = new Map(tasks.map((t) => [t.id, (t.depends_on || []).filter((d) => ids.has(d))]));
  const level = new Map();
  // Longest path from a root; the plan is acyclic (the API validated it), but stay safe against a cycle.
  const visiting = new Set();
  const depth = (id) => {
    if (level.has(id)) return level.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const d = deps.get(id).reduce((m, dep) => Math.max(m, depth(dep) + 1), 0);
    visiting.delete(id);
    level.set(id, d);
    return d;
  };
  tasks.forEach((t) => depth(t.id));

  // Vertices: tasks and dummies (one per level crossed by a long edge); layers hold them in order.
  const layers = [];
  const vertex = new Map();
  const add = (key, lvl, dummy) => {
    const v = { key, level: lvl, dummy, up: [], down: [], order: 0, y: 0 };
    vertex.set(key, v);
    (layers[lvl] ||= []).push(v);
    return v;
  };
  tasks.forEach((t) => add(t.id, level.get(t.id), false));
  const chains = [];
  for (const t of tasks) {
    for (const dep of deps.get(t.id)) {
      const chain = [vertex.get(dep)];
      for (let l = level.get(dep) + 1; l < level.get(t.id); l++) chain.push(add(`${dep}→${t.id}#${l}`, l, true));
      chain.push(vertex.get(t.id));
      for (let i = 0; i + 1 < chain.length; i++) {
        chain[i].down.push(chain[i + 1]);
        chain[i + 1].up.push(chain[i]);
      }
      chains.push({ from: dep, to: t.id, chain });
    }
  }
  for (const layer of layers) layer.forEach((v, i) => (v.order = i));

  // Barycentric ordering: alternate sweeps down and up, keep the order with the fewest crossings.
  const bary = (v, side) => (v[side].length ? v[side].reduce((a, u) => a + u.order, 0) / v[side].length : v.order);
  const crossings = () => {
    let total = 0;
    for (let l = 0; l + 1 < layers.length; l++) {
      const pairs = [];
      for (const v of layers[l] || []) for (const u of v.down) pairs.push([v.order, u.order]);
      pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (let i = 0; i < pairs.length && pairs.length < 4000; i++)
        for (let j = i + 1; j < pairs.length; j++) if (pairs[j][1] < pairs[i][1] && pairs[j][0] > pairs[i][0]) total++;
    }
    return total;
  };
  let best = layers.map((layer) => [...layer]);
  let bestCrossings = crossings();
  for (let sweep = 0; sweep < SWEEPS && bestCrossings > 0; sweep++) {
    const down = sweep % 2 === 0;
    const range = down ? layers.map((_, i) => i).slice(1) : layers.map((_, i) => i).reverse().slice(1);
    for (const l of range) {
      const layer = layers[l] || [];
      const keyed = layer.map((v) => [bary(v, down ? "up" : "down"), v.order, v]);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      layers[l] = keyed.map((k) => k[2]);
      layers[l].forEach((v, i) => (v.order = i));
    }
    const c = crossings();
    if (c < bestCrossings) {
      bestCrossings = c;
      best = layers.map((layer) => [...layer]);
    }
  }
  best.forEach((layer, l) => {
    layers[l] = layer;
    layer.forEach((v, i) => (v.order = i));
  });

  // Coordinates: stack each layer, then pull vertices toward their neighbours while keeping order and gaps.
  const height = (v) => (v.dummy ? DUMMY : ROW);
  for (const layer of layers) {
    let y = 0;
    for (const v of layer || []) {
      v.y = y + height(v) / 2;
      y += height(v);
    }
  }
  for (let pass = 0; pass < 8; pass++) {
    for (const layer of layers) {
      if (!layer?.length) continue;
      const want = layer.map((v) => {
        const near = [...v.up, ...v.down];
        return near.length ? near.reduce((a, u) => a + u.y, 0) / near.length : v.y;
      });
      const placed = [];
      layer.forEach((v, i) => {
        const min = i ? placed[i - 1] + (height(layer[i - 1]) + height(v)) / 2 : -Infinity;
        placed.push(Math.max(want[i], min));
      });
      // Shift back so the layer sits, on average, where its vertices want to be.
      const drift = placed.reduce((a, y, i) => a + y - want[i], 0) / layer.length;
      layer.forEach((v, i) => (v.y = placed[i] - drift));
    }
  }
  let minY = Infinity;
  let maxY = -Infinity;
  for (const v of vertex.values()) {
    minY = Math.min(minY, v.y - height(v) / 2);
    maxY = Math.max(maxY, v.y + height(v) / 2);
  }
  const margin = 16;
  const x = (l) => margin + l * (NODE_W + GAP_X);
  const pos = new Map();
  for (const t of tasks) {
    const v = vertex.get(t.id);
    pos.set(t.id, { x: x(v.level), y: v.y - minY + margin - NODE_H / 2 });
  }
  const edges = chains.map(({ from, to, chain }) => ({
    from,
    to,
    points: chain.map((v, i) => {
      const cy = v.y - minY + margin;
      if (i === 0) return [x(v.level) + NODE_W, cy];
      if (i === chain.length - 1) return [x(v.level), cy];
      return [x(v.level) + NODE_W / 2, cy];
    }),
  }));
  return {
    pos,
    edges,
    width: margin * 2 + Math.max(1, layers.length) * (NODE_W + GAP_X) - GAP_X,
    height: (Number.isFinite(maxY) ? maxY - minY : 0) + margin * 2,
  };
}

/**
 * A wide graph folded into ``bands`` rows of levels (a long chain reads like lines of text): each band
 * holds consecutive levels and sits below the previous one. Returns a layout of the same shape.
 */
export function fold(placed, bands) {
  if (bands <= 1) return placed;
  const step = NODE_W + GAP_X;
  const levels = Math.max(1, Math.round((placed.width - 32 + GAP_X) / step));
  const per = Math.ceil(levels / bands);
  const bandH = placed.height + BAND_GAP;
  const move = ([x, y]) => {
    const level = Math.min(levels - 1, Math.max(0, Math.floor((x - 16 + GAP_X / 2) / step)));
    const band = Math.floor(level / per);
    return [x - band * per * step, y + band * bandH];
  };
  const pos = new Map();
  for (const [id, p] of placed.pos) {
    const [x, y] = move([p.x + NODE_W / 2, p.y]);
    pos.set(id, { x: x - NODE_W / 2, y });
  }
  const edges = placed.edges.map((e) => ({ ...e, points: e.points.map(move) }));
  return {
    pos,
    edges,
    width: 32 + Math.min(per, levels) * step - GAP_X,
    height: bands * bandH - BAND_GAP,
  };
}

function curve(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const mx = (x1 - x0) / 2;
    d += ` C${x0 + mx},${y0} ${x1 - mx},${y1} ${x1},${y1}`;
  }
  return d;
}

function elapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The DAG widget: ``new Dag(container, {onSelect})``, then ``show(tasks, criticalPath)`` as often as needed. */
export class Dag {
  constructor(container, { onSelect } = {}) {
    this.onSelect = onSelect || (() => {});
    this.view = h("div", { class: "dag-view", tabindex: "-1" });
    container.append(this.view);
    this.svg = s("svg", { role: "group", "aria-label": "Task graph" });
    this.root = s("g");
    this.svg.append(this.root);
    this.view.append(this.svg);
    this.k = 1;
    this.tx = 0;
    this.ty = 0;
    this.signature = "";
    this.nodes = new Map();
    this.selected = null;
    this.bindPanZoom();
  }

  /** Draw the tasks; only a change in the set of tasks or edges lays the graph out again. */
  show(tasks, criticalPath = []) {
    const signature = tasks.map((t) => `${t.id}<${(t.depends_on || []).join(",")}`).join(";") + "|" + criticalPath.join(",");
    if (signature !== this.signature) {
      this.signature = signature;
      this.draw(tasks, criticalPath);
    }
    for (const t of tasks) {
      const node = this.nodes.get(t.id);
      node?.setAttribute("data-status", t.status);
      node?.setAttribute("aria-label", `${t.title || t.id} (${t.status})`);
    }
    this.tasks = new Map(tasks.map((t) => [t.id, t]));
    this.tick();
    clearInterval(this.ticking);
    if (tasks.some((t) => t.status === "running")) this.ticking = setInterval(() => this.tick(), 1000);
  }

  draw(tasks, criticalPath) {
    const first = this.nodes.size === 0;
    const plain = layout(tasks);
    const { pos, edges, width, height } = fold(plain, this.bandsFor(plain));
    this.width = width;
    this.height = height;
    const critical = new Set(criticalPath);
    const criticalEdges = new Set(criticalPath.slice(1).map((id, i) => `${criticalPath[i]}>${id}`));
    const edgeLayer = s("g", { class: "edges" });
    const nodeLayer = s("g", { class: "nodes" });
    // Critical edges last, so they draw over the others.
    const sorted = [...edges].sort((a, b) => criticalEdges.has(`${a.from}>${a.to}`) - criticalEdges.has(`${b.from}>${b.to}`));
    for (const e of sorted) {
      edgeLayer.append(s("path", { class: ["dag-edge", criticalEdges.has(`${e.from}>${e.to}`) && "critical"], d: curve(e.points) }));
    }
    this.nodes = new Map();
    this.tasks = new Map(tasks.map((t) => [t.id, t]));
    for (const t of tasks) {
      const p = pos.get(t.id);
      const node = s(
        "g",
        {
          class: ["dag-node", critical.has(t.id) && "critical"],
          transform: `translate(${p.x},${p.y})`,
          tabindex: "0",
          role: "button",
          "aria-label": `${t.title || t.id} (${t.status})`,
          dataset: { task: t.id, status: t.status },
        },
        s("title", {}, `${t.title || t.id}\n${t.id} · ${t.status}${t.estimate_s == null ? "" : ` · estimate ${duration(t.estimate_s)}`}`),
        s("rect", { class: "box", width: NODE_W, height: NODE_H }),
        s("rect", { class: "bar", width: 6, height: NODE_H, rx: 2 }),
        s("text", { class: "label", x: 14, y: 18 }, t.title || t.id),
        s("text", { class: "id", x: 14, y: 34 }, clip(t.id, 30)),
        // Shown while running: a spinner and the time since it started.
        s("g", { class: "spin", transform: `translate(${NODE_W - 14},14)` }, s("circle", { r: 6 })),
        s("text", { class: "elapsed", x: NODE_W - 8, y: 38, "text-anchor": "end" }, ""),
      );
      node.addEventListener("click", () => this.select(t.id));
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.select(t.id);
        }
      });
      this.nodes.set(t.id, node);
      nodeLayer.append(node);
    }
    this.root.replaceChildren(edgeLayer, nodeLayer);
    this.labelled = null;
    if (this.selected) this.nodes.get(this.selected)?.classList.add("selected");
    if (first) this.fit();
    else this.apply();
  }

  /** How many bands make the graph largest in the view: one, unless it is much wider than tall. */
  bandsFor(plain) {
    const w = this.view.clientWidth || 800;
    const maxH = this.maxHeight();
    let best = 1;
    let bestK = 0;
    for (let bands = 1; bands <= 24; bands++) {
      const levels = Math.round((plain.width - 32 + GAP_X) / (NODE_W + GAP_X));
      if (bands > 1 && bands > levels / 2) break;
      const folded = fold(plain, bands);
      const k = Math.min(1, w / folded.width, maxH / folded.height);
      if (k > bestK * 1.05) {
        best = bands;
        bestK = k;
      }
    }
    return best;
  }

  /** The tallest the graph may be: most of the window, so the page around it stays in reach. */
  maxHeight() {
    return Math.max(180, Math.round((window.innerHeight || 800) * 0.62));
  }

  /** Running nodes: the time since they started, refreshed each second while any runs. */
  tick() {
    const now = Date.now();
    for (const [id, node] of this.nodes) {
      const t = this.tasks?.get(id);
      const label = node.querySelector("text.elapsed");
      if (!label) continue;
      label.textContent = t && t.status === "running" && t.started_at ? elapsed((now - Date.parse(t.started_at)) / 1000) : "";
    }
  }

  select(id) {
    this.nodes.get(this.selected)?.classList.remove("selected");
    this.selected = id;
    this.nodes.get(id)?.classList.add("selected");
    this.onSelect(id);
  }

  /** Fit the whole graph in the view (the view's height follows it, up to most of the window). */
  fit() {
    const w = this.view.clientWidth || 800;
    const k = Math.min(1, w / this.width, this.maxHeight() / this.height);
    const hgt = Math.max(180, Math.ceil(this.height * k + 24));
    this.view.style.height = `${hgt}px`;
    this.k = k;
    this.tx = Math.max(0, (w - this.width * k) / 2);
    this.ty = Math.max(0, (hgt - this.height * k) / 2);
    this.apply();
  }

  zoom(factor, cx, cy) {
    const w = this.view.clientWidth;
    const hgt = this.view.clientHeight;
    cx ??= w / 2;
    cy ??= hgt / 2;
    const k = Math.min(2.5, Math.max(0.15, this.k * factor));
    this.tx = cx - ((cx - this.tx) * k) / this.k;
    this.ty = cy - ((cy - this.ty) * k) / this.k;
    this.k = k;
    this.apply();
  }

  apply() {
    this.svg.setAttribute("width", String(this.view.clientWidth || 800));
    this.svg.setAttribute("height", String(this.view.clientHeight || 460));
    this.root.setAttribute("transform", `translate(${this.tx},${this.ty}) scale(${this.k})`);
    this.label();
  }

  /**
   * Keep titles readable at any zoom: below the scale where 12 px text would shrink under MIN_FONT_PX, the
   * title grows (in graph units) and loses the id line, and is clipped to what fits in the node.
   */
  label() {
    const k = this.k;
    const compact = 12 * k < MIN_FONT_PX;
    const size = compact ? Math.min(NODE_H - 8, MIN_FONT_PX / k) : 12;
    if (this.labelled === size) return;
    this.labelled = size;
    this.root.classList.toggle("compact", compact);
    const chars = Math.max(4, Math.floor((NODE_W - 22) / (size * 0.56)));
    for (const [id, node] of this.nodes) {
      const text = node.querySelector("text.label");
      const t = this.tasks?.get(id);
      text.style.fontSize = `${size}px`;
      text.setAttribute("y", compact ? String(NODE_H / 2 + size * 0.35) : "18");
      text.textContent = clip((t && (t.title || t.id)) || id, chars);
    }
  }

  bindPanZoom() {
    let drag = null;
    this.view.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || event.target.closest(".dag-node")) return;
      drag = { x: event.clientX, y: event.clientY, tx: this.tx, ty: this.ty };
      this.view.setPointerCapture(event.pointerId);
      this.view.classList.add("dragging");
    });
    this.view.addEventListener("pointermove", (event) => {
      if (!drag) return;
      this.tx = drag.tx + event.clientX - drag.x;
      this.ty = drag.ty + event.clientY - drag.y;
      this.apply();
    });
    const end = () => {
      drag = null;
      this.view.classList.remove("dragging");
    };
    this.view.addEventListener("pointerup", end);
    this.view.addEventListener("pointercancel", end);
    this.view.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const box = this.view.getBoundingClientRect();
        if (event.ctrlKey || event.metaKey) {
          this.zoom(Math.exp(-event.deltaY / 300), event.clientX - box.left, event.clientY - box.top);
        } else {
          this.tx -= event.shiftKey ? event.deltaY : event.deltaX;
          this.ty -= event.shiftKey ? 0 : event.deltaY;
          this.apply();
        }
      },
      { passive: false },
    );
    this.view.addEventListener("keydown", (event) => {
      const step = 60;
      const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (event.key in moves && !event.target.closest(".dag-node")) {
        event.preventDefault();
        this.tx += moves[event.key][0];
        this.ty += moves[event.key][1];
        this.apply();
      } else if (event.key === "+" || event.key === "=") this.zoom(1.2);
      else if (event.key === "-") this.zoom(1 / 1.2);
    });
    new ResizeObserver(() => this.apply()).observe(this.view);
  }

  /** Zoom buttons for the card's header. */
  controls() {
    return h(
      "div",
      { class: "zoom" },
      h("button", { type: "button", class: "secondary small", "aria-label": "Zoom in", onclick: () => this.zoom(1.25) }, "+"),
      h("button", { type: "button", class: "secondary small", "aria-label": "Zoom out", onclick: () => this.zoom(0.8) }, "−"),
      h("button", { type: "button", class: "secondary small", onclick: () => this.fit() }, "Fit"),
    );
  }
}
