// The case page's small map. It is drawn only when Leaflet and a tile server are there; the
// coordinates and the OpenStreetMap link beside it serve everyone else.
(function () {
  "use strict";
  var box = document.getElementById("case-map");
  if (!box || !window.L || !box.dataset.tiles) {
    return;
  }
  var lat = parseFloat(box.dataset.lat);
  var lon = parseFloat(box.dataset.lon);
  if (!isFinite(lat) || !isFinite(lon)) {
    return;
  }
  box.hidden = false;
  var map = window.L.map(box, { scrollWheelZoom: false }).setView([lat, lon], 16);
  window.L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution || "" }).addTo(map);
  window.L.circleMarker([lat, lon], { radius: 9, weight: 3 }).addTo(map);
})();
