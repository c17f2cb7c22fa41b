// A speed sweep's chart (annotate/stats/sweeps.py): run throughput (tokens/s) against the
// median latency per request, one line per max-tokens limit through its batch sizes or
// concurrencies, each point labelled with it, the knee ringed. Drawn under the page's CSP as
// stats.js draws: Plot's <style> element is taken out, app.css styles svg.annotate-plot.
(function () {
  "use strict";
  const source = document.getElementById("sweep-data");
  const figure = document.getElementById("sweep-chart");
  if (!source || !figure || !window.Plot) return;
  const points = JSON.parse(source.textContent).points;
  if (!points.length) return;
  const series = (d) => `max ${d.max_tokens} tokens`;
  const ms = (v) => (v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(2) + " s");
  const chart = Plot.plot({
    width: Math.max(320, figure.clientWidth || 640),
    className: "annotate-plot",
    style: { fontSize: "12px", overflow: "visible" },
    marginLeft: 56,
    marginBottom: 44,
    marginTop: 32,
    x: { label: "Latency p50 per request (s) →", grid: true, nice: true, inset: 16 },
    y: { label: "↑ Throughput (tokens/s)", grid: true, zero: true, nice: true, insetTop: 16 },
    color: { legend: true },
    marks: [
      Plot.line(points, {
        x: "p50_latency_s",
        y: "tokens_per_s",
        stroke: series,
        sort: "in_flight",
        z: series,
      }),
      Plot.dot(points, {
        x: "p50_latency_s",
        y: "tokens_per_s",
        fill: series,
        r: 3,
        title: (d) =>
          `${series(d)}, ${d.in_flight} in flight\n${d.tokens_per_s.toFixed(1)} tok/s, p50 ${ms(d.p50_latency_s)}`,
      }),
      Plot.dot(
        points.filter((d) => d.knee),
        { x: "p50_latency_s", y: "tokens_per_s", r: 8, stroke: "currentColor", strokeWidth: 2 },
      ),
      Plot.text(points, {
        x: "p50_latency_s",
        y: "tokens_per_s",
        text: (d) => String(d.in_flight) + (d.knee ? " (knee)" : ""),
        dy: -10,
      }),
    ],
  });
  chart.querySelectorAll("style").forEach((s) => s.remove());
  figure.replaceChildren(chart);
})();
