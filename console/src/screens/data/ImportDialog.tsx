// CSV/JSON import (§4 item 2): column mapping, a dry run through the validate endpoint, then one
// POST per row in order, with progress and an error report.

import { useState } from "react";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type Field } from "../../api/types";
import { Dialog } from "../../ui/Dialog";
import { FormAlert, SelectField } from "../../ui/form";
import { toast } from "../../ui/toast";

/** Parses CSV text (quoted cells, "" escapes, CRLF or LF) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.some((c) => c !== ""));
}

/** A text cell converted to the field's JSON type; undefined when empty. */
export function convert(type: string, raw: unknown): unknown {
  if (raw === null || raw === undefined || raw === "") return undefined;
  if (typeof raw !== "string") return raw;
  if (type === "int" || type === "relation") return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (type === "float") return Number.isNaN(Number(raw)) ? raw : Number(raw);
  if (type === "bool") return /^(true|1|yes)$/i.test(raw.trim()) ? true : /^(false|0|no)$/i.test(raw.trim()) ? false : raw;
  return raw;
}

interface Report { row: number; message: string }

export function ImportDialog({ pid, collection, fields, onClose }: { pid: string; collection: string; fields: Field[]; onClose: () => void }) {
  const [headers, setHeaders] = useState<string[]>([]);
  const [rows, setRows] = useState<Record<string, unknown>[]>([]);
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const [report, setReport] = useState<Report[] | null>(null);
  const [busy, setBusy] = useState(false);
  const guess = (h: string) => fields.find((f) => [f.name, f.sql_column_name, f.display_name].some((n) => n.toLowerCase() === h.trim().toLowerCase()))?.name ?? "";
  const load = async (file: File) => {
    setError(null);
    setReport(null);
    const text = await file.text();
    let objs: Record<string, unknown>[];
    if (file.name.toLowerCase().endsWith(".json")) {
      try {
        const v = JSON.parse(text);
        if (!Array.isArray(v) || v.some((x) => !x || typeof x !== "object")) throw new Error("an array of objects is expected");
        objs = v;
      } catch (e) {
        return setError(`Not a JSON array of records: ${(e as Error).message}`);
      }
    } else {
      const cells = parseCsv(text);
      if (cells.length < 2) return setError("The CSV needs a header row and at least one row");
      objs = cells.slice(1).map((r) => Object.fromEntries(cells[0].map((h, i) => [h, r[i] ?? ""])));
    }
    const hs = [...new Set(objs.flatMap((o) => Object.keys(o)))];
    setHeaders(hs);
    setRows(objs);
    setMapping(Object.fromEntries(hs.map((h) => [h, guess(h)])));
  };
  const build = (o: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    for (const [h, target] of Object.entries(mapping)) {
      const f = fields.find((x) => x.name === target);
      if (!f) continue;
      const v = convert(f.field_type, o[h]);
      if (v !== undefined) out[f.name] = v;
    }
    return out;
  };
  const run = async (dry: boolean) => {
    setBusy(true);
    const problems: Report[] = [];
    let done = 0;
    for (let i = 0; i < rows.length; i++) {
      setProgress(`${dry ? "Checking" : "Importing"} row ${i + 1} of ${rows.length}…`);
      try {
        if (dry) {
          const r = await api.post<{ is_valid: boolean; errors: Record<string, string[]> }>(pp(pid, `/validations/collections/${seg(collection)}/validate`), { data: build(rows[i]) });
          if (!r.is_valid) problems.push({ row: i + 1, message: Object.entries(r.errors).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ") });
        } else {
          await api.post(pp(pid, `/data/${seg(collection)}`), build(rows[i]));
          done++;
        }
      } catch (e) {
        const fieldsText = e instanceof Error && "fields" in e ? Object.entries((e as { fields: Record<string, string[]> }).fields).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ") : "";
        problems.push({ row: i + 1, message: fieldsText || (e as Error).message });
      }
    }
    setProgress(null);
    setBusy(false);
    setReport(problems);
    if (!dry) {
      await invalidate("data");
      toast(`Imported ${done} of ${rows.length} records`, problems.length ? "error" : "ok");
    }
  };
  return (
    <Dialog title={`Import into ${collection}`} open onClose={onClose} wide dirty={rows.length > 0 && !report}>
      <div className="page">
        <FormAlert error={error} />
        <label className="field">
          <span>CSV or JSON file</span>
          <input type="file" accept=".csv,.json,text/csv,application/json" onChange={(e) => e.target.files?.[0] && void load(e.target.files[0])} />
        </label>
        {rows.length > 0 && (
          <>
            <p>{rows.length} row{rows.length === 1 ? "" : "s"} read. Map each column to a field:</p>
            <div className="grid2">
              {headers.map((h) => (
                <SelectField key={h} label={`Column "${h}"`} value={mapping[h] ?? ""} onChange={(e) => setMapping({ ...mapping, [h]: e.target.value })}>
                  <option value="">(skip)</option>
                  {fields.map((f) => <option key={f.id} value={f.name}>{f.name} ({f.field_type})</option>)}
                </SelectField>
              ))}
            </div>
            <div className="actions">
              <span role="status">{progress}</span>
              <button type="button" disabled={busy} onClick={() => run(true)}>Dry run</button>
              <button type="button" className="primary" disabled={busy} aria-busy={busy} onClick={() => run(false)}>Import {rows.length} rows</button>
            </div>
          </>
        )}
        {report && (
          report.length === 0 ? <p role="status">No problems found.</p> : (
            <section aria-label="Import report">
              <h3>{report.length} row{report.length === 1 ? "" : "s"} with problems</h3>
              <ul>{report.map((r) => <li key={r.row}>Row {r.row}: {r.message}</li>)}</ul>
            </section>
          )
        )}
      </div>
    </Dialog>
  );
}
