// /map: the couverture / usage map with its legend, millésime switch, polygon attributes on click, and the
// territory search that opens the dashboard.
import { API, settings as loadSettings } from "../api.js";
import { setupShell, t } from "../i18n.js";
import { searchBox } from "../search.js";
import { FILL, collectionBounds, createMap, describe, legendPresent, loaded, popup, renderLegend, showOcs } from "../mapview.js";

setupShell();
const app = document.getElementById("app");
app.innerHTML = `<div class="layout">
  <aside class="panel">
    <div id="search"></div>
    <label for="style">${t("map.layer")}</label>
    <select id="style"><option value="couverture">${t("map.couverture")}</option><option value="usage">${t("map.usage")}</option></select>
    <label for="millesime">${t("map.millesime")}</label>
    <select id="millesime"></select>
    <p id="partial" class="note"></p>
    <div id="legend" class="legend"></div>
  </aside>
  <div id="map" class="map"></div>
</div>`;

searchBox(document.getElementById("search"));
const settings = await loadSettings();
const years = settings.millesimes["ocsge-occupation-sol"] || [];
const yearSelect = document.getElementById("millesime");
yearSelect.innerHTML = years.map((y) => `<option value="${y}">${y}</option>`).join("");
yearSelect.value = years.at(-1) ?? "";
const styleSelect = document.getElementById("style");
const legend = document.getElementById("legend");
const partial = document.getElementById("partial");

// The polygons of segmentation runs, once a run is published (the collection is listed from then on).
const RUNS = "ocsge-segmentation";
if ((await fetch(new URL(`collections/${RUNS}?f=json`, API)).catch(() => null))?.ok) {
  styleSelect.insertAdjacentHTML("beforeend", `<option value="segmentation">${t("map.segmentation")}</option>`);
}

const map = createMap("map", settings, await collectionBounds("ocsge-occupation-sol"));
window.ocsgeMap = map;  // for the browser tests and the curious
await loaded(map);
let style = null;
let shownRuns = false;

async function refresh() {
  map.getContainer().dataset.ready = "false";
  partial.textContent = "";
  const runs = styleSelect.value === "segmentation";  // runs have no millésime
  yearSelect.disabled = runs;
  if (runs && !shownRuns) {
    shownRuns = true;
    const bounds = await collectionBounds(RUNS);
    if (bounds) map.fitBounds(bounds, { animate: false, maxZoom: 17 });
  }
  style = await showOcs(map, styleSelect.value, runs ? "" : yearSelect.value, (truncated) => {
    partial.textContent = truncated ? t("map.partial") : "";
  }, new URLSearchParams(location.search).get("source") || "auto");
  map.once("idle", () => {
    renderLegend(legend, legendPresent(map, style));
    map.getContainer().dataset.ready = "true";
  });
  map.triggerRepaint();
}

map.on("idle", () => { if (style) renderLegend(legend, legendPresent(map, style)); });
styleSelect.addEventListener("change", refresh);
yearSelect.addEventListener("change", refresh);
map.on("click", FILL, (event) => {
  popup(map, event.lngLat, describe(event.features[0].properties, settings.nomenclature));
});
map.on("mouseenter", FILL, () => { map.getCanvas().style.cursor = "pointer"; });
map.on("mouseleave", FILL, () => { map.getCanvas().style.cursor = ""; });
await refresh();
