// The one API client: every request, upload and download goes through `request`, which owns the
// admin tokens, the single shared refresh (spec/console.md §2.1) and error decoding (§2.3).

export interface TokenPair {
  access_token: string;
  refresh_token: string;
}

const TOKENS_KEY = "backendify.tokens";
const AUTH_PATHS = ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"];

/** A base for API calls; empty means the console's own origin. */
export const API_BASE: string = import.meta.env.VITE_API_BASE ?? "";

// ---------------------------------------------------------------------------------------------
// Tokens

function readTokens(): TokenPair | null {
  try {
    const t = JSON.parse(localStorage.getItem(TOKENS_KEY) ?? "null");
    return t && typeof t.access_token === "string" && typeof t.refresh_token === "string" ? t : null;
  } catch {
    return null;
  }
}

type Listener = () => void;
const listeners = new Set<Listener>();
let tokens: TokenPair | null = readTokens();

/** The stored token pair, or null when logged out. */
export function getTokens(): TokenPair | null {
  return tokens;
}

/** Stores (or clears) the token pair and tells every subscriber. */
export function setTokens(t: TokenPair | null): void {
  tokens = t ? { access_token: t.access_token, refresh_token: t.refresh_token } : null;
  if (tokens) localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  else localStorage.removeItem(TOKENS_KEY);
  listeners.forEach((l) => l());
}

/** Calls `l` whenever the login state changes, in this tab or another one. */
export function onTokens(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

if (typeof window !== "undefined") {
  window.addEventListener("storage", (e) => {
    if (e.key !== TOKENS_KEY && e.key !== null) return;
    tokens = readTokens();
    listeners.forEach((l) => l());
  });
}

/** Called when a refresh fails: the app logs out and goes to the login page. */
let onSessionExpired: () => void = () => {};
export function setSessionExpiredHandler(f: () => void): void {
  onSessionExpired = f;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** One 422 item of the API. */
export interface ValidationItem {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

/** A failed request, decoded: a message, and messages per input when the API named fields. */
export class ApiError extends Error {
  status: number;
  fields: Record<string, string[]>;
  retryAfter: number | null;
  /** The items of a 422 list as sent, for forms that place them deeper than `loc[1]`. */
  items: ValidationItem[];
  constructor(status: number, message: string, fields: Record<string, string[]> = {}, retryAfter: number | null = null, items: ValidationItem[] = []) {
    super(message);
    this.status = status;
    this.fields = fields;
    this.retryAfter = retryAfter;
    this.items = items;
  }
}

/** Turns an error body into an `ApiError` (spec/console.md §2.3). Exported for tests. */
export function decodeError(status: number, body: unknown, retryAfter: string | null = null): ApiError {
  const detail = body && typeof body === "object" ? (body as { detail?: unknown }).detail : undefined;
  if (status === 0) return new ApiError(0, "Cannot reach the server");
  if (typeof detail === "string") {
    const wait = retryAfter && status === 429 ? Number(retryAfter) : null;
    const text = wait ? `${detail} (try again in ${wait} s)` : detail;
    return new ApiError(status, text, {}, wait);
  }
  if (Array.isArray(detail)) {
    const fields: Record<string, string[]> = {};
    const rest: string[] = [];
    const items: ValidationItem[] = [];
    for (const item of detail as ValidationItem[]) {
      const loc = Array.isArray(item?.loc) ? item.loc : [];
      const name = loc.length > 1 ? String(loc[1]) : "";
      const msg = String(item?.msg ?? "Invalid value");
      items.push({ loc, msg, type: item?.type });
      if (name) (fields[name] ??= []).push(msg);
      else rest.push(msg);
    }
    const named = Object.entries(fields).map(([f, m]) => `${f}: ${m.join(", ")}`);
    return new ApiError(status, [...rest, ...named].join("; ") || "Invalid request", fields, null, items);
  }
  if (detail && typeof detail === "object" && "validation_errors" in detail) {
    const ve = (detail as { validation_errors: Record<string, string[] | string> }).validation_errors ?? {};
    const fields: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(ve)) fields[k] = Array.isArray(v) ? v.map(String) : [String(v)];
    const n = Object.keys(fields).length;
    return new ApiError(status, `Fix ${n} field${n === 1 ? "" : "s"}`, fields);
  }
  if (status >= 500 || detail === undefined) return new ApiError(status, `Server error (${status})`);
  return new ApiError(status, `Request failed (${status})`);
}

// ---------------------------------------------------------------------------------------------
// Refresh: one call shared by every waiting request, serialized across tabs with Web Locks.

let refreshing: Promise<boolean> | null = null;

async function doRefresh(used: TokenPair): Promise<boolean> {
  // Another tab may already have rotated the pair: take the newer one from storage.
  const stored = readTokens();
  if (stored && stored.access_token !== used.access_token) {
    tokens = stored;
    return true;
  }
  if (!stored) return false;
  try {
    const res = await fetch(`${API_BASE}/api/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh_token: stored.refresh_token }),
    });
    if (!res.ok) return false;
    setTokens((await res.json()) as TokenPair);
    return true;
  } catch {
    return false;
  }
}

function refresh(used: TokenPair): Promise<boolean> {
  if (!refreshing) {
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    const run = locks ? locks.request("backendify.refresh", () => doRefresh(used)) : doRefresh(used);
    refreshing = run.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface RequestOptions {
  body?: unknown;
  /** A multipart body (uploads); sent as is. */
  form?: FormData;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Send no admin token (e.g. "try as anonymous"). */
  anonymous?: boolean;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Return the raw Response (downloads). */
  raw?: boolean;
  signal?: AbortSignal;
}

/** Builds `path?query` with empty values left out. */
export function withQuery(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Calls the API; decodes JSON; throws `ApiError` for any non-2xx answer. */
export async function request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const url = API_BASE + withQuery(path, opts.query);
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const t = getTokens();
    if (t && !opts.anonymous) headers.Authorization = `Bearer ${t.access_token}`;
    return fetch(url, {
      method,
      headers,
      body: opts.form ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
      signal: opts.signal,
    });
  };
  let res: Response;
  try {
    res = await send();
    const used = getTokens();
    if (res.status === 401 && used && !opts.anonymous && !AUTH_PATHS.includes(path)) {
      if (await refresh(used)) res = await send();
      else {
        setTokens(null);
        onSessionExpired();
        throw new ApiError(401, "Session expired");
      }
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw decodeError(0, null);
  }
  if (opts.raw && res.ok) return res as unknown as T;
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) throw decodeError(res.status, data, res.headers.get("Retry-After"));
  return data as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>("GET", path, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("POST", path, { ...opts, body }),
  put: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("PUT", path, { ...opts, body }),
  patch: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("PATCH", path, { ...opts, body }),
  del: <T = void>(path: string, opts?: RequestOptions) => request<T>("DELETE", path, opts),
};

// ---------------------------------------------------------------------------------------------
// Proactive refresh: ~60 s before the access token's `exp` (the pair has no expires_in).

let timer: ReturnType<typeof setTimeout> | undefined;

/** The `exp` claim (seconds) of a JWT, or null. */
export function tokenExpiry(jwt: string): number | null {
  try {
    const part = jwt.split(".")[1];
    const json = JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
    return typeof json.exp === "number" ? json.exp : null;
  } catch {
    return null;
  }
}

function schedule(): void {
  clearTimeout(timer);
  const t = tokens;
  const exp = t ? tokenExpiry(t.access_token) : null;
  if (!t || exp === null || typeof window === "undefined") return;
  const wait = Math.max(5_000, exp * 1000 - Date.now() - 60_000);
  timer = setTimeout(() => {
    if (getTokens() === t) void refresh(t);
  }, wait);
}
onTokens(schedule);
schedule();

/** Logs out: revokes the refresh token (failure ignored) and clears the pair. */
export async function logout(): Promise<void> {
  const t = getTokens();
  setTokens(null);
  if (t) {
    try {
      await fetch(`${API_BASE}/api/auth/logout`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: t.refresh_token }),
      });
    } catch {
      /* ignored */
    }
  }
}
