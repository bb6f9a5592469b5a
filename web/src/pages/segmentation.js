// /map/segmentation: choose an extent on the map (ortho from the server's WMS) or upload GeoTIFFs, run the
// `segmentation` process as a job, follow its progress, and overlay the resulting polygons in the couverture palette.
import { escapeHtml, executeAsync, getJson, job, mapStyle, settings as loadSettings } from "../api.js";
import { setupShell, t } from "../i18n.js";
import { toLambert93 } from "../lambert93.js";
import { collectionBounds, createMap, describe, loaded, popup } from "../mapview.js";

setupShell();
const RESOLUTION_M = 0.2;
const MAX_PIXELS = 25_000_000;
const app = document.getElementById("app");
app.innerHTML = `<div class="layout">
  <aside class="panel">
    <h1>${t("seg.title")}</h1>
    <fieldset><legend>${t("seg.mode")}</legend>
      <label><input type="radio" name="mode" value="bbox" checked> ${t("seg.bbox")}</label>
      <label><input type="radio" name="mode" value="upload"> ${t("seg.upload")}</label>
    </fieldset>
    <div id="bbox-mode"><p class="note">${t("seg.draw")}</p><p id="bbox-text" class="note"></p>
      <p class="note">${t("seg.wms")} : <code id="wms"></code></p></div>
    <div id="upload-mode" hidden>
      <label for="rgb">${t("seg.rgb")}</label><input id="rgb" type="file" accept=".tif,.tiff,image/tiff">
      <label for="irc">${t("seg.irc")}</label><input id="irc" type="file" accept=".tif,.tiff,image/tiff">
    </div>
    <button id="run" type="button">${t("seg.run")}</button>
    <div id="job" class="job"><progress id="progress" max="100" value="0" hidden></progress>
      <p><span id="job-status"></span> <span id="job-percent"></span></p><p id="job-message" class="note"></p></div>
  </aside>
  <div id="map" class="map"></div>
</div>`;

const settings = await loadSettings();
document.getElementById("wms").textContent = settings.ortho_wms;
const map = createMap("map", settings, await collectionBounds("ocsge-occupation-sol"));
window.ocsgeMap = map;
await loaded(map);
map.addSource("ortho", { type: "raster", tileSize: 256, tiles: [`${settings.ortho_wms}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap`
  + "&LAYERS=ORTHOIMAGERY.ORTHOPHOTOS&STYLES=&CRS=EPSG:3857&BBOX={bbox-epsg-3857}&WIDTH=256&HEIGHT=256&FORMAT=image/jpeg"] });
map.addLayer({ id: "ortho", type: "raster", source: "ortho", minzoom: 14 });
map.addSource("bbox", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
map.addLayer({ id: "bbox", type: "line", source: "bbox", paint: { "line-color": "#d7191c", "line-width": 2 } });

const modeOf = () => document.querySelector("input[name=mode]:checked").value;
for (const radio of document.querySelectorAll("input[name=mode]")) {
  radio.addEventListener("change", () => {
    document.getElementById("bbox-mode").hidden = modeOf() !== "bbox";
    document.getElementById("upload-mode").hidden = modeOf() !== "upload";
  });
}

let corners = [];
let bbox = null;  // Lambert-93
map.on("click", (event) => {
  if (modeOf() !== "bbox") return;
  corners = corners.length === 2 ? [event.lngLat] : [...corners, event.lngLat];
  if (corners.length < 2) return;
  const [a, b] = corners;
  const ring = [[a.lng, a.lat], [b.lng, a.lat], [b.lng, b.lat], [a.lng, b.lat], [a.lng, a.lat]];
  map.getSource("bbox").setData({ type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: {} });
  const xy = ring.slice(0, 4).map(([lng, lat]) => toLambert93(lng, lat));
  bbox = [Math.min(...xy.map((p) => p[0])), Math.min(...xy.map((p) => p[1])), Math.max(...xy.map((p) => p[0])), Math.max(...xy.map((p) => p[1]))]
    .map((v) => Math.round(v * 10) / 10);
  const pixels = ((bbox[2] - bbox[0]) / RESOLUTION_M) * ((bbox[3] - bbox[1]) / RESOLUTION_M);
  document.getElementById("bbox-text").textContent = `EPSG:2154 ${bbox.join(", ")} — ${(pixels / 1e6).toFixed(1)} Mpx`
    + (pixels > MAX_PIXELS ? " > 25 Mpx" : "");
});

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function inputs() {
  if (modeOf() === "bbox") {
    if (!bbox) throw new Error(t("seg.nobbox"));
    return { image: { wms: { url: settings.ortho_wms, bbox, crs: "EPSG:2154", resolution: RESOLUTION_M } } };
  }
  const [rgb, irc] = ["rgb", "irc"].map((id) => document.getElementById(id).files[0]);
  if (!rgb) throw new Error(t("seg.nofile"));
  return { image: { value: await base64(rgb) }, ...(irc ? { irc: { value: await base64(irc) } } : {}) };
}

const statusText = document.getElementById("job-status");
const percentText = document.getElementById("job-percent");
const messageText = document.getElementById("job-message");
const progressBar = document.getElementById("progress");

async function follow(id) {
  for (;;) {
    const state = await job(id);
    const percent = Number(state.progress ?? 0);
    statusText.textContent = `${t("seg.status")} : ${state.status}`;
    percentText.textContent = `${percent} %`;
    percentText.dataset.value = percent;
    messageText.textContent = state.message ?? "";
    progressBar.hidden = false;
    progressBar.value = percent;
    if (["successful", "failed", "dismissed"].includes(state.status)) return state;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function overlay(id) {
  const geojson = await getJson(`jobs/${id}/results?f=json`);
  const couverture = await mapStyle("couverture");
  for (const layer of ["segmentation-outline", "segmentation-fill"]) if (map.getLayer(layer)) map.removeLayer(layer);
  if (map.getSource("segmentation")) map.removeSource("segmentation");
  map.addSource("segmentation", { type: "geojson", data: geojson });
  map.addLayer({ id: "segmentation-fill", type: "fill", source: "segmentation",
    paint: { "fill-color": couverture.layers[0].paint["fill-color"], "fill-opacity": 0.8 } });
  map.addLayer({ id: "segmentation-outline", type: "line", source: "segmentation", paint: { "line-color": "#000", "line-width": 0.5 } });
  const points = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(points));
  const coords = geojson.features.flatMap((f) => points(f.geometry.coordinates));
  const xs = coords.map((c) => c[0]);
  const ys = coords.map((c) => c[1]);
  if (xs.length) map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, duration: 0 });
  map.getContainer().dataset.result = String(geojson.features.length);
}

map.on("click", "segmentation-fill", (event) => {
  popup(map, event.lngLat, describe(event.features[0].properties, settings.nomenclature));
});

document.getElementById("run").addEventListener("click", async () => {
  const button = document.getElementById("run");
  button.disabled = true;
  messageText.textContent = "";
  try {
    const id = await executeAsync("segmentation", await inputs(), { polygones: {} });
    document.getElementById("job").dataset.job = id;
    const state = await follow(id);
    if (state.status !== "successful") throw new Error(`${t("seg.failed")} : ${state.message ?? state.status}`);
    await overlay(id);
    messageText.textContent = t("seg.done");
  } catch (error) {
    messageText.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
  } finally {
    button.disabled = false;
  }
});
