// The server's public APIs, as the pages call them: OGC API Features and Processes, and /map/settings.json.
const ROOT = document.body.dataset.root;            // "/map/" (or wherever the blueprint is mounted)
export const API = new URL(ROOT + "../", location.href).href;  // the OGC API landing page

export function pageUrl(name, params = {}) {
  const url = new URL(ROOT + name, location.href);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.pathname + url.search;
}

export function staticUrl(file) {
  return new URL(ROOT + "static/" + file, location.href).href;
}

async function check(response) {
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      detail = body.description || body.detail || JSON.stringify(body);
    } catch { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

export async function getJson(path) {
  const response = await check(await fetch(new URL(path, API), { headers: { Accept: "application/json" } }));
  return response.json();
}

export async function settings() {
  return (await check(await fetch(ROOT + "settings.json"))).json();
}

export async function mapStyle(name) {
  return (await check(await fetch(ROOT + `styles/${name}.json`))).json();
}

/** Synchronous execution; returns the Response (JSON or CSV, by the requested output). Past the server's sync
 *  budget the answer is a 201 with the job's status (docs/limits.md): the job is followed to its results. */
export async function execute(process, inputs, outputs) {
  const body = { inputs };
  if (outputs) body.outputs = outputs;
  const response = await check(await fetch(new URL(`processes/${process}/execution`, API), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  }));
  if (response.status !== 201) return response;
  const id = (await response.json()).jobID;
  for (;;) {
    const status = await job(id);
    if (status.status === "successful") return check(await fetch(new URL(`jobs/${id}/results?f=json`, API)));
    if (status.status !== "accepted" && status.status !== "running") throw new Error(status.message || status.status);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Asynchronous execution; returns the job id from the Location header. */
export async function executeAsync(process, inputs, outputs) {
  const response = await check(await fetch(new URL(`processes/${process}/execution`, API), {
    method: "POST", headers: { "Content-Type": "application/json", Prefer: "respond-async" },
    body: JSON.stringify({ inputs, outputs }),
  }));
  const location = response.headers.get("Location");
  if (location) return location.replace(/\/$/, "").split("/").pop();
  const status = await response.json();
  return status.jobID || status.id;
}

export async function job(id) {
  return getJson(`jobs/${id}?f=json`);
}

export async function cancelJob(id) {
  return check(await fetch(new URL(`jobs/${id}`, API), { method: "DELETE" }));
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
