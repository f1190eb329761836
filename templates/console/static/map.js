// The map of cases: Leaflet (served from this server) over the office's tiles, when there are
// any; without tiles the cases still show on a blank background. The server counts the cases
// per grid cell for the box on screen (/console/map.json), so a million tickets cost the browser
// a few hundred circles. Close in, single cases come one by one and Leaflet.markercluster
// spreads those that share a spot. A case without a GPS pin comes at its village's centre,
// marked `approximate`: drawn hollow and dashed, and its popup says the place is approximate.
// The list under the map is the same data for keyboard and screen-reader users, and for when
// this script cannot run.
(function () {
  "use strict";
  var box = document.getElementById("map");
  if (!box || !window.L) {
    return;
  }
  var data = box.dataset;
  var note = document.getElementById("map-note");
  var language = document.documentElement.lang || "id";
  var short = new Intl.NumberFormat(language, { notation: "compact", maximumFractionDigits: 1 });

  // Labels of category and status codes, as the filter form already names them.
  function labelsOf(selectId) {
    var found = {};
    var select = document.getElementById(selectId);
    Array.prototype.forEach.call(select ? select.options : [], function (option) {
      found[option.value] = option.textContent.trim();
    });
    return found;
  }
  var categories = labelsOf("category");
  var statuses = labelsOf("status");

  var map = L.map(box, { minZoom: 3, maxZoom: 19 });
  if (data.tiles) {
    L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
  }
  var bounds = data.bounds ? data.bounds.split(",").map(Number) : null;
  if (bounds && bounds.length === 4) {
    map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]);
  } else {
    map.setView([-2.5, 118], 5); // no case placed yet: Indonesia
  }
  var cells = L.layerGroup().addTo(map);
  var singles = (L.markerClusterGroup ? L.markerClusterGroup({ maxClusterRadius: 40 }) : L.layerGroup()).addTo(map);

  function caseCard(spot) {
    var card = document.createElement("div");
    var link = document.createElement("a");
    link.href = "/console/cases/" + encodeURIComponent(spot.number);
    link.textContent = data.wordOpen + " " + spot.number;
    var about = document.createElement("div");
    about.textContent = (categories[spot.category] || spot.category) + " · " + (statuses[spot.status] || spot.status);
    card.appendChild(link);
    card.appendChild(about);
    if (spot.approximate) {
      var where = document.createElement("div");
      where.className = "approximate";
      where.textContent = data.wordApproximate;
      card.appendChild(where);
    }
    return card;
  }

  function approximateIcon(count) {
    return L.divIcon({
      html: "<div><span>" + (count > 1 ? short.format(count) : "?") + "</span></div>",
      className: "marker-approximate" + (count > 1 ? " many" : ""),
      iconSize: L.point(40, 40),
    });
  }

  function single(spot) {
    var title = spot.approximate ? spot.number + " (" + data.wordApproximate + ")" : spot.number;
    var options = { title: title, alt: title };
    if (spot.approximate) {
      options.icon = approximateIcon(1);
    }
    return L.marker([spot.lat, spot.lon], options).bindPopup(caseCard(spot));
  }

  function cell(spot) {
    var count = Number(spot.count);
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    var icon = spot.approximate ? approximateIcon(count) : L.divIcon({
      html: "<div><span>" + short.format(count) + "</span></div>",
      className: "marker-cluster marker-cluster-" + size,
      iconSize: L.point(40, 40),
    });
    var title = count + " " + data.wordCases + (spot.approximate ? " (" + data.wordApproximate + ")" : "");
    var marker = L.marker([spot.lat, spot.lon], { icon: icon, title: title });
    marker.on("click", function () {
      map.setView(marker.getLatLng(), Math.min(map.getZoom() + 2, map.getMaxZoom()));
    });
    return marker;
  }

  function draw(answer) {
    cells.clearLayers();
    singles.clearLayers();
    answer.spots.forEach(function (spot) {
      if (spot.count === 1) {
        (answer.points ? singles : cells).addLayer(single(spot));
      } else {
        cells.addLayer(cell(spot));
      }
    });
    note.textContent = answer.truncated ? data.wordTruncated : "";
  }

  var pending = null;
  function load() {
    if (pending) {
      pending.abort();
    }
    pending = new AbortController();
    var shown = map.getBounds();
    var edges = [shown.getSouth(), shown.getWest(), shown.getNorth(), shown.getEast()];
    var query = new URLSearchParams({
      bbox: edges.map(function (v) { return v.toFixed(6); }).join(","),
      zoom: String(map.getZoom()),
      status: data.status,
    });
    if (data.category) {
      query.set("category", data.category);
    }
    fetch("/console/map.json?" + query.toString(), {
      signal: pending.signal, credentials: "same-origin", headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(draw)
      .catch(function (error) {
        if (error.name !== "AbortError") {
          note.textContent = data.wordFailed;
        }
      });
  }

  map.on("moveend", load);
  load();
})();
