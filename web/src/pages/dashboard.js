// /map/dashboard: the artificialisation indicators of a territory, from the `artificialisation` process, with the
// per-commune rows of the `artificialisation-communes` collection and the CSV table of the process.
import { Chart, registerables } from "chart.js";
import { API, escapeHtml, execute, settings as loadSettings } from "../api.js";
import { num, setupShell, t } from "../i18n.js";
import { searchBox } from "../search.js";

Chart.register(...registerables);
setupShell();
const app = document.getElementById("app");
const params = new URLSearchParams(location.search);
const territoire = params.get("communes") ? { communes: params.get("communes").split(",") }
  : params.get("epci") ? { epci: params.get("epci") }
  : params.get("departement") ? { departement: params.get("departement") } : null;

app.innerHTML = `<div class="page">
  <h1>${t("dash.title")}</h1>
  <div class="toolbar"><div id="search"></div>
    <label for="pair">${t("dash.millesimes")}</label><select id="pair"></select>
    <button id="csv" type="button">${t("dash.csv")}</button></div>
  <p id="status" class="note"></p>
  <section id="result" hidden>
    <h2 id="name"></h2>
    <div class="cards" id="cards"></div>
    <div class="charts">
      <figure><figcaption>${t("dash.flows")}</figcaption><canvas id="chart-flows"></canvas></figure>
      <figure><figcaption>${t("dash.by_category")}</figcaption><canvas id="chart-categories"></canvas></figure>
      <figure><figcaption>${t("dash.by_cs")}</figcaption><canvas id="chart-cs"></canvas></figure>
      <figure><figcaption>${t("dash.by_us")}</figcaption><canvas id="chart-us"></canvas></figure>
    </div>
    <h3>${t("dash.transitions")}</h3><table id="transitions" class="grid"></table>
    <h3>${t("dash.communes")}</h3><table id="communes" class="grid"></table>
  </section>
</div>`;
searchBox(document.getElementById("search"));
const status = document.getElementById("status");
const settings = await loadSettings();
const pairs = settings.millesimes["artificialisation-communes"] || [];
const pairSelect = document.getElementById("pair");
pairSelect.innerHTML = pairs.map(([a, b]) => `<option value="${a},${b}">${a} → ${b}</option>`).join("");
const asked = params.get("millesimes");
pairSelect.value = asked && pairs.some((p) => p.join(",") === asked) ? asked : (pairs.at(-1) || []).join(",");
pairSelect.addEventListener("change", () => {
  params.set("millesimes", pairSelect.value);
  location.search = params.toString();
});

const millesimes = () => pairSelect.value.split(",").map(Number);
const charts = {};
window.ocsgeCharts = charts;  // for the browser tests and the curious
const CARDS = [
  ["taux_artificialisation", "dash.rate", "%", 3], ["surface_artificialisee_ha", "dash.area", "ha", 2],
  ["surface_ha", "dash.surface", "ha", 2], ["artificialisation_ha", "dash.artif", "ha", 2],
  ["desartificialisation_ha", "dash.desartif", "ha", 2], ["artificialisation_nette_ha", "dash.net", "ha", 2],
  ["ecart_coherence_ha", "dash.gap", "ha", 4],
];

function card([field, key, unit, digits], entry) {
  const value = entry[field];
  return `<div class="card" data-field="${field}" data-value="${value ?? ""}"><span class="name">${t(key)}</span>`
    + `<span class="value">${value === null || value === undefined ? t("missing") : `${num(value, digits)} ${unit}`}</span></div>`;
}

function barChart(id, labels, datasets, options = {}) {
  charts[id] = new Chart(document.getElementById(id), {
    type: "bar", data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: datasets.length > 1 } }, ...options },
  });
}

/** Surface and artificialised surface per code of one stock breakdown; the chart is hidden when there is none. */
function splitChart(id, split, kind) {
  const codes = Object.keys(split || {}).filter((c) => split[c].surface_ha > 0);
  document.getElementById(id).closest("figure").hidden = !codes.length;
  if (!codes.length) return;
  const labels = codes.map((c) => (kind ? `${c} ${settings.nomenclature[kind][c]?.short_label ?? ""}` : `${c}°`));
  const colors = codes.map((c) => (kind ? settings.nomenclature[kind][c]?.color : settings.categories[c]?.artificial ? "#ff377a" : "#7cc46a") || "#888");
  barChart(id, labels, [
    { label: t("dash.total"), data: codes.map((c) => split[c].surface_ha), backgroundColor: colors.map((c) => c + "66") },
    { label: t("dash.artificial"), data: codes.map((c) => split[c].surface_artificialisee_ha), backgroundColor: colors },
  ], { indexAxis: "y", plugins: { tooltip: { callbacks: { title: (items) => kind ? items[0].label
    : `${codes[items[0].dataIndex]}° ${settings.categories[codes[items[0].dataIndex]]?.label ?? ""}` } } } });
}

function label(kind, code) {
  return `<code>${escapeHtml(code)}</code> ${escapeHtml(settings.nomenclature[kind][code]?.short_label ?? "")}`;
}

async function communeRows() {
  const [a, b] = millesimes();
  const where = territoire.communes ? `code_insee IN (${territoire.communes.map((c) => `'${c.replace(/'/g, "''")}'`).join(",")})`
    : territoire.epci ? `epci = '${territoire.epci.replace(/'/g, "''")}'` : `departement = '${territoire.departement.replace(/'/g, "''")}'`;
  const url = new URL("collections/artificialisation-communes/items", API);
  for (const [k, v] of Object.entries({ f: "json", skipGeometry: "true", limit: "1000", millesime_avant: a, millesime_apres: b,
    filter: where, "filter-lang": "cql2-text", sortby: "code_insee" })) url.searchParams.set(k, v);
  const response = await fetch(url);
  return response.ok ? (await response.json()).features.map((f) => f.properties) : [];
}

async function show() {
  if (!territoire) {
    status.textContent = t("dash.choose");
    return;
  }
  status.textContent = t("dash.loading");
  document.body.dataset.ready = "false";
  let document_;
  try {
    document_ = await (await execute("artificialisation", { territoire, millesimes: millesimes() })).json();
  } catch (error) {
    status.textContent = `${t("dash.error")} : ${error.message}`;
    document.body.dataset.ready = "error";
    return;
  }
  const entry = document_.territoires[0];
  const latest = entry.stocks[String(millesimes().at(-1))];
  document.getElementById("name").textContent = `${entry.nom ?? ""} (${entry.code})`;
  document.getElementById("cards").innerHTML = CARDS.map((c) => card(c, entry)).join("");
  status.textContent = entry.stock_message ? `${t("dash.nostock")} : ${entry.stock_message}` : "";
  barChart("chart-flows", [t("dash.artif"), t("dash.desartif"), t("dash.net")], [{
    label: "ha", data: [entry.artificialisation_ha, entry.desartificialisation_ha, entry.artificialisation_nette_ha],
    backgroundColor: ["#ff377a", "#7cc46a", "#6b6b6b"] }]);
  splitChart("chart-categories", latest?.par_categorie, null);
  splitChart("chart-cs", latest?.par_couverture, "cs");
  splitChart("chart-us", latest?.par_usage, "us");
  const transitions = (entry.flux_par_transition || []).filter((x) => x.sens).slice(0, 10);
  document.getElementById("transitions").innerHTML = transitions.length ? `<tr><th>CS / US avant</th><th>CS / US après</th><th></th><th>ha</th></tr>`
    + transitions.map((x) => `<tr><td>${label("cs", x.code_cs_avant)}<br>${label("us", x.code_us_avant)}</td>`
      + `<td>${label("cs", x.code_cs_apres)}<br>${label("us", x.code_us_apres)}</td><td>${x.sens > 0 ? "+" : "−"}</td>`
      + `<td class="n">${num(x.surface_ha, 2)}</td></tr>`).join("") : "";
  const rows = await communeRows();
  document.getElementById("communes").innerHTML = `<tr><th>${t("dash.commune")}</th><th>${t("dash.rate")} (%)</th>`
    + `<th>${t("dash.area")} (ha)</th><th>${t("dash.artif")} (ha)</th><th>${t("dash.desartif")} (ha)</th><th>${t("dash.net")} (ha)</th></tr>`
    + rows.map((r) => `<tr data-code="${escapeHtml(r.code_insee)}"><td>${escapeHtml(r.nom)} (${escapeHtml(r.code_insee)})</td>`
      + `<td class="n">${num(r.taux_artificialisation, 3)}</td><td class="n">${num(r.surface_artificialisee_ha)}</td>`
      + `<td class="n">${num(r.artificialisation_ha)}</td><td class="n">${num(r.desartificialisation_ha)}</td>`
      + `<td class="n">${num(r.artificialisation_nette_ha)}</td></tr>`).join("");
  document.getElementById("result").hidden = false;
  document.body.dataset.ready = "true";
}

document.getElementById("csv").addEventListener("click", async () => {
  if (!territoire) return;
  const response = await execute("artificialisation", { territoire, millesimes: millesimes(), detail_communes: true }, { tableau: {} });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `artificialisation-${Object.values(territoire).flat().join("-")}-${millesimes().join("-")}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
});

await show();
