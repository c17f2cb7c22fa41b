// The Speed & cost page's charts, drawn with Observable Plot from the JSON the server puts in
// #chart-data (annotate/stats/charts.py). Numbers come raw (seconds, tokens/s, dollars) and are
// formatted here as people write them: 1.2k tok/s, $0.0017, 350 ms, never 1.2e+3. Each model
// has one colour on every chart (its key's colour from the server, the page's legend).
(function () {
  "use strict";
  const source = document.getElementById("chart-data");
  if (!source || !window.Plot) return;
  const data = JSON.parse(source.textContent);
  const colors = {
    type: "ordinal",
    domain: data.models.map((m) => m.key),
    range: data.models.map((m) => m.color),
  };

  // ---- Number formats (annotate/web/templatetags/annotate_tags.py's `human` in Python).
  function trim(text) {
    return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
  }
  function plain(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return trim((v / 1e6).toFixed(1)) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return trim((v / 1e3).toFixed(1)) + "k";
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return trim(v.toFixed(a >= 10 ? 1 : 2));
    if (a === 0) return "0";
    return trim(v.toFixed(Math.min(12, 1 - Math.floor(Math.log10(a)))));
  }
  // Cents from a cent up to $1,000 ($0.40, $12.50); fewer, two significant digits.
  const money = (a) => (a >= 0.01 && a < 1000 ? a.toFixed(2) : plain(a));
  const usd = (v) => (v < 0 ? "-$" : "$") + money(Math.abs(v));
  const seconds = (v) => (Math.abs(v) < 1 ? plain(v * 1000) + " ms" : plain(v) + " s");
  const tps = (v) => plain(v) + " tok/s";
  const count = (n) => n.toLocaleString("en-US");

  // A time axis in one unit, named in its title: ms when everything is under a second.
  function timeAxis(max) {
    return max < 1 ? { unit: "ms", factor: 1000 } : { unit: "s", factor: 1 };
  }

  const FONT = 12;
  // Plot adds a <style> element to each chart, which the Content-Security-Policy refuses:
  // taken out before the chart enters the page; app.css styles svg.annotate-plot instead.
  function place(figure, chart) {
    chart.querySelectorAll("style").forEach((s) => s.remove());
    figure.replaceChildren(chart);
  }
  function base(width, extra) {
    return Object.assign(
      {
        width: width,
        className: "annotate-plot",
        style: { fontSize: FONT + "px", overflow: "visible" },
        color: colors,
        marginLeft: 56,
        marginRight: 24,
        marginBottom: 44,
        marginTop: 32, // room for the y axis' title above the top tick
      },
      extra,
    );
  }

  // ---- Box charts: one row per model (and measure), its name just above its box and a wider
  // gap below it, so that each box reads with the name over it, never with the next one.
  const BOX = 22; // the box's height
  const GAP = 18; // between one row's box and the next row's name
  function boxChart(rows, width, x) {
    const rowName = (d) => (d.measure ? `${d.label} — ${d.measure}` : d.label);
    const names = rows.map(rowName);
    const chars = Math.max(12, Math.floor((width - 24) / (FONT * 0.6)));
    const wrapped = (text) => wrap(text, chars);
    const lines = Math.max(...names.map((n) => wrapped(n).split("\n").length));
    const label = 4 + lines * (FONT + 3); // the name's lines, from the row's top
    const band = label + 4 + BOX + GAP;
    const boxTop = label + 4; // from the row's top
    const tip = (d) =>
      [
        rowName(d),
        `median ${x.format(d.p50)}`,
        `25th–75th ${x.format(d.p25)} – ${x.format(d.p75)}`,
        `5th–95th ${x.format(d.p5)} – ${x.format(d.p95)}`,
        `n = ${count(d.n)}`,
      ].join("\n");
    const y = { y: rowName };
    const most = Math.max(3, Math.floor(width / 110));
    const ticks = x.scale.type === "log" ? logTicks(Math.min(...rows.map((d) => d.p5)), Math.max(...rows.map((d) => d.p95)), most) : most;
    return Plot.plot(
      base(width, {
        height: band * rows.length + 60,
        marginLeft: 12,
        x: Object.assign({ label: x.label, labelAnchor: "center", labelArrow: "none", grid: true, nice: true, tickFormat: (v) => plain(v * x.factor), ticks: ticks }, x.scale),
        y: { domain: names, axis: null, paddingInner: 0, paddingOuter: 0 },
        marks: [
          Plot.ruleY(rows, Object.assign({ x1: (d) => d.p5, x2: (d) => d.p95, stroke: "key", strokeWidth: 1.5, dy: boxTop + BOX / 2 - band / 2 }, y)),
          Plot.barX(rows, Object.assign({ x1: "p25", x2: "p75", fill: "key", fillOpacity: 0.25, stroke: "key", insetTop: boxTop + 3, insetBottom: GAP + 3 }, y)),
          Plot.tickX(rows, Object.assign({ x: "p50", stroke: "key", strokeWidth: 3, insetTop: boxTop, insetBottom: GAP }, y)),
          Plot.text(rows, Object.assign({ text: (d) => wrapped(rowName(d)), frameAnchor: "left", textAnchor: "start", lineAnchor: "top", dy: -band / 2 + 4, fontSize: FONT, fill: "#1d232b" }, y)),
          Plot.tip(rows, Plot.pointerY(Object.assign({ x: "p50", title: tip }, y))),
        ],
      }),
    );
  }

  // A log axis' ticks, each one labelled (Plot would leave some of a log axis' ticks without a
  // number): within a decade, round steps as on a linear axis (300, 400, 500, 600); over
  // several, 1-2-5 or only the powers of ten, as many as the width holds.
  function logTicks(low, high, most) {
    if (high / low < 10) return d3.ticks(low, high, most);
    for (const steps of [[1, 2, 5], [1]]) {
      const out = [];
      for (let e = Math.floor(Math.log10(low)); e <= Math.ceil(Math.log10(high)); e++) {
        for (const s of steps) {
          const v = s * 10 ** e;
          if (v >= low && v <= high) out.push(v);
        }
      }
      if (out.length <= most || steps.length === 1) return out;
    }
  }

  // Break a name into lines of at most `chars` characters, at spaces where it can.
  function wrap(text, chars) {
    const out = [];
    let line = "";
    for (const word of text.split(" ")) {
      let w = word;
      while (w.length > chars) {
        if (line) out.push(line), (line = "");
        out.push(w.slice(0, chars));
        w = w.slice(chars);
      }
      if ((line + " " + w).trim().length > chars) out.push(line), (line = w);
      else line = (line + " " + w).trim();
    }
    if (line) out.push(line);
    return out.join("\n");
  }

  function speed(width) {
    // Local decoding (tens of tok/s) and an API's stream (thousands) share the chart: log scale.
    const x = { label: "Tokens per second (tok/s, log scale)", factor: 1, format: tps, scale: { type: "log", nice: false } };
    return boxChart(data.speed, width, x);
  }

  function ttft(width) {
    const t = timeAxis(Math.max(...data.ttft.map((d) => d.p95)));
    const x = { label: `Time to first token (${t.unit})`, factor: t.factor, format: seconds, scale: { zero: true } };
    return boxChart(data.ttft, width, x);
  }

  function latency(width) {
    const t = timeAxis(Math.max(...data.latency.map((d) => d.latency_s)));
    return Plot.plot(
      base(width, {
        inset: 10, // no mark cut at the frame
        height: 320,
        x: { label: "Output length (tokens)", labelAnchor: "center", labelArrow: "none", grid: true, nice: true, zero: true, tickFormat: plain, ticks: Math.max(3, Math.floor(width / 110)) },
        y: { label: `Latency (${t.unit})`, labelAnchor: "top", labelArrow: "none", grid: true, nice: true, zero: true, tickFormat: (v) => plain(v * t.factor) },
        marks: [
          Plot.dot(data.latency, { x: "tokens", y: "latency_s", fill: "key", fillOpacity: 0.6, r: 3 }),
          Plot.tip(data.latency, Plot.pointer({ x: "tokens", y: "latency_s", title: (d) => `${d.label}\n${count(d.tokens)} tokens in ${seconds(d.latency_s)}\nn = ${count(d.n)} outputs shown` })),
        ],
      }),
    );
  }

  function throughput(width) {
    return Plot.plot(
      base(width, {
        inset: 10, // no mark cut at the frame
        height: 300,
        x: { label: "Batch size or concurrent requests (in flight)", labelAnchor: "center", labelArrow: "none", grid: true, nice: true, zero: true, tickFormat: plain, ticks: Math.max(3, Math.floor(width / 110)) },
        y: { label: "Run throughput (tok/s)", labelAnchor: "top", labelArrow: "none", grid: true, nice: true, zero: true, tickFormat: plain },
        marks: [
          Plot.line(data.throughput, { x: "in_flight", y: "tokens_per_s", stroke: "key", z: "key" }),
          Plot.dot(data.throughput, { x: "in_flight", y: "tokens_per_s", fill: "key", r: 4 }),
          Plot.tip(data.throughput, Plot.pointer({ x: "in_flight", y: "tokens_per_s", title: (d) => `${d.label}\n${count(d.in_flight)} in flight: ${tps(d.tokens_per_s)}\nmedian of ${count(d.runs)} run(s), n = ${count(d.n)} outputs` })),
        ],
      }),
    );
  }

  function cost(points, quality) {
    return function (width) {
      const front = points.filter((d) => d.best).sort((a, b) => a.cost_1k - b.cost_1k);
      const mid = Math.max(0, ...points.map((d) => d.cost_1k)) / 2;
      return Plot.plot(
        base(width, {
          inset: 10, // no mark cut at the frame
        height: 320,
          marginLeft: 60,
          x: { label: "Cost per 1,000 queries (USD)", labelAnchor: "center", labelArrow: "none", grid: true, nice: true, zero: true, tickFormat: usd, ticks: Math.max(3, Math.floor(width / 120)) },
          y: { label: quality.label, labelAnchor: "top", labelArrow: "none", grid: true, nice: true, tickFormat: quality.format, domain: quality.domain },
          marks: [
            Plot.line(front, { x: "cost_1k", y: "quality", stroke: "#2b8a3e", strokeDasharray: "4 3" }),
            Plot.dot(points, { x: "cost_1k", y: "quality", fill: "key", r: 6 }),
            Plot.dot(front, { x: "cost_1k", y: "quality", stroke: "#2b8a3e", strokeWidth: 2.5, r: 9 }),
            // Each point named beside it, towards the middle so that no name leaves the chart.
            Plot.text(points.filter((d) => d.cost_1k <= mid), { x: "cost_1k", y: "quality", text: "name", textAnchor: "start", dx: 12, dy: -10, fontSize: 11, fill: "#1d232b", stroke: "white", strokeWidth: 4, paintOrder: "stroke" }),
            Plot.text(points.filter((d) => d.cost_1k > mid), { x: "cost_1k", y: "quality", text: "name", textAnchor: "end", dx: -12, dy: -10, fontSize: 11, fill: "#1d232b", stroke: "white", strokeWidth: 4, paintOrder: "stroke" }),
            Plot.tip(points, Plot.pointer({ x: "cost_1k", y: "quality", title: (d) => `${d.label}${d.best ? " (best trade-off)" : ""}\n${usd(d.cost_1k)} per 1,000 queries (n = ${count(d.cost_n)} priced outputs)\n${quality.name} ${quality.format(d.quality)} (n = ${count(d.n)})` })),
          ],
        }),
      );
    };
  }
  // ---- The projection's three ways to pay (annotate/stats/charts.py ways_chart): cost a day
  // against queries a day, one line a way named at its end, the break-evens ringed and named.
  const waysSource = document.getElementById("ways-data");
  const ways = waysSource ? JSON.parse(waysSource.textContent) : [];
  const EVEN = { dedicated_vs_token: "dedicated = per token", dedicated_vs_serverless: "dedicated = serverless", serverless_vs_token: "serverless = per token" };
  // A log axis' ticks: the powers of ten from below the lowest value to above the highest.
  function decades(values) {
    const low = Math.floor(Math.log10(Math.min(...values)));
    const high = Math.ceil(Math.log10(Math.max(...values)));
    return Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i));
  }
  function waysChart(chart, width) {
    const modes = [...new Set(chart.lines.map((d) => d.mode))];
    const color = { domain: modes, range: modes.map((m) => chart.lines.find((d) => d.mode === m).color) };
    const top = Math.max(...chart.lines.map((d) => d.q));
    // Each line named at its end; lines that end together (an owned machine paid either way:
    // just electricity) named once, "dedicated = serverless".
    const ends = [];
    for (const d of chart.lines.filter((d) => d.q === top)) {
      const same = ends.find((e) => Math.abs(e.cost - d.cost) <= 0.01 * d.cost);
      if (same) same.name += " = " + d.mode;
      else ends.push(Object.assign({ name: d.mode }, d));
    }
    const workload = chart.workload ? [chart.workload] : [];
    const capacity = chart.capacity ? [chart.capacity] : [];
    return Plot.plot(
      base(width, {
        height: 280,
        inset: 10, // no mark cut at the frame
        marginLeft: 64,
        color: color,
        x: { type: "log", label: "Queries a day (log scale)", labelAnchor: "center", labelArrow: "none", grid: true, tickFormat: plain, ticks: decades(chart.lines.map((d) => d.q)) },
        y: { type: "log", label: "Cost a day (USD, log scale)", labelAnchor: "top", labelArrow: "none", grid: true, tickFormat: usd, ticks: decades(chart.lines.map((d) => d.cost)) },
        marks: [
          Plot.ruleX(workload, { stroke: "#868e96", strokeDasharray: "4 3" }),
          Plot.text(workload, { x: (d) => d, frameAnchor: "bottom", textAnchor: "start", dx: 4, dy: -4, text: (d) => `this workload:\n${count(d)} a day`, fontSize: 11, fill: "#5c636a" }),
          // Past this one dedicated machine is busy more than 20 h a day: more machines.
          Plot.ruleX(capacity, { stroke: "#d9480f", strokeDasharray: "2 3" }),
          Plot.text(capacity, { x: (d) => d, frameAnchor: "top", textAnchor: "end", dx: -4, dy: 4, text: (d) => `one dedicated machine\ncarries ${count(d)} a day`, fontSize: 11, fill: "#d9480f" }),
          Plot.line(chart.lines, { x: "q", y: "cost", stroke: "mode", z: "mode", strokeWidth: 2 }),
          Plot.text(ends, { x: "q", y: "cost", text: "name", fill: "mode", textAnchor: "end", dy: -9, fontSize: 12, fontWeight: 600, stroke: "white", strokeWidth: 4, paintOrder: "stroke" }),
          Plot.dot(chart.crossings, { x: "q", y: "cost", r: 5, fill: "white", stroke: "#1d232b", strokeWidth: 2 }),
          Plot.text(chart.crossings, { x: "q", y: "cost", text: (d) => `${EVEN[d.key]}\nat ${count(d.q)} a day`, textAnchor: "start", dx: 9, dy: 14, fontSize: 11, fill: "#1d232b", stroke: "white", strokeWidth: 4, paintOrder: "stroke" }),
          Plot.tip(chart.lines, Plot.pointer({ x: "q", y: "cost", title: (d) => `${d.mode}: ${usd(d.cost)} a day at ${count(Math.round(d.q))} queries a day` })),
        ],
      }),
    );
  }

  const percent = (v) => plain(v * 100) + "%";
  const draw = {
    speed: speed,
    ttft: ttft,
    latency: latency,
    throughput: throughput,
    cost_rating: cost(data.cost_rating, { label: "Mean rating", name: "mean rating", format: plain }),
    cost_win: cost(data.cost_win, { label: "Win rate (%)", name: "win rate", format: percent, domain: [0, 1] }),
  };
  const rows = { speed: data.speed, ttft: data.ttft, latency: data.latency, throughput: data.throughput, cost_rating: data.cost_rating, cost_win: data.cost_win };

  function render(figure) {
    const name = figure.dataset.chart;
    const width = Math.floor(figure.clientWidth);
    if (!width || width === Number(figure.dataset.width)) return;
    figure.dataset.width = width;
    if (figure.dataset.ways !== undefined) {
      const chart = ways[Number(figure.dataset.ways)];
      if (chart && chart.lines.length) place(figure, waysChart(chart, width));
      return;
    }
    if (!rows[name] || rows[name].length === 0) {
      const empty = document.createElement("p");
      empty.className = "muted small";
      empty.textContent = "Nothing measured for this chart yet.";
      figure.replaceChildren(empty);
      return;
    }
    place(figure, draw[name](width));
  }

  const figures = document.querySelectorAll("figure[data-chart], figure[data-ways]");
  figures.forEach(render);
  // Redrawn at the card's new width (a window resized), never scaled: text keeps its size.
  const observer = new ResizeObserver((entries) => entries.forEach((e) => render(e.target)));
  figures.forEach((f) => observer.observe(f));
})();
