// The board's live updates: server-sent events from /events replace the rows; a new orange or red incident
// flashes and sounds. No framework: the page works without this script too (a reload shows the same).
(function () {
  // The language switch comes back to this page.
  document.querySelectorAll("a.lang").forEach(a => {
    a.href = a.pathname + "?next=" + encodeURIComponent(location.pathname + location.search);
  });
  const table = document.getElementById("board");
  if (!table || !window.EventSource) return;
  const live = document.getElementById("live");
  let known = new Set(Array.from(table.querySelectorAll("tbody tr")).map(tr => tr.dataset.code));
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  // Browsers allow sound only after a click on the page: until then a button says so (a wall screen is clicked once
  // when it is set up), and a new orange or red row still flashes.
  const sound = document.getElementById("sound");
  let audio = null;
  function audible() {
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { return false; }
    return audio.state === "running";
  }
  function unlock() {
    if (audio === null) audible();
    if (audio) audio.resume().then(() => { if (sound) sound.hidden = audio.state === "running"; });
  }
  if (sound) {
    sound.hidden = audible();
    sound.addEventListener("click", unlock);
  }
  document.addEventListener("click", unlock, { once: true });
  function beep() {
    if (!audible()) { if (sound) sound.hidden = false; return; }
    const osc = audio.createOscillator(); osc.frequency.value = 880; osc.connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.4);
  }
  // Rows are kept per incident and only their cells change, so a row's flash is not restarted by the next update
  // (a receipt, a tier) and a click on it is not lost.
  function render(rows) {
    const body = table.querySelector("tbody");
    const byCode = new Map(Array.from(body.children).map(tr => [tr.dataset.code, tr]));
    const fresh = [];
    const ordered = rows.map(r => {
      let tr = byCode.get(r.code);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.code = r.code;
        if (!known.has(r.code)) { tr.classList.add("fresh"); if (r.level === "orange" || r.level === "red") fresh.push(r); }
      }
      tr.dataset.level = r.level;
      const first = document.createElement("td"); const a = document.createElement("a");
      a.href = "/incidents/" + encodeURIComponent(r.code); a.textContent = r.code; first.appendChild(a);
      if (r.drill) { const d = document.createElement("span"); d.className = "drill"; d.textContent = " " + table.dataset.drill; first.appendChild(d); }
      const level = document.createElement("td"); const badge = document.createElement("span");
      badge.className = "level " + r.level; badge.textContent = r.level_name;
      level.appendChild(badge);
      const by = cell(r.by); by.className = "by";
      const delivery = cell(r.delivery); delivery.className = "delivery";
      const cells = [first, level, cell(r.place), cell(r.what), cell(r.since), cell(r.stage), by, cell(String(r.tier)),
                     cell(r.next_minutes === null ? "" : r.next_minutes + " min"), delivery, cell(r.report)];
      if (tr.textContent !== cells.map(c => c.textContent).join("") || tr.children.length !== cells.length) {
        tr.replaceChildren(...cells);
      }
      return tr;
    });
    const same = ordered.length === body.children.length && ordered.every((tr, i) => body.children[i] === tr);
    if (!same) body.replaceChildren(...ordered);
    known = new Set(rows.map(r => r.code));
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = rows.length > 0;
    if (fresh.length) beep();
  }
  const source = new EventSource("/events");
  source.addEventListener("board", e => { render(JSON.parse(e.data)); live.dataset.state = live.dataset.live; });
  source.onerror = () => { live.dataset.state = live.dataset.offline; };
})();
