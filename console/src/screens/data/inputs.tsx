// Typed inputs for record values and field defaults (§3.6): string → text, int → integer,
// float → number, bool → true/false select, date → date picker, datetime → local picker sent as
// ISO 8601 with offset, uuid → patterned text, relation → searchable select.

import { useId, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { pp, seg, type RecordPage } from "../../api/types";

/** `2024-05-01T10:30` (local) → `2024-05-01T10:30:00+02:00`. */
export function localToIso(local: string): string {
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return local;
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${local.length === 16 ? local + ":00" : local}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

/** An ISO timestamp → the value of a datetime-local input. */
export function isoToLocal(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

export function TypedInput({
  label, type, value, onChange, error, required, placeholder, asString, readOnly, hint,
}: {
  label: string;
  type: string;
  value: unknown;
  onChange: (v: unknown) => void;
  error?: string;
  required?: boolean;
  placeholder?: string;
  /** Field defaults: every value is a string. */
  asString?: boolean;
  readOnly?: boolean;
  hint?: string;
}) {
  const id = useId();
  const described = [hint ? `${id}-h` : "", error ? `${id}-e` : ""].filter(Boolean).join(" ") || undefined;
  const common = { id, "aria-invalid": error ? true : undefined, "aria-required": required || undefined, "aria-describedby": described, readOnly, placeholder };
  let control;
  const str = value === null || value === undefined ? "" : String(value);
  switch (type) {
    case "int":
    case "float":
      control = (
        <input {...common} type="number" step={type === "int" ? 1 : "any"} value={str}
          onChange={(e) => onChange(e.target.value === "" ? (asString ? "" : null) : asString ? e.target.value : Number(e.target.value))} />
      );
      break;
    case "bool":
      control = (
        <select {...common} disabled={readOnly} value={value === true || value === "true" ? "true" : value === false || value === "false" ? "false" : ""}
          onChange={(e) => onChange(e.target.value === "" ? (asString ? "" : null) : asString ? e.target.value : e.target.value === "true")}>
          <option value="">{asString ? "(none)" : "null"}</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      );
      break;
    case "date":
      control = <input {...common} type="date" value={str.slice(0, 10)} onChange={(e) => onChange(e.target.value || (asString ? "" : null))} />;
      break;
    case "datetime":
      control = (
        <input {...common} type="datetime-local" value={str ? isoToLocal(str) : ""}
          onChange={(e) => onChange(e.target.value ? localToIso(e.target.value) : asString ? "" : null)} />
      );
      break;
    case "uuid":
      control = <input {...common} type="text" pattern={UUID} value={str} onChange={(e) => onChange(e.target.value || (asString ? "" : null))} autoComplete="off" />;
      break;
    case "text":
      control = <textarea {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
      break;
    default:
      control = <input {...common} type="text" value={str} onChange={(e) => onChange(e.target.value)} autoComplete="off" />;
  }
  return (
    <div className="field">
      <label htmlFor={id}>{label} <span className="muted small">{type}</span></label>
      {control}
      {hint && <span id={`${id}-h`} className="hint">{hint}</span>}
      {error && <span id={`${id}-e`} className="field-error">{error}</span>}
    </div>
  );
}

/** A searchable select of a relation's target records, labelled by the display field. */
export function RelationSelect({
  pid, label, target, displayField, value, onChange, error, required,
}: {
  pid: string;
  label: string;
  target: string;
  displayField: string | null;
  value: unknown;
  onChange: (v: unknown) => void;
  error?: string;
  required?: boolean;
}) {
  const id = useId();
  const [q, setQ] = useState("");
  const df = displayField && displayField !== "id" ? displayField : null;
  const options = useQuery({
    queryKey: ["data", pid, target, "options", df, q],
    queryFn: () => api.get<RecordPage>(pp(pid, `/data/${seg(target)}`), { query: { limit: 20, ...(df && q ? { [`${df}__ilike`]: q } : {}) } }),
  });
  const labelOf = (r: Record<string, unknown>) => (df ? `${String(r[df] ?? "")} (#${r.id})` : `#${r.id}`);
  const recs = options.data?.records ?? [];
  const has = recs.some((r) => String(r.id) === String(value));
  return (
    <div className="field">
      <label htmlFor={id}>{label} <span className="muted small">→ {target}</span></label>
      {df && <input aria-label={`Search ${target} by ${df}`} placeholder={`Search ${df}`} value={q} onChange={(e) => setQ(e.target.value)} />}
      <select id={id} value={value === null || value === undefined ? "" : String(value)} aria-invalid={error ? true : undefined} aria-required={required || undefined}
        aria-describedby={error ? `${id}-e` : undefined}
        onChange={(e) => {
          const v = e.target.value;
          onChange(v === "" ? null : /^\d+$/.test(v) ? Number(v) : v);
        }}>
        <option value="">(none)</option>
        {!has && value !== null && value !== undefined && value !== "" && <option value={String(value)}>#{String(value)}</option>}
        {recs.map((r) => <option key={String(r.id)} value={String(r.id)}>{labelOf(r)}</option>)}
      </select>
      {error && <span id={`${id}-e`} className="field-error">{error}</span>}
    </div>
  );
}
