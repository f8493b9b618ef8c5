// CSV/JSON export of the filtered, sorted records (§4 item 2), fetched in pages of 1000, and the
// per-collection API snippets (§4 item 3).

import { api } from "../../api/client";
import { pp, seg, type DataRecord, type RecordPage } from "../../api/types";

/** All records matching `query`, page by page. */
export async function fetchAll(pid: string, collection: string, query: Record<string, string>, onProgress?: (n: number, total: number) => void): Promise<DataRecord[]> {
  const out: DataRecord[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api.get<RecordPage>(pp(pid, `/data/${seg(collection)}`), { query: { ...query, limit: 1000, offset } });
    out.push(...page.records);
    onProgress?.(out.length, page.total);
    if (page.records.length < 1000 || out.length >= page.total) return out;
  }
}

/** One CSV cell: quoted when needed, objects as JSON. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  return [columns.map(cell).join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\r\n") + "\r\n";
}

export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export type SnippetAuth = "apikey" | "appuser" | "admin";

/** curl and fetch snippets for list (with the current filters and sort), get, create, update, delete. */
export function snippets(origin: string, pid: string, collection: string, query: Record<string, string>, sample: Record<string, unknown>, auth: SnippetAuth) {
  const base = `${origin}/api/projects/${pid}/data/${collection}`;
  const qs = new URLSearchParams(query).toString();
  const header = auth === "apikey" ? ["X-API-Key", "<YOUR_API_KEY>"] : ["Authorization", auth === "appuser" ? "Bearer <APP_USER_ACCESS_TOKEN>" : "Bearer <ADMIN_ACCESS_TOKEN (redacted)>"];
  const body = JSON.stringify(sample);
  const h = `-H "${header[0]}: ${header[1]}"`;
  const sh = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const curl = {
    list: `curl ${h} ${sh(`${base}${qs ? "?" + qs : ""}`)}`,
    get: `curl ${h} ${base}/1`,
    create: `curl -X POST ${h} -H "Content-Type: application/json" -d ${sh(body)} ${base}`,
    update: `curl -X PATCH ${h} -H "Content-Type: application/json" -d ${sh(body)} ${base}/1`,
    delete: `curl -X DELETE ${h} ${base}/1`,
  };
  const hdr = `{ "${header[0]}": "${header[1]}" }`;
  const hdrJson = `{ "${header[0]}": "${header[1]}", "Content-Type": "application/json" }`;
  const fetchs = {
    list: `const res = await fetch(${JSON.stringify(`${base}${qs ? "?" + qs : ""}`)}, { headers: ${hdr} });\nconst { records, total } = await res.json();`,
    get: `const record = await (await fetch("${base}/1", { headers: ${hdr} })).json();`,
    create: `await fetch("${base}", { method: "POST", headers: ${hdrJson}, body: JSON.stringify(${body}) });`,
    update: `await fetch("${base}/1", { method: "PATCH", headers: ${hdrJson}, body: JSON.stringify(${body}) });`,
    delete: `await fetch("${base}/1", { method: "DELETE", headers: ${hdr} });`,
  };
  return { curl, fetch: fetchs };
}
