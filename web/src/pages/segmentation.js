// /map/segmentation: draw an extent on the map (ortho fetched by the server from a WMS) or upload GeoTIFFs, run the
// `segmentation` process as a job, follow its progress, and overlay the resulting polygons in the couverture palette.
import { escapeHtml, executeAsync, getJson, job, mapStyle, pageUrl, settings as loadSettings } from "../api.js";
import { setupShell, t } from "../i18n.js";
import { toLambert93 } from "../lambert93.js";
import { collectionBounds, createMap, describe, loaded, popup } from "../mapview.js";

setupShell();
/** BD ORTHO's ground resolution: the model was trained on it. */
const RESOLUTION_M = 0.2;
/** The process refuses more than this per call (docs/segmentation.md). */
const MAX_PIXELS = 25_000_000;
const POLL_MS = 700;
const ENDED = ["successful", "failed", "dismissed"];
/** The ortho backdrop is drawn from this zoom on (about 10 m a pixel): farther out, the WMS would be asked for
 *  whole regions at once. */
const ORTHO_MIN_ZOOM = 14;
const app = document.getElementById("app");
app.innerHTML = `<div class="layout">
  <aside class="panel">
    <h1>${t("seg.title")}</h1>
    <fieldset><legend>${t("seg.mode")}</legend>
      <label><input type="radio" name="mode" value="bbox" checked> ${t("seg.bbox")}</label>
      <label><input type="radio" name="mode" value="upload"> ${t("seg.upload")}</label>
    </fieldset>
    <div id="bbox-mode">
      <label for="wms">${t("seg.wms")}</label><input id="wms" type="url">
      <button id="draw" type="button">${t("seg.draw")}</button><p class="note">${t("seg.draw.help")}</p>
      <p id="zoom-hint" class="note">${t("seg.zoom", { zoom: ORTHO_MIN_ZOOM })}</p>
      <p id="bbox-text" class="note"></p></div>
    <div id="upload-mode" hidden>
      <label for="rgb">${t("seg.rgb")}</label><input id="rgb" type="file" accept=".tif,.tiff,image/tiff">
      <label for="irc">${t("seg.irc")}</label><input id="irc" type="file" accept=".tif,.tiff,image/tiff">
    </div>
    <button id="run" type="button">${t("seg.run")}</button>
    <div id="job" class="job"><progress id="progress" max="100" value="0" hidden></progress>
      <p><span id="job-status"></span> <span id="job-percent"></span></p><p id="job-message" class="note"></p></div>
    <div id="result-panel" hidden><label for="opacity">${t("seg.opacity")}</label>
      <input id="opacity" type="range" min="0" max="1" step="0.1" value="0.8"></div>
  </aside>
  <div id="map" class="map"></div>
</div>`;

const settings = await loadSettings();
const wmsInput = document.getElementById("wms");
wmsInput.value = settings.ortho_wms;
const map = createMap("map", settings, await collectionBounds("ocsge-occupation-sol"));
window.ocsgeMap = map;  // for the browser tests and the curious
await loaded(map);

/** The ortho of the WMS as the backdrop (Web Mercator tiles; the process itself asks for Lambert-93). */
const orthoTiles = (url) => [`${url}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=ORTHOIMAGERY.ORTHOPHOTOS&STYLES=`
  + "&CRS=EPSG:3857&BBOX={bbox-epsg-3857}&WIDTH=256&HEIGHT=256&FORMAT=image/png"];
map.addSource("ortho", { type: "raster", tileSize: 256, tiles: orthoTiles(wmsInput.value) });
map.addLayer({ id: "ortho", type: "raster", source: "ortho", minzoom: ORTHO_MIN_ZOOM });
const zoomHint = document.getElementById("zoom-hint");
const showZoomHint = () => { zoomHint.hidden = map.getZoom() >= ORTHO_MIN_ZOOM; };
map.on("zoomend", showZoomHint);
showZoomHint();
map.addSource("bbox", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
map.addLayer({ id: "bbox", type: "line", source: "bbox", paint: { "line-color": "#d7191c", "line-width": 2 } });
wmsInput.addEventListener("change", () => map.getSource("ortho").setTiles(orthoTiles(wmsInput.value)));

const modeOf = () => document.querySelector("input[name=mode]:checked").value;
for (const radio of document.querySelectorAll("input[name=mode]")) {
  radio.addEventListener("change", () => {
    document.getElementById("bbox-mode").hidden = modeOf() !== "bbox";
    document.getElementById("upload-mode").hidden = modeOf() !== "upload";
  });
}

// Drawing: after "draw", two clicks give the opposite corners; the extent is sent in Lambert-93.
let drawing = false;
let corners = [];
let bbox = null;
document.getElementById("draw").addEventListener("click", () => {
  drawing = true;
  corners = [];
  map.getCanvas().style.cursor = "crosshair";
});
map.on("click", (event) => {
  if (!drawing) return;
  corners.push(event.lngLat);
  if (corners.length < 2) return;
  drawing = false;
  map.getCanvas().style.cursor = "";
  const [a, b] = corners;
  const ring = [[a.lng, a.lat], [b.lng, a.lat], [b.lng, b.lat], [a.lng, b.lat], [a.lng, a.lat]];
  map.getSource("bbox").setData({ type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: {} });
  const xy = ring.slice(0, 4).map(([lng, lat]) => toLambert93(lng, lat));
  const xs = xy.map((p) => p[0]);
  const ys = xy.map((p) => p[1]);
  bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)].map((v) => Math.round(v * 10) / 10);
  const pixels = ((bbox[2] - bbox[0]) / RESOLUTION_M) * ((bbox[3] - bbox[1]) / RESOLUTION_M);
  const text = document.getElementById("bbox-text");
  text.textContent = `EPSG:2154 ${bbox.join(", ")} — ${(pixels / 1e6).toFixed(2)} Mpx`;
  text.dataset.bbox = bbox.join(",");
  text.classList.toggle("error", pixels > MAX_PIXELS);
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
    return { image: { wms: { url: wmsInput.value, bbox, crs: "EPSG:2154", resolution: RESOLUTION_M } } };
  }
  const [rgb, irc] = ["rgb", "irc"].map((id) => document.getElementById(id).files[0]);
  if (!rgb) throw new Error(t("seg.nofile"));
  return { image: { value: await base64(rgb) }, ...(irc ? { irc: { value: await base64(irc) } } : {}) };
}

const statusText = document.getElementById("job-status");
const percentText = document.getElementById("job-percent");
const messageText = document.getElementById("job-message");
const progressBar = document.getElementById("progress");
const opacity = document.getElementById("opacity");

/** Poll the job's status document until it ends, showing its progress as the server reports it. */
async function follow(id) {
  for (;;) {
    const state = await job(id);
    const percent = Number(state.progress ?? 0);
    statusText.textContent = `${t("seg.status")} : ${t("status." + state.status)}`;
    statusText.dataset.status = state.status;
    percentText.textContent = `${percent} %`;
    percentText.dataset.value = percent;
    messageText.textContent = state.message ?? "";
    progressBar.hidden = false;
    progressBar.value = percent;
    if (ENDED.includes(state.status)) return state;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The job's polygons over the map, filled with the couverture map's own colour expression. */
async function overlay(id) {
  const geojson = await getJson(`jobs/${id}/results?f=json`);
  const couverture = await mapStyle("couverture");
  for (const layer of ["segmentation-outline", "segmentation-fill"]) if (map.getLayer(layer)) map.removeLayer(layer);
  if (map.getSource("segmentation")) map.removeSource("segmentation");
  map.addSource("segmentation", { type: "geojson", data: geojson });
  map.addLayer({ id: "segmentation-fill", type: "fill", source: "segmentation",
    paint: { "fill-color": couverture.layers[0].paint["fill-color"], "fill-opacity": Number(opacity.value) } });
  map.addLayer({ id: "segmentation-outline", type: "line", source: "segmentation", paint: { "line-color": "#000", "line-width": 0.5 } });
  const points = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(points));
  const coords = geojson.features.flatMap((f) => points(f.geometry.coordinates));
  const xs = coords.map((c) => c[0]);
  const ys = coords.map((c) => c[1]);
  if (xs.length) map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, duration: 0 });
  document.getElementById("result-panel").hidden = false;
  map.getContainer().dataset.result = String(geojson.features.length);
}

opacity.addEventListener("input", () => {
  if (map.getLayer("segmentation-fill")) map.setPaintProperty("segmentation-fill", "fill-opacity", Number(opacity.value));
});
map.on("click", "segmentation-fill", (event) => {
  if (!drawing) popup(map, event.lngLat, describe(event.features[0].properties, settings.nomenclature));
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
    messageText.innerHTML = `${escapeHtml(t("seg.done"))} — <a href="${pageUrl("jobs")}">${escapeHtml(t("nav.jobs"))}</a>`;
  } catch (error) {
    messageText.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
  } finally {
    button.disabled = false;
  }
});
document.body.dataset.ready = "true";
