// Bundles web/src into ocsge_processes/webapp/static (served under /map/static): one ES module per page,
// shared code split into chunks, MapLibre's worker copied beside them. Run by `make web` and the wheel build.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "ocsge_processes", "webapp", "static");
const pages = ["map", "dashboard", "segmentation", "jobs"];

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
console.log(`web pages built into ${out}`);
