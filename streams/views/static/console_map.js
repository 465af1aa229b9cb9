// The console's map (/map): draws /map/features.geojson with Leaflet (vendored from npm, no CDN). No base layer
// unless the console is configured with a tile URL (data-tiles): the plan's features on a plain background.
// Colours are classes of console_map.css (the page's policy allows no inline style); popups are built with
// textContent, never HTML from the data.
(function () {
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const words = JSON.parse(el.dataset.words || "{}");
  const status = document.getElementById("map-status");
  const map = L.map(el, { zoomSnap: 0.25 });
  map.attributionControl.setPrefix(false);
  if (el.dataset.tiles) L.tileLayer(el.dataset.tiles, { maxZoom: 18 }).addTo(map);
  map.setView([0, 0], 2);  // until the features arrive and the map fits them

  function node(tag, text, cls) {
    const n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = text;
    if (cls) n.className = cls;
    return n;
  }
  function qty(value) { return String(Math.round(value * 1000) / 1000); }
  const verdicts = { covered: "map_covered", shortfall: "map_shortfall", none: "map_none", unknown: "map_unknown" };

  function sourcePopup(p) {
    const box = node("div", null, "map-popup source");
    box.append(node("b", p.name), node("div", words[verdicts[p.verdict]] || p.verdict, "verdict " + p.verdict));
    for (const item of p.items) {
      const block = node("div", null, "item" + (item.covered ? "" : " short"));
      block.append(node("div", item.name + " · " + words.map_required + " " + qty(item.required) + " " + item.unit +
        " · " + words.map_in_window + " " + qty(item.in_window) + " " + item.unit + " (" + item.window_minutes + " " +
        words.map_minutes + ")" + (item.shortfall > 0 ? " · " + words.map_short + " " + qty(item.shortfall) + " " +
        item.unit : "")));
      const list = node("ul", null, "reaches");
      for (const r of item.reaches) {
        list.append(node("li", r.name + " " + qty(r.quantity) + " " + item.unit + " " + Math.round(r.minutes) + " " +
          words.map_minutes, "reach"));
      }
      if (!item.reaches.length) list.append(node("li", words.map_empty, "reach none"));
      block.append(list);
      box.append(block);
    }
    return box;
  }

  function depotPopup(p) {
    const box = node("div", null, "map-popup depot");
    box.append(node("b", p.name), node("div", words.map_mobilise + " " + p.mobilisation_minutes + " " +
      words.map_minutes));
    const list = node("ul", null, "stock");
    for (const s of p.stock) {
      list.append(node("li", s.name + " " + qty(s.available) + " / " + qty(s.on_hand) + " " + s.unit));
    }
    if (!p.stock.length) list.append(node("li", words.map_empty));
    box.append(node("div", words.map_stock), list);
    return box;
  }

  function stationPopup(p) {
    const box = node("div", null, "map-popup station");
    box.append(node("b", p.name), node("div", words["map_" + p.state] || p.state, "state " + p.state));
    return box;
  }

  function draw(data) {
    const groups = { road: [], reach_area: [], reach: [], river: [], depot: [], station: [], source: [] };
    const depotIndex = {};
    data.features.filter(f => f.properties.layer === "depot")
      .forEach((f, i) => { depotIndex[f.properties.id] = i % 6; });
    const sourceAt = data.features.filter(f => f.properties.layer === "source")
      .map(f => L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]));
    const besideSource = latlng => sourceAt.some(s => s.distanceTo(latlng) < 2000);
    if (!map.getPane("sources")) map.createPane("sources");  // above the markers: sources are what one clicks
    for (const f of data.features) {
      const p = f.properties;
      let layer = null;
      if (p.layer === "road") {
        layer = L.geoJSON(f, { interactive: false, style: { className: "map-road hw-" + p.highway, weight: 2 } });
      } else if (p.layer === "reach_area") {
        layer = L.geoJSON(f, { interactive: false,
          style: { className: "map-reach-area reach-" + depotIndex[p.depot], weight: 1 } });
      } else if (p.layer === "reach") {
        layer = L.geoJSON(f, { interactive: false,
          style: { className: "map-reach reach-" + depotIndex[p.depot], weight: 5 } });
      } else if (p.layer === "river") {
        layer = L.geoJSON(f, { style: { className: "map-river", weight: 4 } })
          .bindTooltip(p.name + " " + p.travel_minutes + " " + words.map_minutes);
      } else if (p.layer === "depot") {
        const [lon, lat] = f.geometry.coordinates;
        // a depot in the same town as a source is drawn beside it (down and left), not under it
        layer = L.marker([lat, lon], { title: p.name, keyboard: true, icon: L.divIcon({
          className: "map-depot reach-" + depotIndex[p.id], iconSize: [14, 14],
          iconAnchor: besideSource(L.latLng(lat, lon)) ? [21, -7] : [7, 7] }) })
          .bindPopup(() => depotPopup(p));
      } else if (p.layer === "station") {
        const [lon, lat] = f.geometry.coordinates;
        // a station without its own location is drawn beside its source (up and right), not over it
        layer = L.marker([lat, lon], { title: p.name, keyboard: true, icon: L.divIcon({
          className: "map-station " + p.state, iconSize: [10, 10], iconAnchor: p.at_source ? [-9, 19] : [5, 5] }) })
          .bindPopup(() => stationPopup(p));
      } else if (p.layer === "source") {
        const [lon, lat] = f.geometry.coordinates;
        layer = L.circleMarker([lat, lon], { pane: "sources", radius: 10, weight: 2,
                                             className: "map-source " + p.verdict })
          .bindPopup(() => sourcePopup(p), { maxWidth: 420, maxHeight: 320 });
        layer.on("add", () => { const path = layer.getElement(); if (path) path.dataset.source = p.id; });
      }
      if (layer) groups[p.layer].push(layer);
    }
    const overlays = {};
    const names = { road: "map_roads", reach_area: "map_reach", reach: "map_reach", river: "map_rivers",
                    depot: "map_depots", station: "map_stations", source: "map_sources" };
    const reach = L.layerGroup(groups.reach_area.concat(groups.reach));
    const order = [["road", L.layerGroup(groups.road)], ["reach", reach], ["river", L.layerGroup(groups.river)],
                   ["station", L.layerGroup(groups.station)], ["source", L.layerGroup(groups.source)],
                   ["depot", L.layerGroup(groups.depot)]];
    for (const [key, group] of order) { group.addTo(map); overlays[words[names[key]]] = group; }
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
    const all = L.featureGroup(groups.source.concat(groups.depot, groups.station, groups.road));
    if (all.getLayers().length) map.fitBounds(all.getBounds(), { padding: [30, 30] });
    const notes = [];
    if (data.properties.roads_error) notes.push(words.map_no_roads);
    if (data.properties.ledger_error) notes.push(data.properties.ledger_error);
    status.textContent = notes.join(" · ");
    el.dataset.sources = groups.source.length;
    el.dataset.depots = groups.depot.length;
    el.dataset.ready = "1";
  }

  fetch(el.dataset.features, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
    .then(r => { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); })
    .then(draw)
    .catch(e => { status.textContent = String(e); el.dataset.ready = "error"; });
})();
