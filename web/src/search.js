// Territory search: a commune by name or INSEE code (the `communes` collection), an EPCI, SCoT, région or
// département by name or code (/map/territoires.json, the store's territory table), and the EPCI and département
// of the communes found. Choosing one opens the artificialisation dashboard.
import { API, escapeHtml, pageUrl } from "./api.js";
import { t } from "./i18n.js";

function cqlString(text) {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The territories of the store's table whose name holds ``q``, labelled with their kind, name and code. */
async function namedTerritories(q) {
  const response = await fetch(pageUrl("territoires.json", { q }));
  if (!response.ok) return [];
  return (await response.json()).territoires.map((x) => ({
    kind: x.kind, code: x.code, label: `${t("search." + x.kind)} ${x.nom} (${x.code})` }));
}

export async function findTerritories(query) {
  const q = query.trim();
  if (q.length < 2) return [];
  const named = namedTerritories(q).catch(() => []);
  // CASEI(nom) lowers the names; the pattern is lowered here (this server's CQL2 does not lower a CASEI literal).
  const like = cqlString(`%${q.toLowerCase()}%`);
  const filter = `CASEI(nom) LIKE ${like} OR code_insee LIKE ${cqlString(q + "%")} `
    + `OR epci = ${cqlString(q)} OR departement = ${cqlString(q)}`;
  const url = new URL("collections/communes/items", API);
  for (const [k, v] of Object.entries({ f: "json", limit: "50", skipGeometry: "true", filter, "filter-lang": "cql2-text" })) {
    url.searchParams.set(k, v);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${response.status}`);
  const communes = (await response.json()).features.map((f) => f.properties);
  const found = communes.map((c) => ({ kind: "commune", code: c.code_insee, label: `${c.nom} (${c.code_insee})` }));
  const groups = await named;
  found.push(...groups);
  const seen = new Set(groups.map((x) => x.kind + x.code));
  for (const c of communes) {
    for (const [kind, code] of [["epci", c.epci], ["departement", c.departement]]) {
      if (code && !seen.has(kind + code)) {
        seen.add(kind + code);
        found.push({ kind, code, label: `${t("search." + kind)} ${code}` });
      }
    }
  }
  return found;
}

export function territoryParams(item) {
  return item.kind === "commune" ? { communes: item.code } : { [item.kind]: item.code };
}

/** A search box in ``element``; each result links to the dashboard of that territory. */
export function searchBox(element) {
  element.innerHTML = `<label for="territory">${t("search.label")}</label>
    <input id="territory" type="search" autocomplete="off" placeholder="${t("search.placeholder")}">
    <ul class="results" id="territory-results"></ul>`;
  const input = element.querySelector("input");
  const list = element.querySelector("ul");
  let pending = 0;
  input.addEventListener("input", async () => {
    const ticket = ++pending;
    const items = await findTerritories(input.value).catch(() => []);
    if (ticket !== pending) return;
    list.innerHTML = input.value.trim().length < 2 ? "" : items.length
      ? items.map((item) => `<li><a data-kind="${item.kind}" data-code="${escapeHtml(item.code)}" `
          + `href="${pageUrl("dashboard", territoryParams(item))}">${escapeHtml(item.label)}</a></li>`).join("")
      : `<li class="none">${t("search.none")}</li>`;
  });
}
