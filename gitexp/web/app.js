/* gitexp views: the report (its data embedded in the page) and the dashboard (data from
   `gitexp ui`, the local server).  Plain DOM plus plotly.js for the charts.  User text
   (names, notes, code) always goes into the page through textContent, never as HTML. */
(function () {
  "use strict";

  const root = document.getElementById("gx-app");
  const mode = root.getAttribute("data-mode") || "report";
  const PLOT_CONFIG = { responsive: true, displaylogo: false };
  const POLL_MS = 2000;
  const state = {
    bundle: null,
    hidden: {}, // report: run id -> true when unticked in the runs table
    x: "step",
    smooth: 0,
    runs: [], // dashboard: every run of the repository
    selected: null, // dashboard: ids of the runs drawn
    where: "",
    groupBy: "", // dashboard: config keys the server groups the curves by
    cursor: 0, // dashboard: the picker row the keyboard is on
    charts: {}, // metric -> chart div, kept so refreshes keep zoom
    hists: {},
    mediaAt: {}, // run and media key -> the step its image strip shows
    loading: 0,
  };
  const ui = {};

  // -- small helpers ----------------------------------------------------------------------

  // "1 run", "2 runs": the same rule as gitexp.core.words.plural on the command line.
  function plural(count, word) {
    return `${count} ${count === 1 ? word : word + "s"}`;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return fmtNumber(value);
    if (typeof value === "boolean") return value ? "true" : "false";
    if (Array.isArray(value)) return "[" + value.map(fmt).join(", ") + "]";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function fmtNumber(value) {
    // As Python's "%.6g" (what the terminal tables show): 6 significant digits, exponent
    // form below 1e-4 and from 1e6.
    if (!Number.isFinite(value) || (Number.isInteger(value) && Math.abs(value) < 1e15)) return String(value);
    const size = Math.abs(value);
    if (size !== 0 && (size < 1e-4 || size >= 1e6)) {
      const [mantissa, exponent] = value.toExponential(5).split("e");
      const digits = exponent.replace(/^[+-]/, "").padStart(2, "0");
      return mantissa.replace(/\.?0+$/, "") + "e" + (exponent[0] === "-" ? "-" : "+") + digits;
    }
    return String(Number(value.toPrecision(6)));
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function fmtTime(seconds) {
    if (typeof seconds !== "number") return "";
    const d = new Date(seconds * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function fmtDuration(seconds) {
    if (typeof seconds !== "number") return "";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m${pad(Math.floor(seconds % 60))}s`;
    return `${Math.floor(minutes / 60)}h${pad(minutes % 60)}m`;
  }

  function ema(values, weight) {
    // Bias-corrected exponential moving average, as gitexp plot --smooth computes it.
    const out = [];
    let average = 0;
    let count = 0;
    for (const value of values) {
      if (value === null) {
        out.push(null);
        continue;
      }
      count += 1;
      average = average * weight + (1 - weight) * value;
      out.push(average / (1 - Math.pow(weight, count)));
    }
    return out;
  }

  function labels(runs) {
    // A run's legend name; names need not be unique, so repeats get their short id.
    const seen = {};
    for (const run of runs) seen[run.name] = (seen[run.name] || 0) + 1;
    const out = {};
    for (const run of runs) out[run.id] = seen[run.name] > 1 ? `${run.name} (${run.short})` : run.name;
    return out;
  }

  // plotly reads a trace's name, a title or an annotation as its own small HTML (<a href>,
  // <b>, <br>), so run data (names, metric keys) goes in with & < > as entities, which
  // plotly shows as the characters themselves.
  function plotText(text) {
    // [<] rather than a bare "<" before "/": the inlined script may not hold that pair.
    return String(text).replace(/&/g, "&amp;").replace(/[<]/g, "&lt;").replace(/>/g, "&gt;");
  }

  function statusCell(status) {
    return el("td", { class: "gx-status-" + String(status).replace(/\W/g, ""), text: status });
  }

  function tagChips(tags) {
    return (tags || []).map((tag) => el("span", { class: "gx-tag", text: tag }));
  }

  function swatch(color) {
    const node = el("span", { class: "gx-swatch" });
    node.style.background = color;
    return node;
  }

  // -- page skeleton ----------------------------------------------------------------------

  function section(id, title) {
    const body = el("div", { class: "gx-body" });
    const node = el("section", { id: "gx-" + id }, [el("h2", { text: title }), body]);
    ui[id] = body;
    ui[id + "Section"] = node;
    return node;
  }

  function skeleton() {
    root.textContent = "";
    ui.title = el("h1", { text: mode === "dashboard" ? "gitexp runs" : "gitexp report" });
    ui.meta = el("span", { class: "gx-meta" });
    const xSelect = el("select", { id: "gx-x", onchange: (e) => { state.x = e.target.value; drawCharts(); regroup(); } }, [
      el("option", { value: "step", text: "step" }),
      el("option", { value: "time", text: "time since start (s)" }),
      el("option", { value: "wall", text: "wall clock" }),
    ]);
    const smoothValue = el("span", { text: "0" });
    const smooth = el("input", {
      id: "gx-smooth", type: "range", min: "0", max: "0.99", step: "0.01", value: "0",
      oninput: (e) => {
        state.smooth = Number(e.target.value);
        smoothValue.textContent = e.target.value;
        drawCharts();
        regroup();
      },
    });
    const controls = el("div", { class: "gx-controls" }, [
      el("label", {}, ["x axis ", xSelect]),
      el("label", {}, ["smoothing ", smooth, smoothValue]),
    ]);
    if (mode === "dashboard") {
      // Groups are drawn by gitexp (aligned runs, mean and band): the server computes them.
      const groupBy = el("input", {
        type: "text", id: "gx-group-by", placeholder: "group by: lr,seed (Enter)", size: "18",
        "aria-label": "group runs by config keys",
        onkeydown: (e) => {
          if (e.key === "Enter") {
            state.groupBy = e.target.value.trim();
            refreshBundle().catch(showError);
          }
        },
      });
      controls.insertBefore(el("label", {}, ["groups ", groupBy]), controls.firstChild);
    }
    root.appendChild(el("header", { class: "gx-head" }, [ui.title, ui.meta, controls]));
    const main = el("main");
    main.appendChild(section("intro", "About"));
    if (mode === "dashboard") main.appendChild(section("picker", "Runs"));
    main.appendChild(section("runs", mode === "dashboard" ? "Selected runs" : "Runs"));
    main.appendChild(section("charts", "Metrics"));
    ui.chartGrid = el("div", { class: "gx-grid" });
    ui.charts.appendChild(ui.chartGrid);
    main.appendChild(section("figures", "Curves"));
    main.appendChild(section("parallel", "Parallel coordinates"));
    main.appendChild(section("importance", "Parameter importance"));
    main.appendChild(section("best", "The best run against the baseline"));
    main.appendChild(section("system", "System metrics"));
    main.appendChild(section("media", "Media"));
    main.appendChild(section("histograms", "Histograms over steps"));
    main.appendChild(section("compare", "Config and metrics that differ"));
    main.appendChild(section("code", "Code differences"));
    main.appendChild(section("environment", "Hardware and software"));
    main.appendChild(section("notes", "Notes and tags"));
    root.appendChild(main);
  }

  // -- the views ---------------------------------------------------------------------------

  function visibleRuns() {
    return state.bundle.runs.filter((run) => !state.hidden[run.id]);
  }

  function render() {
    const bundle = state.bundle;
    // A page of one chart (plot --parallel, --scatter) carries only what it draws.
    bundle.runs = bundle.runs || [];
    bundle.series = bundle.series || {};
    const shown = bundle.sections || [];
    for (const name of ["intro", "runs", "charts", "figures", "parallel", "importance", "best", "system", "media", "histograms", "compare", "code", "environment", "notes"]) {
      ui[name + "Section"].style.display = shown.includes(name) ? "" : "none";
    }
    if (mode !== "dashboard") {
      ui.title.textContent = bundle.title;
      ui.meta.textContent = bundle.repository ? `${plural(bundle.runs.length, "run")} · ` +
        `repository ${bundle.repository} · generated ${fmtTime(bundle.generated)} by gitexp ` +
        bundle.gitexp_version : "";
    }
    drawRunsTable();
    drawCharts();
    drawFigures(ui.figures, state.bundle.figures);
    drawFigures(ui.system, state.bundle.system);
    drawParallel();
    drawImportance();
    drawBest();
    drawMedia();
    ui.intro.textContent = "";
    if (state.bundle.intro) ui.intro.appendChild(el("div", { class: "gx-intro", text: state.bundle.intro }));
    drawHistograms();
    drawCompare();
    drawCode();
    drawEnvironment();
    drawNotes();
  }

  function drawRunsTable() {
    const runs = state.bundle.runs;
    ui.runs.textContent = "";
    if (!runs.length) {
      ui.runs.appendChild(el("p", { class: "gx-empty", text: "No runs selected." }));
      return;
    }
    const head = el("tr", {}, ["show", "", "name", "id", "status", "started", "duration", "tags",
      "group", "baseline", "command"].map((h) => el("th", { text: h })));
    const body = runs.map((run) => {
      const box = el("input", {
        type: "checkbox", "data-run": run.id,
        onchange: (e) => {
          state.hidden[run.id] = !e.target.checked;
          drawCharts();
          drawHistograms();
        },
      });
      box.checked = !state.hidden[run.id];
      return el("tr", { "data-run": run.id }, [
        el("td", {}, [box]),
        el("td", {}, [swatch(run.color)]),
        el("td", { text: run.name }),
        el("td", { text: run.short }),
        statusCell(run.status),
        el("td", { text: fmtTime(run.start) }),
        el("td", { class: "gx-num", text: fmtDuration(run.duration) }),
        el("td", {}, tagChips(run.tags)),
        el("td", { text: run.group || "" }),
        el("td", { text: (run.baseline || "").slice(0, 7) + (run.dirty ? "+" : "") }),
        el("td", { text: run.command.length > 80 ? run.command.slice(0, 77) + "..." : run.command }),
      ]);
    });
    ui.runs.appendChild(el("div", { class: "gx-scroll" },
      [el("table", { class: "gx-table", id: "gx-runs-table" }, [el("thead", {}, [head]), el("tbody", {}, body)])]));
  }

  function xValues(series) {
    // A report stores clock times as offsets from wall0 (the first), to stay small.
    const wall0 = series.wall0 ? series.wall0[0] : 0;
    if (state.x === "wall") return series.wall.map((t) => new Date((wall0 + t) * 1000));
    if (state.x === "time") return series.time;
    return series.step;
  }

  function traces(metric) {
    const out = [];
    const names = labels(state.bundle.runs);
    for (const run of visibleRuns()) {
      const series = (state.bundle.series[run.id] || {})[metric];
      if (!series) continue;
      const x = xValues(series);
      const line = { type: "scatter", mode: "lines", x: x, legendgroup: run.id, name: plotText(names[run.id]) };
      if (state.smooth > 0) {
        out.push(Object.assign({}, line, {
          y: series.value, showlegend: false, hoverinfo: "skip", opacity: 0.25,
          uid: `${run.id}:raw`, line: { color: run.color, width: 1 },
        }));
        out.push(Object.assign({}, line, {
          y: ema(series.value, state.smooth), uid: run.id, line: { color: run.color, width: 2 },
        }));
      } else {
        out.push(Object.assign({}, line, { y: series.value, uid: run.id, line: { color: run.color, width: 2 } }));
      }
    }
    return out;
  }

  function chartLayout(metric) {
    const xTitle = { step: "step", time: "seconds since start", wall: "time" }[state.x];
    return {
      title: { text: plotText(metric), x: 0.02, xanchor: "left", font: { size: 14 } },
      margin: { l: 60, r: 16, t: 40, b: 44 },
      height: 320,
      hovermode: "x unified",
      showlegend: true,
      legend: { orientation: "h", y: -0.25 },
      xaxis: { title: { text: xTitle }, type: state.x === "wall" ? "date" : "linear" },
      yaxis: { automargin: true },
      uirevision: metric + ":" + state.x,
    };
  }

  function drawCharts() {
    const metrics = state.bundle.scalars || [];
    for (const metric of Object.keys(state.charts)) {
      if (!metrics.includes(metric)) {
        Plotly.purge(state.charts[metric]);
        state.charts[metric].remove();
        delete state.charts[metric];
      }
    }
    if (ui.chartEmpty) ui.chartEmpty.remove();
    if (!metrics.length) {
      ui.chartEmpty = el("p", { class: "gx-empty", text: "No metrics logged by these runs." });
      ui.charts.appendChild(ui.chartEmpty);
    }
    for (const metric of metrics) {
      let div = state.charts[metric];
      if (!div) {
        div = el("div", { class: "gx-chart", "data-metric": metric });
        state.charts[metric] = div;
      }
      ui.chartGrid.appendChild(div); // appending an existing node keeps the metric order
      Plotly.react(div, traces(metric), chartLayout(metric), PLOT_CONFIG);
    }
  }

  // Figures built by gitexp from its chart specs (grouped curves with bands, log axes,
  // a metric as x): drawn as they come; plotly escapes nothing, gitexp escaped the text.
  function drawFigures(into, figures) {
    into.textContent = "";
    const grid = el("div", { class: "gx-grid" });
    into.appendChild(grid);
    for (const figure of figures || []) {
      const div = el("div", { class: "gx-figure", "data-metric": figure.metric });
      grid.appendChild(div);
      Plotly.react(div, figure.data, figure.layout, PLOT_CONFIG);
    }
  }

  // Media a run logged, one panel per run and key (render/charts/logged.py).  Every
  // string is a run's: set as text or as an attribute, never parsed as markup; an html
  // file runs in an iframe sandboxed of everything (no script, no same origin).
  function drawMedia() {
    ui.media.textContent = "";
    const names = labels(state.bundle.runs);
    const grid = el("div", { class: "gx-grid" });
    ui.media.appendChild(grid);
    for (const panel of state.bundle.media || []) {
      const head = el("h3", { class: "gx-media-key", text: panel.key }, [
        el("span", { class: "gx-meta", text: ` · ${names[panel.run] || panel.run} · ${plural(panel.count, "step")} logged` }),
      ]);
      const box = el("div", { class: "gx-media", "data-key": panel.key, "data-run": panel.run, "data-type": panel.type }, [head]);
      grid.appendChild(box);
      mediaBody(box, panel);
      if (panel.left_out) box.appendChild(el("p", { class: "gx-meta gx-left-out", text: "Left out: " + panel.left_out }));
      if (panel.error) box.appendChild(el("p", { class: "gx-empty", text: panel.error }));
    }
  }

  function mediaBody(box, panel) {
    if (panel.type === "image") {
      const items = panel.items || [];
      if (!items.length) return;
      const img = el("img", { class: "gx-media-img", alt: panel.key });
      const label = el("span", { class: "gx-meta gx-step-label" });
      // The dashboard redraws every 2 s while a run goes on: the slider keeps its step.
      const id = panel.run + "\n" + panel.key;
      const show = (i) => {
        const item = items[i];
        state.mediaAt[id] = item.step;
        img.setAttribute("src", item.src);
        label.textContent = `step ${item.step}` + (item.caption ? ` · ${item.caption}` : "");
      };
      const kept = items.findIndex((item) => item.step === state.mediaAt[id]);
      const start = kept < 0 ? items.length - 1 : kept;
      const slider = el("input", { type: "range", class: "gx-step-slider", min: "0", max: String(items.length - 1),
        value: String(start), "aria-label": "step", oninput: (e) => show(Number(e.target.value)) });
      show(start);
      box.appendChild(el("div", {}, [img]));
      if (items.length > 1) box.appendChild(el("label", {}, ["step ", slider]));
      box.appendChild(label);
    } else if (panel.type === "table") {
      const head = el("tr", {}, panel.columns.map((c) => el("th", { text: fmt(c) })));
      const body = panel.rows.map((row) => el("tr", {}, row.map((c) => el("td", { text: fmt(c) }))));
      box.appendChild(el("div", { class: "gx-scroll" }, [el("table", { class: "gx-table gx-media-table" }, [el("thead", {}, [head]), el("tbody", {}, body)])]));
    } else if (panel.type === "html") {
      box.appendChild(el("iframe", { class: "gx-media-html", sandbox: "", srcdoc: panel.html, title: panel.key }));
    } else if (panel.type === "chart") {
      const div = el("div", { class: "gx-figure", "data-metric": panel.key });
      box.appendChild(div);
      Plotly.react(div, panel.figure.data, panel.figure.layout, PLOT_CONFIG);
    } else if ((panel.type === "audio" || panel.type === "video" || panel.type === "img") && panel.src) {
      box.appendChild(el(panel.type, { class: "gx-media-" + panel.type, src: panel.src, controls: panel.type !== "img" }));
      if (panel.caption) box.appendChild(el("p", { class: "gx-meta", text: panel.caption }));
    }
  }

  function drawBest() {
    const best = state.bundle.best;
    ui.best.textContent = "";
    if (!best) return;
    const byId = {};
    for (const run of state.bundle.runs) byId[run.id] = run;
    const names = labels(state.bundle.runs);
    const goal = best.goal === "maximize" ? "highest" : "lowest";
    ui.best.appendChild(el("p", { text: `${names[best.best] || best.best} has the ${goal} ${best.metric} ` +
      `(${fmt(best.values[1])}, against ${fmt(best.values[0])} for the baseline ${names[best.baseline] || best.baseline}).` }));
    if (!best.rows.length) {
      ui.best.appendChild(el("p", { class: "gx-empty", text: "Their configs are the same." }));
      return;
    }
    const head = el("tr", {}, ["config key", "baseline", "best"].map((h) => el("th", { text: h })));
    const body = best.rows.map((row) => el("tr", { "data-key": row.key }, [el("td", { text: row.key }),
      el("td", { text: fmt(row.baseline) }), el("td", { class: "gx-best", text: fmt(row.best) })]));
    ui.best.appendChild(el("table", { class: "gx-table", id: "gx-best-table" }, [el("thead", {}, [head]), el("tbody", {}, body)]));
  }

  // Parallel coordinates come as an SVG document that gitexp wrote with every text
  // escaped; it is parsed as XML (scripts in a parsed document never run) and adopted.
  function drawParallel() {
    ui.parallel.textContent = "";
    if (!state.bundle.parallel) return;
    const doc = new DOMParser().parseFromString(state.bundle.parallel, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg") return;
    svg.setAttribute("class", "gx-parallel");
    ui.parallel.appendChild(el("div", { class: "gx-scroll" }, [document.importNode(svg, true)]));
  }

  function drawImportance() {
    const found = state.bundle.importance;
    ui.importance.textContent = "";
    if (!found || !found.rows) return;
    const hasForest = found.rows.some((row) => row.forest !== null);
    const head = el("tr", {}, ["config key", "runs", "Spearman ρ", ""].concat(hasForest ? ["forest importance"] : [])
      .map((h) => el("th", { text: h })));
    const body = found.rows.map((row) => {
      const rho = row.spearman;
      const bar = el("span", { class: "gx-bar" + (rho !== null && rho < 0 ? " gx-neg" : "") });
      bar.style.width = (rho === null ? 0 : Math.round(Math.abs(rho) * 120)) + "px";
      const cells = [el("td", { text: row.key }), el("td", { class: "gx-num", text: String(row.runs) }),
        el("td", { class: "gx-num", text: rho === null ? "—" : rho.toFixed(3) }), el("td", {}, [bar])];
      if (hasForest) cells.push(el("td", { class: "gx-num", text: row.forest === null ? "—" : row.forest.toFixed(3) }));
      return el("tr", { "data-key": row.key }, cells);
    });
    ui.importance.appendChild(el("p", { class: "gx-meta", text: `How each config key goes with ${found.metric}` +
      " (summary value): Spearman's rank correlation" + (hasForest ? ", and a random forest's importances." : ".") }));
    ui.importance.appendChild(el("table", { class: "gx-table", id: "gx-importance-table" },
      [el("thead", {}, [head]), el("tbody", {}, body)]));
  }

  function histogramFigure(hist) {
    const runs = visibleRuns().filter((run) => hist.runs[run.id]);
    const names = labels(state.bundle.runs);
    const cols = Math.max(1, Math.min(runs.length, 3));
    const rows = Math.max(1, Math.ceil(runs.length / cols));
    const layout = {
      title: { text: plotText(hist.metric), x: 0.02, xanchor: "left", font: { size: 14 } },
      height: 70 + 210 * rows,
      margin: { l: 60, r: 16, t: 60, b: 40 },
      annotations: [],
      showlegend: false, // each panel is titled with its run
      uirevision: hist.metric,
    };
    const data = runs.map((run, i) => {
      const col = i % cols;
      const row = Math.floor(i / cols);
      const suffix = i === 0 ? "" : String(i + 1);
      const x0 = col / cols + (col ? 0.03 : 0);
      const x1 = (col + 1) / cols - 0.02;
      const y1 = 1 - row / rows - (row ? 0.06 : 0);
      const y0 = 1 - (row + 1) / rows + 0.06;
      layout["xaxis" + suffix] = { domain: [x0, x1], anchor: "y" + suffix, title: { text: "step" } };
      layout["yaxis" + suffix] = { domain: [y0, y1], anchor: "x" + suffix };
      layout.annotations.push({
        text: plotText(names[run.id]), showarrow: false, xref: "paper", yref: "paper",
        x: (x0 + x1) / 2, y: y1, yanchor: "bottom", font: { color: run.color },
      });
      const grid = hist.runs[run.id];
      // A grid of square markers coloured by log(1 + count), so one crowded bin does not
      // hide the tails (the page's plotly bundle has no heatmap); hover shows the counts.
      const x = [], y = [], shade = [], count = [];
      grid.z.forEach((row, b) => row.forEach((n, s) => {
        if (n > 0) { x.push(grid.steps[s]); y.push(hist.centres[b]); shade.push(Math.log1p(n)); count.push(String(Math.round(n * 100) / 100)); }
      }));
      const width = (ui.histograms.clientWidth || 1200) / cols;
      const size = Math.max(2, Math.min(14, Math.max(width / Math.max(1, grid.steps.length), 190 / hist.centres.length)));
      return {
        type: "scatter", mode: "markers", x: x, y: y, name: plotText(names[run.id]), text: count,
        xaxis: "x" + suffix, yaxis: "y" + suffix,
        marker: { symbol: "square", size: size, color: shade, colorscale: "Viridis", showscale: false, line: { width: 0 } },
        hovertemplate: "step %{x}<br>value %{y:.4g}<br>count %{text}<extra>%{fullData.name}</extra>",
      };
    });
    return { data: data, layout: layout };
  }

  function drawHistograms() {
    const hists = state.bundle.histograms || [];
    const wanted = hists.map((h) => h.metric);
    for (const metric of Object.keys(state.hists)) {
      if (!wanted.includes(metric)) {
        Plotly.purge(state.hists[metric]);
        state.hists[metric].remove();
        delete state.hists[metric];
      }
    }
    if (ui.histEmpty) ui.histEmpty.remove();
    if (!hists.length) {
      ui.histEmpty = el("p", { class: "gx-empty", text: "No histograms logged (gitexp.Histogram, gitexp.watch)." });
      ui.histograms.appendChild(ui.histEmpty);
    }
    for (const hist of hists) {
      let div = state.hists[hist.metric];
      if (!div) {
        div = el("div", { class: "gx-hist", "data-metric": hist.metric });
        state.hists[hist.metric] = div;
      }
      ui.histograms.appendChild(div);
      const figure = histogramFigure(hist);
      Plotly.react(div, figure.data, figure.layout, PLOT_CONFIG);
    }
  }

  function drawCompare() {
    const runs = state.bundle.runs;
    const rows = state.bundle.compare || [];
    ui.compare.textContent = "";
    if (!runs.length) return;
    const names = labels(runs);
    const head = el("tr", {}, [el("th", { text: "" })].concat(
      runs.map((run) => el("th", {}, [swatch(run.color), " " + names[run.id]]))));
    const body = [];
    let current = null;
    for (const row of rows) {
      if (row.section !== current) {
        current = row.section;
        body.push(el("tr", { class: "gx-section" }, [el("td", { colspan: String(runs.length + 1), text: current })]));
      }
      const goal = row.goal === "minimize" ? " ↓ lower is better" : row.goal === "maximize" ? " ↑ higher is better" : "";
      const cells = row.values.map((value, i) => {
        const best = row.best.includes(i);
        const text = row.section === "run" && row.key === "duration" ? fmtDuration(value) : fmt(value);
        return el("td", { class: (typeof value === "number" ? "gx-num" : "") + (best ? " gx-best" : ""), text: text + (best ? " ★" : "") });
      });
      body.push(el("tr", { "data-key": row.section + "." + row.key }, [el("td", {}, [row.key, el("span", { class: "gx-meta", text: goal })])].concat(cells)));
    }
    ui.compare.appendChild(el("div", { class: "gx-scroll" },
      [el("table", { class: "gx-table", id: "gx-compare-table" }, [el("thead", {}, [head]), el("tbody", {}, body)])]));
    if (rows.every((row) => row.section === "run")) {
      ui.compare.appendChild(el("p", { class: "gx-empty", text: "Config and metrics are the same in these runs." }));
    }
  }

  function drawCode() {
    const pairs = state.bundle.code || [];
    const byId = {};
    for (const run of state.bundle.runs) byId[run.id] = run;
    const names = labels(state.bundle.runs);
    const wasOpen = {}; // a refresh (a run still going) keeps what the reader opened or closed
    for (const node of ui.code.querySelectorAll("details[data-run]")) wasOpen[node.dataset.run] = node.open;
    ui.code.textContent = "";
    if (!pairs.length) {
      ui.code.appendChild(el("p", { class: "gx-empty", text: "Select two or more runs to see their code differences." }));
      return;
    }
    for (const pair of pairs) {
      const files = pair.files || [];
      const added = files.reduce((n, f) => n + (f.added || 0), 0);
      const removed = files.reduce((n, f) => n + (f.removed || 0), 0);
      const title = `${names[pair.a]} → ${names[pair.b]}: ` +
        (files.length ? `${plural(files.length, "file")} changed, +${added} −${removed}` : "same code");
      const lines = pair.patch ? pair.patch.replace(/\n$/, "").split("\n") : [];
      const pre = el("pre", { class: "gx-patch" }, lines.map((line) => {
        let cls = "";
        if (line.startsWith("@@")) cls = "gx-hunk";
        else if (line.startsWith("+") && !line.startsWith("+++")) cls = "gx-add";
        else if (line.startsWith("-") && !line.startsWith("---")) cls = "gx-del";
        return el("span", { class: cls, text: line || " " });
      }));
      const open = pair.b in wasOpen ? wasOpen[pair.b] : files.length > 0 && lines.length < 400;
      const details = el("details", { class: "gx-diff", open: open }, [
        el("summary", { text: title }),
        files.length ? pre : null,
        pair.truncated ? el("p", { class: "gx-empty", text: "(diff cut short; see gitexp diff --code)" }) : null,
      ]);
      if (byId[pair.b]) details.setAttribute("data-run", pair.b);
      ui.code.appendChild(details);
    }
  }

  function drawEnvironment() {
    const env = state.bundle.environment || { machines: [], packages: [] };
    const runs = state.bundle.runs;
    const names = labels(runs);
    ui.environment.textContent = "";
    if (!runs.length) return;
    const byId = {};
    for (const machine of env.machines) byId[machine.id] = machine;
    const head = el("tr", {}, [el("th", { text: "" })].concat(runs.map((run) => el("th", { text: names[run.id] }))));
    const fields = [["machine", "machine"], ["os", "OS"], ["python", "Python"], ["hostname", "host"],
      ["packages", "packages installed"]];
    const body = fields.map(([key, label]) => el("tr", {}, [el("td", { text: label })].concat(
      runs.map((run) => el("td", { text: fmt((byId[run.id] || {})[key]) })))));
    ui.environment.appendChild(el("div", { class: "gx-scroll" },
      [el("table", { class: "gx-table gx-wrap", id: "gx-env-table" }, [el("thead", {}, [head]), el("tbody", {}, body)])]));
    if (env.packages.length) {
      const phead = el("tr", {}, [el("th", { text: "package" })].concat(runs.map((run) => el("th", { text: names[run.id] }))));
      const pbody = env.packages.map((p) => el("tr", {}, [el("td", { text: p.name })].concat(
        p.versions.map((v) => el("td", { text: v === null ? "—" : v })))));
      // "—": not installed, or not recorded for that run
      ui.environment.appendChild(el("details", { class: "gx-diff", open: env.packages.length <= 20 }, [
        el("summary", { text: `${env.packages.length} Python packages differ` }),
        el("div", { class: "gx-scroll" },
          [el("table", { class: "gx-table", id: "gx-packages-table" }, [el("thead", {}, [phead]), el("tbody", {}, pbody)])]),
      ]));
    } else if (runs.length > 1) {
      ui.environment.appendChild(el("p", { class: "gx-empty", text: "Same Python packages in all runs." }));
    }
  }

  function drawNotes() {
    const runs = state.bundle.runs.filter((run) => run.notes || (run.tags || []).length);
    ui.notes.textContent = "";
    if (!runs.length) {
      ui.notes.appendChild(el("p", { class: "gx-empty", text: "No notes or tags." }));
      return;
    }
    const names = labels(state.bundle.runs);
    const items = runs.map((run) => el("div", {}, [
      el("h3", {}, [swatch(run.color), " " + names[run.id] + " "].concat(tagChips(run.tags))),
      run.notes ? el("p", { text: run.notes }) : null,
    ]));
    ui.notes.appendChild(el("div", { class: "gx-notes" }, items));
  }

  // -- the dashboard ---------------------------------------------------------------------

  // The server's groups follow the smoothing and x axis controls (after a pause, not at
  // every step of the slider).
  function regroup() {
    if (mode !== "dashboard" || !state.groupBy) return;
    clearTimeout(ui.regroupTimer);
    ui.regroupTimer = setTimeout(() => refreshBundle().catch(showError), 300);
  }

  async function fetchJSON(url) {
    const response = await fetch(url, { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function selectionFromHash() {
    const match = /runs=([^&]*)/.exec(location.hash);
    return match ? decodeURIComponent(match[1]).split(",").filter(Boolean) : null;
  }

  function setSelection(ids) {
    state.selected = ids;
    history.replaceState(null, "", "#runs=" + encodeURIComponent(ids.join(",")));
    refreshBundle().catch(showError);
  }

  function pickerSkeleton() {
    // Built once: the filter box must keep its focus and text across the 2-second polls.
    ui.where = el("input", {
      type: "text", id: "gx-where", value: state.where,
      placeholder: 'filter: config.lr < 0.01 and status == "finished"  (Enter)',
      onkeydown: (e) => {
        if (e.key === "Enter") {
          state.where = e.target.value.trim();
          poll();
        }
      },
    });
    ui.pickerCount = el("span", { class: "gx-meta" });
    ui.whereError = el("div", { class: "gx-error" });
    ui.pickerBody = el("tbody");
    const head = el("tr", {}, ["", "", "name", "id", "status", "started", "duration", "tags"].map((h) => el("th", { text: h })));
    ui.picker.appendChild(el("div", { class: "gx-picker-bar" }, [
      ui.where,
      el("button", { type: "button", text: "all", onclick: () => setSelection(state.runs.map((r) => r.id)) }),
      el("button", { type: "button", text: "none", onclick: () => setSelection([]) }),
      ui.pickerCount,
    ]));
    ui.picker.appendChild(ui.whereError);
    ui.pickerTable = el("table", { class: "gx-table", id: "gx-picker-table" }, [el("thead", {}, [head]), ui.pickerBody]);
    // Keyboard: Tab reaches the table, arrows move, Space or Enter ticks the run.
    ui.pickerBox = el("div", {
      class: "gx-picker", tabindex: "0", role: "grid", "aria-label": "runs: arrows move, space selects",
      onscroll: () => requestAnimationFrame(() => drawPickerWindow(false)),
      onkeydown: pickerKey,
    }, [ui.pickerTable]);
    ui.picker.appendChild(ui.pickerBox);
  }

  const OVERSCAN = 8; // rows drawn above and below what shows

  // A row's height as drawn (29 px by the stylesheet; measured, so zoom and fonts agree).
  function rowHeight() {
    if (!ui.rowHeight) {
      const row = ui.pickerBody.querySelector("tr");
      if (row) ui.rowHeight = row.getBoundingClientRect().height || 29;
    }
    return ui.rowHeight || 29;
  }

  function drawPicker() {
    if (!ui.pickerBody) pickerSkeleton();
    ui.pickerCount.textContent = `${state.selected.length} of ${plural(state.runs.length, "run")} selected`;
    ui.whereError.textContent = state.whereError || "";
    ui.pickerColors = {};
    for (const run of (state.bundle ? state.bundle.runs : [])) ui.pickerColors[run.id] = run.color;
    // Redraw the rows only when something shown changed (keeps scrolling and clicks calm).
    const signature = JSON.stringify([state.runs, state.selected, ui.pickerColors, state.cursor]);
    if (signature === ui.pickerSignature) return;
    ui.pickerSignature = signature;
    drawPickerWindow(true);
  }

  // Only the rows in view (and a few around them) are in the page: a repository of
  // thousands of runs lists as fast as one of ten.  Margins stand in for the others.
  function drawPickerWindow(changed) {
    const total = state.runs.length;
    const box = ui.pickerBox;
    const height = rowHeight();
    const first = Math.max(0, Math.floor(box.scrollTop / height) - OVERSCAN);
    const last = Math.min(total, first + Math.ceil((box.clientHeight || 320) / height) + 2 * OVERSCAN);
    if (!changed && first === ui.windowFirst && last === ui.windowLast) return;
    ui.windowFirst = first;
    ui.windowLast = last;
    ui.pickerTable.style.marginTop = first * height + "px";
    ui.pickerTable.style.marginBottom = (total - last) * height + "px";
    const rows = [];
    for (let i = first; i < last; i++) rows.push(pickerRow(state.runs[i], i));
    ui.pickerBody.replaceChildren(...rows);
  }

  function toggleRun(id, on) {
    const ids = state.selected.filter((other) => other !== id);
    if (on) ids.push(id);
    const order = state.runs.map((r) => r.id); // keep the table's order
    setSelection(order.filter((other) => ids.includes(other)));
  }

  function pickerRow(run, index) {
    const colors = ui.pickerColors || {};
    const box = el("input", {
      type: "checkbox", "data-run": run.id, tabindex: "-1", "aria-label": "select " + run.name,
      onchange: (e) => toggleRun(run.id, e.target.checked),
    });
    box.checked = state.selected.includes(run.id);
    const cursor = index === state.cursor;
    return el("tr", { "data-run": run.id, class: cursor ? "gx-cursor" : null, "aria-selected": String(box.checked) }, [
      el("td", {}, [box]),
      el("td", {}, colors[run.id] ? [swatch(colors[run.id])] : []),
      el("td", { text: run.name }),
      el("td", { text: run.id.slice(0, 7) }),
      statusCell(run.status),
      el("td", { text: fmtTime(run.start) }),
      el("td", { class: "gx-num", text: fmtDuration(run.end && run.start ? run.end - run.start : null) }),
      el("td", {}, tagChips(run.tags)),
    ]);
  }

  function pickerKey(e) {
    const total = state.runs.length;
    if (!total) return;
    const height = rowHeight();
    const page = Math.max(1, Math.floor((ui.pickerBox.clientHeight || 320) / height) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -total, End: total };
    if (e.key in moves) {
      state.cursor = Math.min(total - 1, Math.max(0, state.cursor + moves[e.key]));
      const top = state.cursor * height;
      const box = ui.pickerBox;
      if (top < box.scrollTop) box.scrollTop = top;
      else if (top + 2 * height > box.scrollTop + box.clientHeight) box.scrollTop = top + 2 * height - box.clientHeight;
      drawPicker();
      e.preventDefault();
    } else if (e.key === " " || e.key === "Enter") {
      const run = state.runs[Math.min(state.cursor, total - 1)];
      toggleRun(run.id, !state.selected.includes(run.id));
      e.preventDefault();
    }
  }

  function showError(error) {
    // A server that went away is reported on the page; the next poll tries again.
    ui.meta.textContent = "cannot reach gitexp ui: " + (error && error.message ? error.message : error);
  }

  async function poll() {
    try {
      await refreshRuns();
    } catch (error) {
      showError(error);
    }
  }

  async function refreshRuns() {
    const query = state.where ? "?where=" + encodeURIComponent(state.where) : "";
    let data;
    try {
      data = await fetchJSON("/api/runs" + query);
    } catch (error) {
      state.whereError = error.message;
      drawPicker();
      return;
    }
    state.whereError = "";
    state.runs = data.runs;
    ui.meta.textContent = `${plural(data.total, "run")} in ${data.repository}${pullNote(data.pull)}`;
    if (state.selected === null) {
      state.selected = selectionFromHash() || data.runs.slice(0, data.default_count).map((r) => r.id);
      drawPicker();
      performance.mark("gx-runs-listed"); // the first paint with runs: benchmarks read it
      await refreshBundle();
      return;
    }
    drawPicker();
    if (bundleIsStale()) await refreshBundle();
  }

  function pullNote(pull) {
    // `gitexp ui --pull REMOTE`: how the server's last round of pulling went.
    if (!pull) return "";
    if (pull.error) return ` · pulling from ${pull.remote} failed: ${pull.error} (trying again every ${pull.every}s)`;
    if (!pull.last_pulled) return ` · pulling from ${pull.remote}…`;
    return ` · pulled from ${pull.remote} at ${new Date(pull.last_pulled * 1000).toLocaleTimeString()}`;
  }

  function bundleIsStale() {
    if (!state.bundle) return true;
    const commits = {};
    for (const run of state.runs) commits[run.id] = run.commit;
    return state.bundle.runs.some((run) => run.live || (commits[run.id] && commits[run.id] !== run.commit));
  }

  async function refreshBundle() {
    const ticket = ++state.loading;
    const ids = state.selected.slice();
    // Groups are drawn by the server: it needs the smoothing and the x axis too.
    const group = state.groupBy ? "&group=" + encodeURIComponent(state.groupBy) +
      "&smooth=" + state.smooth + "&x=" + state.x : "";
    const data = await fetchJSON("/api/bundle?runs=" + encodeURIComponent(ids.join(",")) + group);
    if (ticket !== state.loading) return; // a newer selection is on its way
    if (data.missing && data.missing.length) {
      // Runs deleted since they were picked: forget them.
      state.selected = state.selected.filter((id) => !data.missing.includes(id));
      history.replaceState(null, "", "#runs=" + encodeURIComponent(state.selected.join(",")));
    }
    state.bundle = data;
    render();
    drawPicker();
    root.setAttribute("data-loaded", String(ticket));
  }

  // -- start -------------------------------------------------------------------------------

  skeleton();
  if (mode === "dashboard") {
    poll();
    setInterval(poll, POLL_MS);
  } else {
    state.bundle = JSON.parse(document.getElementById("gx-data").textContent);
    render();
    root.setAttribute("data-loaded", "1");
  }
})();
