// The topic tree of a connection: topics grouped by level, live values and rates, is_processable toggles.
import { api } from "./api.js";
import { el, formatRate, formatValue, setText, toast } from "./ui.js";

const RENDER_LIMIT = 2000; // beyond this, ask the operator to filter: the DOM stays responsive

export class TopicTree {
  constructor(root, { isStaff }) {
    this.root = root;
    this.isStaff = isStaff;
    this.topics = new Map(); // id -> topic
    this.leaves = new Map(); // id -> cached cells
    this.latest = new Map(); // id -> Map(metric -> reading)
    this.failing = new Set(); // topic names with a recent parse error
    this.filter = "";
    this.onlyUnparsed = false;
  }

  add(topic) {
    const known = this.topics.get(topic.id) || {};
    this.topics.set(topic.id, {
      ...known, ...topic,
      parser: topic.parser ?? topic.parser_name ?? known.parser ?? "",
    });
  }

  unparsed(topic) { return !topic.is_processable; }

  visible() {
    const words = this.filter.toLowerCase().split(/\s+/).filter(Boolean);
    return [...this.topics.values()]
      .filter((t) => (!this.onlyUnparsed || this.unparsed(t)) && words.every((w) => t.topic.toLowerCase().includes(w)))
      .sort((a, b) => a.topic.localeCompare(b.topic));
  }

  render() {
    const shown = this.visible();
    const nested = { children: new Map(), topic: null };
    for (const topic of shown.slice(0, RENDER_LIMIT)) {
      let node = nested;
      for (const level of topic.topic.split("/")) {
        if (!node.children.has(level)) node.children.set(level, { children: new Map(), topic: null });
        node = node.children.get(level);
      }
      node.topic = topic;
    }
    const items = [...nested.children].map(([name, node]) => this.renderNode(name, node, 0));
    if (!shown.length) items.push(el("li", { class: "empty" }, this.topics.size ? "No topic matches." : "No topic seen yet. Topics appear here as soon as messages arrive."));
    if (shown.length > RENDER_LIMIT) items.push(el("li", { class: "muted" }, `${shown.length - RENDER_LIMIT} more topics: filter to see them.`));
    this.root.replaceChildren(...items);
    return shown.length;
  }

  renderNode(name, node, depth) {
    const children = [...node.children].map(([child, sub]) => this.renderNode(child, sub, depth + 1));
    const leaf = node.topic ? this.leaf(node.topic, name) : null;
    if (!children.length) return el("li", {}, leaf);
    const count = countTopics(node);
    const summary = el("summary", {}, el("span", { class: "mono" }, `${name}/`), " ", el("span", { class: "muted" }, `${count}`));
    return el("li", {}, leaf, el("details", { open: depth < 2 || this.filter ? true : null }, summary, el("ul", {}, children)));
  }

  leaf(topic, name) {
    const cells = this.leaves.get(topic.id) || this.buildLeaf(topic);
    setText(cells.name, name);
    cells.name.title = topic.topic;
    this.update(topic.id);
    return cells.row;
  }

  buildLeaf(topic) {
    const cells = {
      name: el("a", { class: "name mono", href: `/topics/${topic.id}/` }),
      value: el("span", { class: "value" }),
      rate: el("span", { class: "rate num muted" }),
      parser: el("span", { class: "parser" }),
      toggle: el("input", { type: "checkbox", disabled: !this.isStaff, "aria-label": `Parse ${topic.topic}` }),
    };
    cells.toggle.addEventListener("change", () => this.setProcessable(topic.id, cells.toggle.checked));
    cells.row = el("div", { class: "leaf" }, cells.name, cells.value, cells.rate, cells.parser,
      el("label", { class: "switch", title: "is_processable: parse this topic" }, cells.toggle));
    this.leaves.set(topic.id, cells);
    return cells;
  }

  update(id, rate = null) {
    const topic = this.topics.get(id);
    const cells = this.leaves.get(id);
    if (!topic || !cells) return;
    cells.row.classList.toggle("unparsed", this.unparsed(topic));
    const metrics = this.latest.get(id);
    const text = metrics && metrics.size
      ? [...metrics.values()].slice(0, 3).map((r) => `${r.metric} ${formatValue(r.value, r.unit)}`).join(" · ")
      : (topic.last_payload ?? topic.last_payload_sample ?? topic.payload_sample ?? "");
    setText(cells.value, text);
    cells.value.title = text;
    if (rate != null) setText(cells.rate, `${formatRate(rate)}/s`);
    cells.parser.replaceChildren(this.failing.has(topic.topic)
      ? el("span", { class: "tag bad" }, `${topic.parser || "parser"} failing`)
      : el("span", { class: topic.parser ? "tag ok" : "tag" }, topic.parser || "no parser"));
    if (cells.toggle.checked !== topic.is_processable) cells.toggle.checked = topic.is_processable;
  }

  reading(reading) {
    if (!this.latest.has(reading.topic_id)) this.latest.set(reading.topic_id, new Map());
    this.latest.get(reading.topic_id).set(reading.metric, reading);
    this.failing.delete(reading.topic);
  }

  async setProcessable(id, value) {
    const topic = this.topics.get(id);
    try {
      const saved = await api(`/api/topics/${id}`, { method: "PATCH", body: { is_processable: value } });
      this.add(saved && saved.id ? saved : { ...topic, is_processable: value });
      toast(`${topic.topic}: ${value ? "parsed" : "not parsed"} from now on`);
    } catch (error) {
      toast(`Could not change ${topic.topic}: ${error.message}`, "bad");
    }
    this.update(id);
  }
}

function countTopics(node) {
  let count = node.topic ? 1 : 0;
  for (const child of node.children.values()) count += countTopics(child);
  return count;
}
