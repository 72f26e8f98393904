// Inline SVG charts for the dashboard: no libraries, no network. Every label is set with
// textContent, so nothing the API returns is ever parsed as markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";

  function element(parent, name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function reset(svg) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const width = Math.max(svg.clientWidth || 600, 320);
    const height = svg.clientHeight || 220;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    return { width, height };
  }

  function empty(svg, size, message) {
    element(svg, "text", { x: size.width / 2, y: size.height / 2, "text-anchor": "middle", class: "empty" }, message);
  }

  function shortNumber(value) {
    if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (value >= 1e4) return (value / 1e3).toFixed(0) + "k";
    return String(value);
  }

  function clockLabel(ms, spanSeconds) {
    const date = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
    return spanSeconds > 2 * 86400 ? `${date.getMonth() + 1}/${date.getDate()} ${time}` : time;
  }

  // Findings per bucket as bars, anomalies as narrower bars beside them.
  function timeline(svg, buckets, range) {
    const size = reset(svg);
    const margin = { left: 44, right: 12, top: 10, bottom: 24 };
    const plotWidth = size.width - margin.left - margin.right;
    const plotHeight = size.height - margin.top - margin.bottom;
    const count = Math.max(1, Math.ceil((range.untilMs - range.sinceMs) / (range.bucketSeconds * 1000)));
    const slot = plotWidth / count;
    const top = Math.max(1, ...buckets.map((b) => Math.max(b.findings, b.anomalies)));
    element(svg, "line", { x1: margin.left, y1: margin.top + plotHeight, x2: size.width - margin.right, y2: margin.top + plotHeight, class: "axis" });
    element(svg, "line", { x1: margin.left, y1: margin.top, x2: margin.left, y2: margin.top + plotHeight, class: "axis" });
    element(svg, "text", { x: margin.left - 6, y: margin.top + 10, "text-anchor": "end" }, shortNumber(top));
    element(svg, "text", { x: margin.left - 6, y: margin.top + plotHeight, "text-anchor": "end" }, "0");
    const spanSeconds = (range.untilMs - range.sinceMs) / 1000;
    for (let tick = 0; tick <= 4; tick += 1) {
      const ms = range.sinceMs + ((range.untilMs - range.sinceMs) * tick) / 4;
      const x = margin.left + (plotWidth * tick) / 4;
      element(svg, "text", { x, y: size.height - 6, "text-anchor": tick === 0 ? "start" : tick === 4 ? "end" : "middle" }, clockLabel(ms, spanSeconds));
    }
    const group = element(svg, "g", { class: "bars" });
    for (const bucket of buckets) {
      const index = Math.floor((bucket.start_ms - range.sinceMs) / (range.bucketSeconds * 1000));
      if (index < 0 || index >= count) continue;
      const x = margin.left + index * slot;
      const barWidth = Math.max(1, slot * 0.6);
      const findingsHeight = (bucket.findings / top) * plotHeight;
      const anomaliesHeight = (bucket.anomalies / top) * plotHeight;
      const bar = element(group, "rect", {
        x: x + slot * 0.1,
        y: margin.top + plotHeight - findingsHeight,
        width: barWidth,
        height: findingsHeight,
        class: "bar-findings",
        "data-start": bucket.start,
        "data-findings": bucket.findings,
        "data-anomalies": bucket.anomalies,
      });
      element(bar, "title", {}, `${bucket.start}: ${bucket.findings} findings, ${bucket.anomalies} anomalies`);
      if (bucket.anomalies > 0) {
        element(group, "rect", {
          x: x + slot * 0.1 + barWidth,
          y: margin.top + plotHeight - Math.max(2, anomaliesHeight),
          width: Math.max(1, slot * 0.25),
          height: Math.max(2, anomaliesHeight),
          class: "bar-anomalies",
        });
      }
    }
    if (!buckets.length) empty(svg, size, "no events in this range");
  }

  // Horizontal bars, one per entry: label, bar, value.
  function bars(svg, entries, valueOf, labelOf) {
    const size = reset(svg);
    const shown = entries.slice(0, 8);
    if (!shown.length) return empty(svg, size, "nothing found in this range");
    const labelWidth = 130;
    const rowHeight = Math.min(26, (size.height - 8) / shown.length);
    const top = Math.max(1, ...shown.map(valueOf));
    shown.forEach((entry, index) => {
      const y = 4 + index * rowHeight;
      const value = valueOf(entry);
      const width = ((size.width - labelWidth - 60) * value) / top;
      element(svg, "text", { x: labelWidth - 8, y: y + rowHeight * 0.65, "text-anchor": "end", class: "label" }, labelOf(entry));
      const bar = element(svg, "rect", { x: labelWidth, y: y + 3, width: Math.max(1, width), height: rowHeight - 6, class: "bar-findings", "data-key": labelOf(entry), "data-value": value });
      element(bar, "title", {}, `${labelOf(entry)}: ${value}`);
      element(svg, "text", { x: labelWidth + width + 6, y: y + rowHeight * 0.65 }, shortNumber(value));
    });
  }

  // Sources on the left, destinations on the right, one curve per (source, destination,
  // detector) with its width by volume and the detector written along it.
  function flowMap(svg, flows) {
    const size = reset(svg);
    if (!flows.length) return empty(svg, size, "no sensitive data flows in this range");
    const sources = [...new Set(flows.map((f) => f.source))];
    const destinations = [...new Set(flows.map((f) => f.destination))];
    const boxWidth = 150;
    const place = (names, x) => {
      const gap = size.height / (names.length + 1);
      return new Map(names.map((name, index) => [name, { x, y: gap * (index + 1) }]));
    };
    const left = place(sources, 10);
    const right = place(destinations, size.width - boxWidth - 10);
    const volume = (f) => f.findings + f.anomalies;
    const top = Math.max(1, ...flows.map(volume));
    // Flows leaving (or reaching) one box fan out around its middle, labels more than lines.
    const fan = (key) => {
      const totals = new Map();
      for (const flow of flows) totals.set(key(flow), (totals.get(key(flow)) || 0) + 1);
      const seen = new Map();
      return flows.map((flow) => {
        const index = seen.get(key(flow)) || 0;
        seen.set(key(flow), index + 1);
        return index - (totals.get(key(flow)) - 1) / 2;
      });
    };
    const leaving = fan((flow) => flow.source);
    const arriving = fan((flow) => flow.destination);
    flows.forEach((flow, index) => {
      const from = left.get(flow.source);
      const to = right.get(flow.destination);
      const y1 = from.y + leaving[index] * 6;
      const y2 = to.y + arriving[index] * 6;
      const x1 = from.x + boxWidth;
      const x2 = to.x;
      const middle = (x1 + x2) / 2;
      const path = element(svg, "path", {
        d: `M${x1},${y1} C${middle},${y1} ${middle},${y2} ${x2},${y2}`,
        class: flow.findings > 0 ? "flow" : "flow anomaly",
        "stroke-width": 2 + (10 * volume(flow)) / top,
        "data-source": flow.source,
        "data-destination": flow.destination,
        "data-detector": flow.detector || "",
      });
      const what = flow.findings > 0 ? `${flow.findings} ${flow.detector || "findings"}` : `${flow.anomalies} ${flow.anomalies === 1 ? "anomaly" : "anomalies"}`;
      element(path, "title", {}, `${flow.source} → ${flow.destination}: ${what}`);
      // Beside the source box, stacked, before lines from different boxes meet.
      element(svg, "text", { x: x1 + 10, y: from.y + leaving[index] * 15 + 4, class: "label" }, what);
    });
    for (const [names, side] of [[sources, left], [destinations, right]]) {
      for (const name of names) {
        const spot = side.get(name);
        element(svg, "rect", { x: spot.x, y: spot.y - 13, width: boxWidth, height: 26, rx: 4, class: "node" });
        element(svg, "text", { x: spot.x + 8, y: spot.y + 4, class: "label" }, name.length > 22 ? name.slice(0, 21) + "…" : name);
      }
    }
  }

  window.MeshveilCharts = { timeline, bars, flowMap };
})();
