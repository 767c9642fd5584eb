// Time-series chart of several metrics on one time axis (uPlot, vendored), redrawn at most once per frame.
import uPlot from "../../vendor/uplot-1.6.32/uPlot.esm.js";

const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#ca8a04", "#4b5563"];
const MAX_POINTS = 20000; // per chart: older points are dropped as live ones arrive

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export class MetricChart {
  constructor(root) {
    this.root = root;
    this.points = new Map(); // metric -> Map(epoch seconds -> value)
    this.units = new Map();
    this.chosen = new Set();
    this.plot = null;
    new ResizeObserver(() => this.plot && this.plot.setSize(this.size())).observe(root);
    document.addEventListener("themechange", () => this.rebuild());
  }

  size() { return { width: Math.max(this.root.clientWidth, 280), height: 320 }; }

  clear() { this.points.clear(); }

  add(metric, epochSeconds, value, unit = "") {
    const numeric = typeof value === "boolean" ? Number(value) : value;
    if (typeof numeric !== "number" || !Number.isFinite(numeric)) return false;
    if (!this.points.has(metric)) this.points.set(metric, new Map());
    this.points.get(metric).set(epochSeconds, numeric);
    if (unit) this.units.set(metric, unit);
    return true;
  }

  metrics() { return [...this.points.keys()].sort(); }

  data() {
    const metrics = [...this.chosen].filter((m) => this.points.has(m));
    const times = new Set();
    for (const m of metrics) for (const t of this.points.get(m).keys()) times.add(t);
    let xs = [...times].sort((a, b) => a - b);
    if (xs.length > MAX_POINTS) xs = xs.slice(-MAX_POINTS);
    const columns = metrics.map((m) => { const p = this.points.get(m); return xs.map((t) => (p.has(t) ? p.get(t) : null)); });
    return { metrics, aligned: [xs, ...columns] };
  }

  rebuild() {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    const { metrics, aligned } = this.data();
    if (!metrics.length) return;
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--border"), width: 1 }, ticks: { stroke: cssVar("--border") } };
    const options = {
      ...this.size(),
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 60 }],
      cursor: { drag: { x: true, y: false } },
      series: [{}, ...metrics.map((m, i) => ({
        label: this.units.get(m) ? `${m} (${this.units.get(m)})` : m,
        stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true, points: { show: aligned[0].length < 200 },
      }))],
    };
    this.plot = new uPlot(options, aligned, this.root);
  }

  // Live points: new data into the existing plot, or a rebuild when the metric set changed.
  refresh() {
    const { metrics, aligned } = this.data();
    if (!this.plot || this.plot.series.length !== metrics.length + 1) this.rebuild();
    else this.plot.setData(aligned);
  }
}
