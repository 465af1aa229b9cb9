// A drill run's board (/drills/runs/<run>): server-sent events from the run's own /events replace the rows
// (`board`: the drill's incident states) and the run's status (`status`: running / finished / failed, exit code,
// the tail of its output, the report once written). No framework; without this script a reload shows the same.
(function () {
  const run = document.getElementById("drill-run");
  const table = document.getElementById("drill-board");
  if (!run || !table || !window.EventSource) return;
  const live = document.getElementById("live");
  const labels = JSON.parse(run.dataset.labels || "{}");
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  function render(rows) {
    table.querySelector("tbody").replaceChildren(...rows.map(r => {
      const tr = document.createElement("tr");
      tr.dataset.code = r.code; tr.dataset.level = r.level;
      const first = cell(r.code + " ");
      const badge = document.createElement("span"); badge.className = "drill"; badge.textContent = table.dataset.drill;
      first.appendChild(badge);
      const level = document.createElement("td"); const lv = document.createElement("span");
      lv.className = "level " + r.level; lv.textContent = r.level_name; level.appendChild(lv);
      const by = cell(r.by); by.className = "by";
      tr.append(first, level, cell(r.place), cell(r.what), cell(r.since), cell(r.stage), by, cell(String(r.tier)),
                cell(r.report));
      return tr;
    }));
    document.getElementById("drill-empty").hidden = rows.length > 0;
  }
  function status(s) {
    const el = document.getElementById("drill-status");
    el.className = "status " + s.status; el.dataset.status = s.status; el.textContent = labels[s.status] || s.status;
    const exit = document.getElementById("drill-exit");
    exit.textContent = s.exit_code === null || s.exit_code === undefined ? "" : exit.dataset.label + " " + s.exit_code;
    const report = document.getElementById("drill-report");
    if (s.report_url) { report.href = s.report_url; report.hidden = false; }
    document.getElementById("drill-log").textContent = s.tail || "";
  }
  const source = new EventSource(run.dataset.events);
  source.addEventListener("board", e => { render(JSON.parse(e.data)); live.dataset.state = live.dataset.live; });
  source.addEventListener("status", e => status(JSON.parse(e.data)));
  source.onerror = () => { live.dataset.state = live.dataset.offline; };
})();
