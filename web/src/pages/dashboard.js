// /map/dashboard: the artificialisation indicators of a territory, from the `artificialisation` process, with the
// per-commune rows of the `artificialisation-communes` collection and the CSV table of the process.
import { Chart, registerables } from "chart.js";
import { API, escapeHtml, execute, pageUrl, settings as loadSettings } from "../api.js";
import { num, setupShell, t } from "../i18n.js";
import { searchBox } from "../search.js";

Chart.register(...registerables);
setupShell();
const app = document.getElementById("app");
const params = new URLSearchParams(location.search);
/** The territory of the page's parameters: communes, or one EPCI, SCoT, région or département by code. */
const GROUPS = ["epci", "scot", "region", "departement"];
const grouped = GROUPS.find((kind) => params.get(kind));
const territoire = params.get("communes") ? { communes: params.get("communes").split(",") }
  : grouped ? { [grouped]: params.get(grouped) } : null;

app.innerHTML = `<div class="page">
  <h1>${t("dash.title")}</h1>
  <div class="toolbar"><div id="search"></div>
    <div class="field"><label for="pair">${t("dash.millesimes")}</label><select id="pair"></select></div>
    <button id="csv" type="button">${t("dash.csv")}</button></div>
  <p id="status" class="note"></p>
  <section id="empty" hidden></section>
  <section id="result" hidden>
    <h2 id="name"></h2>
    <div class="cards" id="cards"></div>
    <div class="charts">
      <figure><figcaption>${t("dash.flows")}</figcaption><canvas id="chart-flows"></canvas></figure>
      <figure><figcaption>${t("dash.imper_flows")}</figcaption><canvas id="chart-imper-flows"></canvas></figure>
      <figure><figcaption>${t("dash.by_category")}</figcaption><canvas id="chart-categories"></canvas></figure>
      <figure><figcaption>${t("dash.by_cs")}</figcaption><canvas id="chart-cs"></canvas></figure>
      <figure><figcaption>${t("dash.by_us")}</figcaption><canvas id="chart-us"></canvas></figure>
    </div>
    <h3>${t("dash.transitions")}</h3><div class="table-scroll"><table id="transitions" class="grid"></table></div>
    <h3>${t("dash.communes")}</h3><div class="table-scroll"><table id="communes" class="grid stack"></table></div>
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
  ["taux_impermeabilisation", "dash.imper_rate", "%", 3], ["surface_impermeabilisee_ha", "dash.imper_area", "ha", 2],
  ["impermeabilisation_ha", "dash.imper", "ha", 2], ["desimpermeabilisation_ha", "dash.desimper", "ha", 2],
  ["impermeabilisation_nette_ha", "dash.imper_net", "ha", 2],
];

/** The columns of the per-commune table, after the commune's name. */
const COMMUNE_COLUMNS = [
  ["taux_artificialisation", "dash.rate", "%", 3], ["surface_artificialisee_ha", "dash.area", "ha", 2],
  ["artificialisation_ha", "dash.artif", "ha", 2], ["desartificialisation_ha", "dash.desartif", "ha", 2],
  ["artificialisation_nette_ha", "dash.net", "ha", 2], ["taux_impermeabilisation", "dash.imper_rate", "%", 3],
  ["impermeabilisation_nette_ha", "dash.imper_net", "ha", 2],
];

function card([field, key, unit, digits], entry) {
  const value = entry[field];
  return `<div class="card" data-field="${field}" data-value="${value ?? ""}"><span class="name">${t(key)}</span>`
    + `<span class="value">${value === null || value === undefined ? t("missing") : `${num(value, digits)} ${unit}`}</span></div>`;
}

function barChart(id, labels, datasets, options = {}) {
  charts[id] = new Chart(document.getElementById(id), {
    type: "bar", data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, ...options,
      plugins: { ...options.plugins, legend: { ...options.plugins?.legend, display: datasets.length > 1 } } },
  });
}

/** One colour per series in every breakdown chart, so that the legend's swatch is the colour of its bars. */
const SERIES = { total: "#a9b6d3", artificial: "#e1000f", sealed: "#3a3a3a" };
/** The flows chart: artificialisation, désartificialisation, net (one series, named on the axis). */
const FLOW_COLORS = ["#e1000f", "#18753c", "#5e5e5e"];
/** Below this width (a phone) a breakdown chart names its bars by code only. */
const NARROW_CHART_PX = 480;

/** Surface and artificialised surface per code of one stock breakdown; the chart is hidden when there is none. */
function splitChart(id, split, kind) {
  const codes = Object.keys(split || {}).filter((c) => split[c].surface_ha > 0);
  document.getElementById(id).closest("figure").hidden = !codes.length;
  if (!codes.length) return;
  const labels = codes.map((c) => (kind ? `${c} ${settings.nomenclature[kind][c]?.short_label ?? ""}` : `${c}°`));
  // On a narrow chart the nomenclature labels would eat the bars: the axis keeps the codes (the tooltip has the rest).
  const tick = function (value) {
    const text = this.getLabelForValue(value);
    return this.chart.width < NARROW_CHART_PX ? text.split(" ")[0] : text;
  };
  barChart(id, labels, [
    { label: t("dash.total"), data: codes.map((c) => split[c].surface_ha), backgroundColor: SERIES.total },
    { label: t("dash.artificial"), data: codes.map((c) => split[c].surface_artificialisee_ha), backgroundColor: SERIES.artificial },
    { label: t("dash.sealed"), data: codes.map((c) => split[c].surface_impermeabilisee_ha), backgroundColor: SERIES.sealed },
  ], { indexAxis: "y", scales: { y: { ticks: { callback: tick } } },
    plugins: { legend: { position: "top", align: "start" }, tooltip: { callbacks: { title: (items) => kind ? items[0].label
    : `${codes[items[0].dataIndex]}° ${settings.categories[codes[items[0].dataIndex]]?.label ?? ""}` } } } });
}

function label(kind, code) {
  return `<code>${escapeHtml(code)}</code> ${escapeHtml(settings.nomenclature[kind][code]?.short_label ?? "")}`;
}

/** The rows of `artificialisation-communes` for the chosen pair, those of the territory (all of them when there is
 *  none), following the `next` links. */
async function communeRows(chosen) {
  const [a, b] = millesimes();
  const quote = (text) => `'${text.replace(/'/g, "''")}'`;
  const where = !chosen ? null : chosen.communes ? `code_insee IN (${chosen.communes.map(quote).join(",")})`
    : chosen.departement ? `departement = ${quote(chosen.departement)}` : await groupFilter(chosen, quote);
  if (where === "") return [];
  const url = new URL("collections/artificialisation-communes/items", API);
  for (const [k, v] of Object.entries({ f: "json", skipGeometry: "true", limit: "10000", millesime_avant: a, millesime_apres: b,
    sortby: "code_insee", ...(where ? { filter: where, "filter-lang": "cql2-text" } : {}) })) url.searchParams.set(k, v);
  const rows = [];
  let next = url.href;
  while (next) {
    const response = await fetch(next);
    if (!response.ok) break;
    const page = await response.json();
    rows.push(...page.features.map((f) => f.properties));
    next = page.features.length ? page.links?.find((link) => link.rel === "next")?.href : null;
  }
  return rows;
}

/** The filter of an EPCI's, SCoT's or région's rows: its départements (a région) or its ingested communes, as the
 *  store's territory table gives them (/map/territoires/<kind>/<code>.json); "" when it has none. */
async function groupFilter(chosen, quote) {
  const [kind, code] = Object.entries(chosen)[0];
  const response = await fetch(pageUrl(`territoires/${kind}/${encodeURIComponent(code)}.json`));
  if (!response.ok) return "";
  const found = await response.json();
  if (kind === "region") return `departement IN (${found.departements.map(quote).join(",")})`;
  return found.communes.length ? `code_insee IN (${found.communes.map(quote).join(",")})` : "";
}

/** Sum of the communes' figures (null when one commune has none), the rate recomputed from the sums. */
function total(rows) {
  const sum = (field) => (rows.some((r) => r[field] === null || r[field] === undefined) ? null
    : rows.reduce((acc, r) => acc + r[field], 0));
  const entry = Object.fromEntries(CARDS.map(([field]) => [field, sum(field)]));
  entry.taux_artificialisation = entry.surface_artificialisee_ha === null || !entry.surface_ha ? null
    : (100 * entry.surface_artificialisee_ha) / entry.surface_ha;
  entry.taux_impermeabilisation = entry.surface_impermeabilisee_ha === null || !entry.surface_ha ? null
    : (100 * entry.surface_impermeabilisee_ha) / entry.surface_ha;
  return entry;
}

/** With no territory chosen: each département's overview from the communes the server holds, and the communes that
 *  artificialised most as examples to open. */
async function emptyState() {
  const [a, b] = millesimes();
  const pair = `${a},${b}`;
  const rows = await communeRows(null);
  const section = document.getElementById("empty");
  const departements = [...new Set(rows.map((r) => r.departement))].sort();
  const overviews = departements.map((code) => {
    const own = rows.filter((r) => r.departement === code);
    return `<div class="overview" data-departement="${escapeHtml(code)}">
      <h2>${escapeHtml(t("dash.overview", { code, n: own.length }))}</h2>
      <p class="note">${escapeHtml(t("dash.overview.note", { a, b }))}</p>
      <div class="cards">${CARDS.map((c) => card(c, total(own))).join("")}</div>
      <a href="${pageUrl("dashboard", { departement: code, millesimes: pair })}">${escapeHtml(t("dash.open_departement", { code }))}</a></div>`;
  });
  // communes with something to show: flows, or at least a stock
  const ranked = rows.filter((r) => r.artificialisation_ha > 0 || r.taux_artificialisation !== null)
    .sort((x, y) => (y.artificialisation_ha ?? 0) - (x.artificialisation_ha ?? 0)).slice(0, 6);
  const epcis = [...new Set(ranked.map((r) => r.epci).filter(Boolean))].slice(0, 2);
  const epciNames = Object.fromEntries(await Promise.all(epcis.map(async (code) => {
    const response = await fetch(pageUrl(`territoires/epci/${encodeURIComponent(code)}.json`));
    const nom = response.ok ? (await response.json()).nom : code;
    return [code, nom === code ? code : `${nom} (${code})`];
  })));
  const example = (params, title, figures) => `<li><a href="${pageUrl("dashboard", { ...params, millesimes: pair })}">`
    + `<span class="title">${escapeHtml(title)}</span>`
    + figures.map((text) => `<span class="figures">${escapeHtml(text)}</span>`).join("") + "</a></li>";
  const examples = [
    ...ranked.map((r) => example({ communes: r.code_insee }, `${r.nom} (${r.code_insee})`, [
      t("dash.example", { artif: num(r.artificialisation_ha, 2) }),
      ...(r.taux_artificialisation === null ? [] : [t("dash.example.rate", { rate: num(r.taux_artificialisation, 2) })])])),
    ...epcis.map((code) => example({ epci: code }, `${t("search.epci")} ${epciNames[code]}`, [t("dash.example.communes", {
      n: rows.filter((r) => r.epci === code).length })])),
  ];
  section.innerHTML = rows.length ? overviews.join("")
    + `<h2>${escapeHtml(t("dash.examples", { a, b }))}</h2><ul class="examples">${examples.join("")}</ul>`
    : `<p>${escapeHtml(t("dash.nodata"))}</p>`;
  section.hidden = false;
}

async function show() {
  if (!territoire) {
    status.textContent = t("dash.choose");
    document.getElementById("csv").hidden = true;
    await emptyState();
    document.body.dataset.ready = "true";
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
    backgroundColor: FLOW_COLORS }],
  // on a phone, bars along the width keep the three names level instead of slanted under narrow columns
  { indexAxis: document.getElementById("chart-flows").parentElement.clientWidth < NARROW_CHART_PX ? "y" : "x" });
  barChart("chart-imper-flows", [t("dash.imper"), t("dash.desimper"), t("dash.imper_net")], [{
    label: "ha", data: [entry.impermeabilisation_ha, entry.desimpermeabilisation_ha, entry.impermeabilisation_nette_ha],
    backgroundColor: FLOW_COLORS }],
  { indexAxis: document.getElementById("chart-imper-flows").parentElement.clientWidth < NARROW_CHART_PX ? "y" : "x" });
  splitChart("chart-categories", latest?.par_categorie, null);
  splitChart("chart-cs", latest?.par_couverture, "cs");
  splitChart("chart-us", latest?.par_usage, "us");
  const transitions = (entry.flux_par_transition || []).filter((x) => x.sens).slice(0, 10);
  document.getElementById("transitions").innerHTML = transitions.length ? `<tr><th>${t("dash.before")}</th><th>${t("dash.after")}</th><th></th><th>ha</th></tr>`
    + transitions.map((x) => `<tr><td>${label("cs", x.code_cs_avant)}<br>${label("us", x.code_us_avant)}</td>`
      + `<td>${label("cs", x.code_cs_apres)}<br>${label("us", x.code_us_apres)}</td><td>${x.sens > 0 ? "+" : "−"}</td>`
      + `<td class="n">${num(x.surface_ha, 2)}</td></tr>`).join("") : "";
  const rows = await communeRows(territoire);
  document.getElementById("communes").innerHTML = `<tr><th>${t("dash.commune")}</th>`
    + COMMUNE_COLUMNS.map(([, key, unit]) => `<th>${t(key)} (${unit})</th>`).join("") + "</tr>"
    + rows.map((r) => `<tr data-code="${escapeHtml(r.code_insee)}"><td>${escapeHtml(r.nom)} (${escapeHtml(r.code_insee)})</td>`
      + COMMUNE_COLUMNS.map(([field, key, unit, digits]) => `<td class="n" data-label="${escapeHtml(`${t(key)} (${unit})`)}">`
        + `${num(r[field], digits)}</td>`).join("") + "</tr>").join("");
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
