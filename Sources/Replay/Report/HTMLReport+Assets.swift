// The report page's stylesheet and script: static text, no data, nothing fetched (system fonts,
// inline SVG). The script filters the table of differences by text, kind and verdict, and keeps
// the filters in the URL fragment (`#q=…&kind=…&verdict=…`), which also presets them. Once it
// has set up, it marks the page (`<html data-script="ready">`); an error it meets is recorded in
// `data-script-error`. Both are visible in a headless browser's DOM dump (the tests read them).

extension HTMLReport {
    static let stylesheet = """
        :root { --ink: #1d2433; --muted: #5f6b7d; --line: #e3e7ee; --paper: #f5f7fa; --card: #ffffff;
          --good: #2f9e5f; --bad: #d9434b; --warn: #c98a00; --accent: #3464c8; }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--paper); color: var(--ink);
          font: 14px/1.45 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
        header { background: #1f2a44; color: #fff; padding: 22px 32px 18px; }
        header .tool { font-size: 12px; letter-spacing: .08em; text-transform: uppercase; color: #aab8d6; }
        header h1 { margin: 4px 0 8px; font-size: 22px; font-weight: 600; word-break: break-all; }
        dl.context { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 13px; }
        dl.context dt { color: #aab8d6; }
        dl.context dd { margin: 0; word-break: break-all; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
        main { padding: 20px 32px 8px; max-width: 1400px; }
        section { margin-bottom: 20px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
        h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
        .figures { display: flex; flex-wrap: wrap; gap: 12px; }
        .figure { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 150px; flex: 1 1 150px; border-top: 4px solid #c5ccd8; }
        .figure.good { border-top-color: var(--good); }
        .figure.bad { border-top-color: var(--bad); }
        .figure.warn { border-top-color: var(--warn); }
        .figure .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
        .figure.bad .value { color: var(--bad); }
        .figure .label { color: var(--muted); font-size: 12.5px; }
        .figure .detail { color: var(--muted); font-size: 12px; margin-top: 4px; }
        ul.verdict { list-style: none; margin: 14px 0 0; padding: 0; }
        ul.verdict li { padding: 8px 12px 8px 14px; margin-bottom: 6px; border-radius: 6px; background: #eef1f6; border-left: 4px solid #c5ccd8; }
        ul.verdict li.good { background: #e8f6ee; border-left-color: var(--good); }
        ul.verdict li.bad { background: #fcebec; border-left-color: var(--bad); }
        ul.verdict li.warn { background: #fdf4e1; border-left-color: var(--warn); }
        ul.warnings { margin: 10px 0 0; padding-left: 20px; color: #8a5a00; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 20px; }
        svg.chart { max-width: 100%; height: auto; display: block; font-size: 12px; }
        svg .axis-label { fill: var(--ink); font-size: 12.5px; }
        svg .legend, svg .tick { fill: var(--muted); font-size: 11.5px; }
        svg .total { fill: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
        svg .in-bar { fill: #fff; font-size: 11px; font-weight: 600; }
        svg .grid { stroke: #eef1f5; }
        svg .axis { stroke: #b9c1ce; }
        svg .hbar { fill: #5b7fd6; }
        svg .hbar:hover { fill: #2f56b8; }
        svg .marker { stroke: #d9434b; stroke-dasharray: 3 3; }
        svg .marker-label { fill: #b3262e; font-size: 11px; }
        svg a.kind-link:hover rect { opacity: .8; }
        svg a.kind-link { cursor: pointer; }
        p.note { color: var(--muted); margin: 0 0 10px; font-size: 12.5px; }
        p.empty { color: var(--muted); font-style: italic; }
        table { border-collapse: collapse; width: 100%; }
        th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 1px solid var(--line); padding: 6px 8px; }
        td { border-bottom: 1px solid var(--line); padding: 8px; vertical-align: top; }
        table.numbers td { font-variant-numeric: tabular-nums; white-space: nowrap; }
        table.numbers td.db { white-space: normal; }
        .role { font-weight: 600; }
        .path { color: var(--muted); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
        .histograms { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; margin-top: 16px; }
        figure.histogram { margin: 0; }
        figure.histogram figcaption { font-weight: 600; margin-bottom: 4px; }
        .filters { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; margin-bottom: 10px; }
        .filters label { color: var(--muted); font-size: 12.5px; }
        .filters input, .filters select { margin-left: 6px; font: inherit; padding: 5px 8px; border: 1px solid #c9d0dc; border-radius: 6px; background: #fff; color: var(--ink); }
        .filters input { width: 280px; }
        .filters .count { margin-left: auto; color: var(--muted); }
        #differences td.conn { width: 24%; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
        #differences .client, #differences .source { color: var(--muted); }
        #differences td.step { white-space: nowrap; color: var(--muted); }
        .kind { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #eef1f6; font-size: 12px; white-space: nowrap; }
        .kind[class*="k-refuse"] { background: #fcebec; color: #a3232b; }
        .kind[class*="k-relay"] { background: #fdf0e1; color: #9a5300; }
        .kind[class*="k-accept"], .kind[class*="k-allow"] { background: #e8f6ee; color: #1f6e41; }
        .kind[class*="k-deny"] { background: #f3eaf9; color: #5c2d80; }
        .kind[class*="k-tempfail"] { background: #fdf6dc; color: #7d6200; }
        .verdict-tag { color: var(--muted); font-size: 11.5px; margin-top: 4px; }
        .subject { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; font-weight: 600; word-break: break-all; }
        .sides { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 6px; }
        .side { background: #f7f8fb; border-radius: 6px; padding: 6px 8px; }
        .side.right { background: #fff6ea; }
        .side-label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
        .side pre { margin: 2px 0 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
        ul.because { margin: 6px 0 0; padding-left: 18px; color: var(--muted); font-size: 12px; }
        footer { color: var(--muted); font-size: 12px; padding: 4px 32px 28px; }
        @media print { .filters { display: none; } header { background: #fff; color: var(--ink); } }

        """

    static let script = """
        (function () {
          "use strict";
          var root = document.documentElement;
          window.addEventListener("error", function (event) {
            root.setAttribute("data-script-error", String(event.message || "error"));
          });
          var query = document.getElementById("q");
          var kind = document.getElementById("kind");
          var verdict = document.getElementById("verdict-filter");
          var table = document.getElementById("differences");
          var shown = document.getElementById("shown");
          if (!query || !kind || !verdict || !table || !shown) { return; }
          var rows = Array.prototype.slice.call(table.tBodies[0].rows);
          var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
          function choose(select, value) {
            select.value = "";
            for (var i = 0; i < select.options.length; i++) {
              if (select.options[i].value === value) { select.value = value; }
            }
          }
          function apply() {
            var text = query.value.trim().toLowerCase();
            var count = 0;
            rows.forEach(function (row, index) {
              var visible = (!kind.value || row.getAttribute("data-kind") === kind.value)
                && (!verdict.value || row.getAttribute("data-verdict") === verdict.value)
                && (!text || texts[index].indexOf(text) >= 0);
              if (visible) { row.removeAttribute("hidden"); count++; } else { row.setAttribute("hidden", ""); }
            });
            shown.textContent = String(count);
            table.setAttribute("data-shown", String(count));
            query.setAttribute("value", query.value);
            table.setAttribute("data-filter", [query.value, kind.value, verdict.value].join("|"));
          }
          function readFragment() {
            var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
            query.value = params.get("q") || "";
            choose(kind, params.get("kind") || "");
            choose(verdict, params.get("verdict") || "");
            apply();
          }
          function writeFragment() {
            var params = new URLSearchParams();
            if (query.value) { params.set("q", query.value); }
            if (kind.value) { params.set("kind", kind.value); }
            if (verdict.value) { params.set("verdict", verdict.value); }
            try { history.replaceState(null, "", "#" + params.toString()); } catch (e) { /* file: URLs may refuse */ }
          }
          query.addEventListener("input", function () { apply(); writeFragment(); });
          kind.addEventListener("change", function () { apply(); writeFragment(); });
          verdict.addEventListener("change", function () { apply(); writeFragment(); });
          window.addEventListener("hashchange", readFragment);
          readFragment();
          root.setAttribute("data-script", "ready");
        })();

        """
}
