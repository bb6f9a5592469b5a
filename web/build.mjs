// Bundles web/src into ocsge_processes/webapp/static (served under /map/static): one ES module per page,
// shared code split into chunks, MapLibre's worker copied beside them. Also copies the third-party files that
// pygeoapi's own HTML pages load from CDNs into ocsge_processes/server/static/vendor (served under /vendor), so
// those pages work offline (ocsge_processes/server/offline.py maps each CDN URL to one of them).
// Run by `make web` and the wheel build. OCSGE_WEB_OUT names another folder standing for ocsge_processes/
// (the Node version test builds into a temporary one).
import { build } from "esbuild";
import { copyFileSync, cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = process.env.OCSGE_WEB_OUT || join(here, "..", "ocsge_processes");
const out = join(packageDir, "webapp", "static");
const vendor = join(packageDir, "server", "static", "vendor");
const pages = ["map", "dashboard", "segmentation", "jobs"];
// npm package → the files or folders of it that pygeoapi's pages need (folders keep the images their CSS names).
const vendored = {
  "bootstrap": ["dist/css/bootstrap.min.css"],
  "leaflet": ["dist"],
  "leaflet.markercluster": ["dist"],
  "leaflet-draw": ["dist"],
  "leaflet.vectorgrid": ["dist/Leaflet.VectorGrid.bundled.js"],
  "swagger-ui-dist": ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                      "favicon-16x16.png", "favicon-32x32.png"],
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: Object.fromEntries([...pages.map((p) => [p, join(here, "src", "pages", `${p}.js`)]),
                                   ["style", join(here, "src", "style.css")]]),
  outdir: out,
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  sourcemap: true,
  target: ["es2022"],
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
});
copyFileSync(join(here, "node_modules", "maplibre-gl", "dist", "maplibre-gl-worker.mjs"),
             join(out, "maplibre-gl-worker.mjs"));

rmSync(vendor, { recursive: true, force: true });
for (const [name, paths] of Object.entries(vendored)) {
  for (const path of paths) {
    cpSync(join(here, "node_modules", name, path), join(vendor, name, path),
           { recursive: true, filter: (source) => !source.endsWith(".map") });
  }
}
console.log(`web pages built into ${out}, vendored files into ${vendor}`);
