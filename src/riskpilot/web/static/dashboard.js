// riskpilot dashboard: light live updates (poll the page's live region and swap it in) and the
// equity chart (plotly.js served by this server from the installed plotly package).
"use strict";
(function () {
  const status = document.getElementById("live-status");
  function say(text, cls) {
    if (status) { status.textContent = text; status.className = "live-status " + cls; }
  }
  function poll(live) {
    const every = Math.max(1, Number(live.dataset.refresh || 5)) * 1000;
    let busy = false;
    async function tick() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const r = await fetch(window.location.href, {
          headers: { "X-Partial": "1" }, cache: "no-store", credentials: "same-origin",
        });
        if (!r.ok) throw new Error("HTTP " + r.status);
        live.innerHTML = await r.text();
        say("live · " + new Date().toLocaleTimeString(), "ok");
      } catch (e) {
        say("update failed (" + e.message + "); retrying", "stale");
      } finally {
        busy = false;
      }
    }
    say("live · every " + every / 1000 + " s", "ok");
    setInterval(tick, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });
  }
  function chart() {
    const el = document.getElementById("equity-chart");
    const data = document.getElementById("equity-data");
    if (!el || !data) return;
    const curve = JSON.parse(data.textContent);
    if (!curve.x.length) { el.textContent = "No day recorded yet."; el.className = "muted"; return; }
    const s = document.createElement("script");
    s.src = el.dataset.plotly;
    s.onload = function () {
      window.Plotly.newPlot(el, [{ x: curve.x, y: curve.y, type: "scatter", mode: "lines+markers",
        name: "equity", hovertemplate: "%{x}: $%{y:,.0f}<extra></extra>" }],
        { margin: { t: 10, r: 10, b: 40, l: 70 }, yaxis: { tickprefix: "$", tickformat: ",.0f" },
          xaxis: { type: "date" }, height: 320 },
        { displaylogo: false, responsive: true });
      el.dataset.ready = "1";
    };
    document.head.appendChild(s);
  }
  document.addEventListener("DOMContentLoaded", function () {
    const live = document.getElementById("live");
    if (live && live.dataset.refresh) poll(live);
    chart();
  });
})();
