// A MapLibre map with no external basemap (the closed network of the users' servers cannot reach one), the IGN
// attribution, and the OCS GE layers drawn from the server: vector tiles when the server serves them, else the
// features of the view from OGC API Features.
import * as maplibregl from "maplibre-gl";
import { API, escapeHtml, mapStyle, staticUrl } from "./api.js";
import { t } from "./i18n.js";

maplibregl.setWorkerUrl(staticUrl("maplibre-gl-worker.mjs"));

export const FILL = "ocs-fill";
export const OUTLINE = "ocs-outline";
const SOURCE = "ocs";
const PAGE_SIZE = 10000;  // the server's max_items
/** Beyond this many features in the view the map says it is partial (tiles have no such limit). */
const MAX_FEATURES = 50000;

/** A map over ``bounds`` unless the URL says where (``#zoom/lat/lng``, kept up to date so that a view can be shared). */
export function createMap(container, settings, bounds) {
  const map = new maplibregl.Map({
    container,
    hash: true,
    style: { version: 8, sources: {}, layers: [{ id: "fond", type: "background", paint: { "background-color": "#f4f2ed" } }] },
    bounds: bounds || [-5.3, 41.3, 9.6, 51.2],
    fitBoundsOptions: { padding: 20 },
    attributionControl: { compact: false, customAttribution: settings.attribution },
    preserveDrawingBuffer: true,  // so that screenshots and tests read the drawn pixels
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  return map;
}

export function loaded(map) {
  return map.loaded() ? Promise.resolve() : new Promise((resolve) => map.once("load", resolve));
}

/** Extent of a collection from its OGC API description (CRS84 bbox), for the first view. */
export async function collectionBounds(collection) {
  const response = await fetch(new URL(`collections/${collection}?f=json`, API));
  if (!response.ok) return null;
  const bbox = (await response.json()).extent?.spatial?.bbox?.[0];
  return bbox ? [[bbox[0], bbox[1]], [bbox[2], bbox[3]]] : null;
}

/** Whether the collection advertises vector tiles (OGC API – Tiles link) and one tile of the view is served. */
async function tilesServed(map, collection, template, maxzoom) {
  const response = await fetch(new URL(`collections/${collection}?f=json`, API)).catch(() => null);
  if (!response?.ok) return false;
  const links = (await response.json()).links || [];
  if (!links.some((link) => String(link.rel).endsWith("/tilesets-vector"))) return false;
  const z = Math.min(maxzoom ?? 22, Math.max(0, Math.floor(map.getZoom())));  // beyond it MapLibre overzooms
  const { lng, lat } = map.getCenter();
  const n = 2 ** z;
  const x = Math.floor(((lng + 180) / 360) * n);
  const rad = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  try {
    const tile = await fetch(template.replace("{z}", z).replace("{x}", x).replace("{y}", y));
    return tile.ok && !(tile.headers.get("Content-Type") || "").includes("json");
  } catch {
    return false;
  }
}

/**
 * Show the OCS GE style ``name`` ("couverture" or "usage") for ``millesime``, replacing the previous one, from
 * tiles when served unless ``source`` is "features" (the page's ``?source=features``, to compare the two).
 * Returns the style document, whose metadata carries the legend.
 */
export async function showOcs(map, name, millesime, onPartial, source = "auto") {
  const style = await mapStyle(name);
  const collection = style.metadata["ocsge:collection"];
  const [fill, outline] = style.layers;
  for (const id of [FILL, OUTLINE]) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource(SOURCE)) map.removeSource(SOURCE);
  if (map._ocsRefresh) map.off("moveend", map._ocsRefresh);
  map._ocsRefresh = null;

  const template = style.sources[collection].tiles[0] + (millesime ? `&millesime=${millesime}` : "");
  const vector = source !== "features" && await tilesServed(map, collection, template, style.sources[collection].maxzoom);
  if (vector) {
    map.addSource(SOURCE, { type: "vector", tiles: [template], minzoom: 0, maxzoom: style.sources[collection].maxzoom });
  } else {
    map.addSource(SOURCE, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    let ticket = 0;
    map._ocsRefresh = () => loadView(map, collection, millesime, ++ticket, () => ticket, onPartial);
    map.on("moveend", map._ocsRefresh);
    await map._ocsRefresh();
  }
  // Tiles may hold every millésime: the filter keeps the chosen one whatever the server does with the parameter.
  const filter = millesime ? ["==", ["to-number", ["get", "millesime"]], Number(millesime)] : null;
  const layer = (spec, id) => {
    const { "source-layer": sourceLayer, ...rest } = spec;  // a GeoJSON source has no layers
    return { ...rest, id, source: SOURCE, ...(vector ? { "source-layer": sourceLayer } : {}), ...(filter ? { filter } : {}) };
  };
  map.addLayer(layer(fill, FILL));
  map.addLayer(layer(outline, OUTLINE));
  map.getContainer().dataset.mode = vector ? "tiles" : "features";
  return style;
}

/** The features of the view, page after page (following the `next` links) up to MAX_FEATURES. */
async function loadView(map, collection, millesime, ticket, current, onPartial) {
  const b = map.getBounds();
  const url = new URL(`collections/${collection}/items`, API);
  url.searchParams.set("f", "json");
  url.searchParams.set("limit", PAGE_SIZE);
  // zoomed far out, the view runs past the antimeridian: the server takes boxes on the globe only
  const lon = (v) => Math.min(180, Math.max(-180, v)), lat = (v) => Math.min(90, Math.max(-90, v));
  const box = [lon(b.getWest()), lat(b.getSouth()), lon(b.getEast()), lat(b.getNorth())];
  url.searchParams.set("bbox", box.map((v) => v.toFixed(6)).join(","));
  if (millesime) url.searchParams.set("millesime", millesime);
  const features = [];
  let next = url.href;
  while (next && features.length < MAX_FEATURES) {
    const response = await fetch(next, { headers: { Accept: "application/geo+json" } });
    if (!response.ok || ticket !== current()) return;
    const page = await response.json();
    features.push(...page.features);
    next = page.features.length === PAGE_SIZE ? page.links?.find((link) => link.rel === "next")?.href : null;
  }
  if (ticket !== current()) return;
  map.getSource(SOURCE)?.setData({ type: "FeatureCollection", features });
  if (onPartial) onPartial(Boolean(next));
}

/** Legend items of the classes drawn in the current view. */
export function legendPresent(map, style) {
  const legend = style.metadata["ocsge:legend"];
  const present = new Set(map.queryRenderedFeatures({ layers: [FILL] }).map((f) => f.properties[legend.field]));
  return { title: legend.title, items: legend.items.filter((item) => present.has(item.code)) };
}

export function renderLegend(element, legend) {
  element.innerHTML = `<h3>${t("map.legend")}</h3>` + (legend.items.length
    ? `<ul>${legend.items.map((item) => `<li data-code="${escapeHtml(item.code)}"><span class="swatch" style="background:${item.color}"></span>`
        + `<code>${escapeHtml(item.code)}</code> ${escapeHtml(item.label)}</li>`).join("")}</ul>`
    : `<p>${t("map.legend.none")}</p>`);
}

/** Popup HTML of a polygon: each code with its label from the nomenclature, then the other attributes. */
export function describe(properties, nomenclature) {
  const rows = [];
  for (const [key, value] of Object.entries(properties)) {
    const kind = key.startsWith("code_cs") ? "cs" : key.startsWith("code_us") ? "us" : null;
    const label = kind ? nomenclature[kind][value]?.label : null;
    const name = t(`popup.${key}`) === `popup.${key}` ? key : t(`popup.${key}`);
    rows.push(`<tr data-field="${escapeHtml(key)}"><th>${escapeHtml(name)}</th><td><code>${escapeHtml(value)}</code>`
      + (label ? ` <span class="label">${escapeHtml(label)}</span>` : "") + "</td></tr>");
  }
  return `<table class="attributes">${rows.join("")}</table>`;
}

export function popup(map, lngLat, html) {
  // never wider than a phone's window
  return new maplibregl.Popup({ maxWidth: "min(420px, 90vw)" }).setLngLat(lngLat).setHTML(html).addTo(map);
}

export { maplibregl };
