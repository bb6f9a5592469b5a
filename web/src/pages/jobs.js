// /map/jobs: the jobs of the server (OGC API Processes /jobs) with status, progress, duration, cancel and results.
import { cancelJob, escapeHtml, getJson } from "../api.js";
import { lang, setupShell, t } from "../i18n.js";

setupShell();
const RUNNING = new Set(["accepted", "running"]);
const app = document.getElementById("app");
app.innerHTML = `<div class="page"><h1>${t("jobs.title")}</h1><table id="jobs" class="grid stack"></table></div>`;
const table = document.getElementById("jobs");

function duration(state) {
  const start = state.started || state.created;
  if (!start) return "";
  const end = state.finished || (RUNNING.has(state.status) ? new Date().toISOString() : state.updated);
  const seconds = Math.max(0, (Date.parse(end) - Date.parse(start)) / 1000);
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function row(state) {
  const id = state.jobID;
  const actions = [
    RUNNING.has(state.status) ? `<button type="button" data-cancel="${escapeHtml(id)}">${t("jobs.cancel")}</button>` : "",
    state.status === "successful" ? `<a href="../jobs/${escapeHtml(id)}/results?f=json">${t("jobs.results")}</a>` : "",
    `<a href="../jobs/${escapeHtml(id)}?f=html">HTML</a>`,
  ].join(" ");
  const started = state.started || state.created;
  const progress = Number(state.progress ?? 0);
  const cell = (key, html) => `<td class="${key}" data-label="${escapeHtml(t("jobs." + key))}">${html}</td>`;
  return `<tr data-job="${escapeHtml(id)}" data-status="${escapeHtml(state.status)}">
    <td class="id"><code title="${escapeHtml(id)}">${escapeHtml(id)}</code></td>
    ${cell("process", escapeHtml(state.processID ?? ""))}
    ${cell("status", `<span class="status-${escapeHtml(state.status)}">${escapeHtml(t("status." + state.status))}</span>`)}
    ${cell("progress", `<span><progress max="100" value="${progress}"></progress> ${progress} %</span>`)}
    ${cell("message", escapeHtml(state.message ?? ""))}
    ${cell("started", started ? new Date(started).toLocaleString(lang() === "fr" ? "fr-FR" : "en-GB") : "")}
    ${cell("duration", duration(state))}${cell("actions", `<span>${actions}</span>`)}</tr>`;
}

async function refresh() {
  const jobs = (await getJson("jobs?f=json&limit=100")).jobs || [];
  table.innerHTML = `<tr>${["id", "process", "status", "progress", "message", "started", "duration", "actions"]
    .map((k) => `<th>${t("jobs." + k)}</th>`).join("")}</tr>`
    + (jobs.length ? jobs.map(row).join("") : `<tr><td class="empty" colspan="8">${t("jobs.none")}</td></tr>`);
  document.body.dataset.ready = "true";
}

table.addEventListener("click", async (event) => {
  const id = event.target.dataset?.cancel;
  if (!id) return;
  event.target.disabled = true;
  await cancelJob(id).catch((error) => alert(error.message));
  await refresh();
});

await refresh();
setInterval(() => refresh().catch(() => {}), 2000);
