// Chart of the buckets /api/series answers: per series a line of the bucket averages inside a band from the
// bucket minimum to its maximum, several series (this topic's metrics, other topics' ones) on one time axis,
// and live readings appended as points of their own. uPlot (vendored), redrawn at most once per frame.
import uPlot from "../../vendor/uplot-1.6.32/uPlot.esm.js";

export const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#ca8a04", "#4b5563"];
const MAX_X = 20000; // per chart: the oldest x values are dropped as live points arrive

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export class SeriesChart {
  constructor(root) {
    this.root = root;
    this.series = []; // [{key: "TOPIC:METRIC", label, points: Map(epoch seconds -> [min, avg, max])}]
    this.plot = null;
    this.window = null; // [since, until] in epoch seconds (until null: now), the x axis's extent
    new ResizeObserver(() => this.plot && this.plot.setSize(this.size())).observe(root);
    document.addEventListener("themechange", () => this.rebuild());
  }

  size() { return { width: Math.max(this.root.clientWidth, 280), height: 320 }; }

  // The buckets most worth asking for: about one per two pixels, within the API's 2 to 2,000.
  points() { return Math.min(2000, Math.max(100, Math.round(this.size().width / 2))); }

  // An answer of /api/series replaces what is drawn; `labels` maps "TOPIC:METRIC" to a legend name.
  load(answer, labels) {
    this.series = answer.series.map((s) => {
      const key = `${s.topic}:${s.metric}`;
      const points = new Map(s.points.map((p) => [Date.parse(p.t) / 1000, [p.min, p.avg, p.max]]));
      return { key, label: labels.get(key) || s.metric, points };
    });
    this.root.dataset.source = answer.source;
    this.root.dataset.width = String(answer.width);
    this.root.dataset.buckets = String(answer.series.reduce((n, s) => n + s.points.length, 0));
  }

  clear() { this.series = []; this.rebuild(); }

  // The range asked for is what the x axis shows, however few readings fall in it.
  setWindow(since, until) { this.window = [since.getTime() / 1000, until ? until.getTime() / 1000 : null]; }

  xRange(min, max) {
    if (!this.window) return [min, max];
    const [since, until] = this.window;
    return [since, until ?? Math.max(Date.now() / 1000, max ?? since)];
  }

  has(key) { return this.series.some((s) => s.key === key); }

  // A live reading of a drawn series: a point of its own (min = avg = max). False when not drawn.
  addLive(key, epochSeconds, value) {
    const numeric = typeof value === "boolean" ? Number(value) : value;
    const series = this.series.find((s) => s.key === key);
    if (!series || typeof numeric !== "number" || !Number.isFinite(numeric)) return false;
    series.points.set(epochSeconds, [numeric, numeric, numeric]);
    return true;
  }

  data() {
    const times = new Set();
    for (const s of this.series) for (const t of s.points.keys()) times.add(t);
    let xs = [...times].sort((a, b) => a - b);
    if (xs.length > MAX_X) xs = xs.slice(-MAX_X);
    const columns = [];
    for (const s of this.series) {
      for (const index of [1, 2, 0]) columns.push(xs.map((t) => (s.points.has(t) ? s.points.get(t)[index] : null)));
    }
    return [xs, ...columns]; // per series: average, maximum, minimum
  }

  rebuild() {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    if (!this.series.length) return;
    const aligned = this.data();
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--border"), width: 1 }, ticks: { stroke: cssVar("--border") } };
    const lines = [{}];
    const bands = [];
    this.series.forEach((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const edge = { stroke: color, width: 0, points: { show: false }, spanGaps: true };
      lines.push({ label: s.label, stroke: color, width: 2, spanGaps: true, points: { show: aligned[0].length < 200 } },
        { ...edge, label: `${s.label} max` }, { ...edge, label: `${s.label} min` });
      bands.push({ series: [3 * i + 2, 3 * i + 3], fill: `${color}2e` });
    });
    const options = {
      ...this.size(), scales: { x: { time: true, range: (u, min, max) => this.xRange(min, max) } }, axes: [axis, { ...axis, size: 60 }], series: lines, bands,
      legend: { show: false }, cursor: { drag: { x: true, y: false } },
    };
    this.plot = new uPlot(options, aligned, this.root);
    this.root.dataset.drawn = String(this.series.length);
  }

  refresh() {
    if (!this.plot || this.plot.series.length !== 3 * this.series.length + 1) this.rebuild();
    else this.plot.setData(this.data());
  }
}
