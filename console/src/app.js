// Backendify console: a small admin page over the public REST API (same origin, no dependencies).
// Every text taken from the API reaches the page through textContent, never as HTML.
"use strict";

const TOKENS_KEY = "backendify.tokens";
const $ = (id) => document.getElementById(id);
let tokens = JSON.parse(localStorage.getItem(TOKENS_KEY) || "null");
let selected = null; // the selected project {id, name}
let refreshing = null; // the refresh call in flight, shared by concurrent 401s

function saveTokens(t) {
  tokens = t;
  if (t) localStorage.setItem(TOKENS_KEY, JSON.stringify(t));
  else localStorage.removeItem(TOKENS_KEY);
}

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
  m.hidden = !text;
}

// The API's error body is {"detail": string} or {"detail": [{loc, msg, ...}, ...]}.
function detailText(body, status) {
  const d = body && body.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) {
    return d.map((e) => (e && e.msg ? [(e.loc || []).slice(1).join("."), e.msg].filter(Boolean).join(": ") : String(e))).join("; ");
  }
  return `Request failed (${status})`;
}

function refresh() {
  if (!tokens || !tokens.refresh_token) return Promise.resolve(false);
  refreshing = refreshing || fetch("/api/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }),
  })
    .then(async (r) => (r.ok ? (saveTokens(await r.json()), true) : false))
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return refreshing;
}

// Calls the API; on a 401 refreshes the tokens once and retries.
async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (tokens) headers.Authorization = `Bearer ${tokens.access_token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && tokens && !retried && (await refresh())) return api(method, path, body, true);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && tokens) signedOut("Your session has ended; please log in again.");
    throw new Error(detailText(data, res.status));
  }
  return data;
}

function signedOut(message) {
  saveTokens(null);
  selected = null;
  $("app").hidden = true;
  $("who").hidden = true;
  $("auth").hidden = false;
  if (message) say(message, true);
}

async function signedIn() {
  const me = await api("GET", "/api/me");
  $("me").textContent = me.email;
  $("auth").hidden = true;
  $("who").hidden = false;
  $("app").hidden = false;
  await loadProjects();
}

async function loadProjects() {
  const projects = await api("GET", "/api/projects");
  const list = $("projects");
  list.replaceChildren();
  for (const p of projects) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = p.name || "(unnamed)";
    b.title = p.id;
    if (selected && selected.id === p.id) b.className = "selected";
    b.addEventListener("click", () => selectProject(p).catch((e) => say(e.message, true)));
    li.append(b);
    list.append(li);
  }
  $("no-projects").hidden = projects.length > 0;
}

async function selectProject(p) {
  selected = p;
  for (const b of $("projects").querySelectorAll("button")) b.classList.toggle("selected", b.title === p.id);
  $("project-title").textContent = `Collections of ${p.name || "(unnamed)"}`;
  $("project-id").textContent = p.id;
  const collections = await api("GET", `/api/projects/${encodeURIComponent(p.id)}/schema/collections`);
  const body = $("collections").querySelector("tbody");
  body.replaceChildren();
  for (const c of collections) {
    const tr = document.createElement("tr");
    for (const [value, cls] of [[c.name, "mono"], [c.display_name, ""], [c.id, "mono muted"]]) {
      const td = document.createElement("td");
      td.textContent = value == null ? "" : String(value);
      td.className = cls;
      tr.append(td);
    }
    body.append(tr);
  }
  $("collections").hidden = collections.length === 0;
  $("pick").hidden = collections.length > 0;
  $("pick").textContent = "This project has no collections yet.";
}

$("auth-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const action = ev.submitter && ev.submitter.dataset.action === "register" ? "register" : "login";
  const creds = { email: $("email").value.trim(), password: $("password").value };
  try {
    saveTokens(null);
    saveTokens(await api("POST", `/api/auth/${action}`, creds));
    $("password").value = "";
    say(action === "register" ? "Account created." : "");
    await signedIn();
  } catch (e) {
    say(e.message, true);
  }
});

$("project-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const p = await api("POST", "/api/projects", { name: $("project-name").value.trim() });
    $("project-name").value = "";
    say(`Project "${p.name}" created.`);
    await loadProjects();
    await selectProject(p);
  } catch (e) {
    say(e.message, true);
  }
});

$("logout").addEventListener("click", async () => {
  const refreshToken = tokens && tokens.refresh_token;
  if (refreshToken) await api("POST", "/api/auth/logout", { refresh_token: refreshToken }).catch(() => {});
  signedOut();
  say("Logged out.");
});

if (tokens) signedIn().catch((e) => { signedOut(); say(e.message, true); });
else signedOut();
