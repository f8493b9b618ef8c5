// The record drawer (§3.6, §4 items 1 and 5): create or edit with typed inputs or as JSON
// (type-checked before sending), changed keys only on save, referencing records listed.

import { useEffect, useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type Collection, type DataRecord, type Field, type RecordPage, type RelationField, type ReverseRelation } from "../../api/types";
import { Link } from "../../lib/router";
import { ErrorState, Id, Skeleton, Time } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { FormAlert, SubmitButton, TextArea, useSubmit } from "../../ui/form";
import { toast, toastError } from "../../ui/toast";
import { RelationSelect, TypedInput } from "./inputs";

/** Checks a JSON value against a field type; returns a problem or null. */
export function typeProblem(type: string, v: unknown): string | null {
  if (v === null) return null;
  switch (type) {
    case "int":
    case "relation":
      return Number.isInteger(v) || (typeof v === "string" && type === "relation") ? null : "must be an integer";
    case "float":
      return typeof v === "number" ? null : "must be a number";
    case "bool":
      return typeof v === "boolean" ? null : "must be true or false";
    case "date":
      return typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v) ? null : "must be a date YYYY-MM-DD";
    case "datetime":
      return typeof v === "string" && !Number.isNaN(Date.parse(v)) ? null : "must be an ISO 8601 date-time";
    case "uuid":
      return typeof v === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v) ? null : "must be a UUID";
    default:
      return typeof v === "string" ? null : "must be a string";
  }
}

export function RecordDrawer({
  pid, collection, fields, relations, id, onClose, onSaved,
}: {
  pid: string;
  collection: Collection;
  fields: Field[];
  relations: RelationField[];
  /** A record id, or "new". */
  id: string;
  onClose: () => void;
  onSaved: (rec: DataRecord) => void;
}) {
  const isNew = id === "new";
  const path = pp(pid, `/data/${seg(collection.name)}`);
  const rec = useQuery({ queryKey: ["record", pid, collection.name, id], queryFn: () => api.get<DataRecord>(`${path}/${seg(id)}`), enabled: !isNew });
  const [values, setValues] = useState<Record<string, unknown>>({});
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [tab, setTab] = useState<"form" | "json">("form");
  const [json, setJson] = useState("");
  const [jsonError, setJsonError] = useState<string | null>(null);
  const s = useSubmit();
  const editable = fields.filter((f) => !f.is_system || collection.name !== "_users" || !["email"].includes(f.name));
  useEffect(() => {
    if (rec.data) {
      const v: Record<string, unknown> = {};
      for (const f of fields) v[f.name] = rec.data[f.sql_column_name] ?? null;
      setValues(v);
      setTouched(new Set());
    }
  }, [rec.data, fields]);
  const changed = useMemo(() => {
    const out: Record<string, unknown> = {};
    for (const k of touched) {
      const f = fields.find((x) => x.name === k);
      if (!f) continue;
      const before = rec.data ? rec.data[f.sql_column_name] ?? null : undefined;
      const now = values[k] === "" && f.field_type !== "string" ? null : values[k];
      if (isNew ? now !== null && now !== undefined && now !== "" : JSON.stringify(now) !== JSON.stringify(before)) out[k] = now;
    }
    return out;
  }, [touched, values, fields, rec.data, isNew]);
  const dirty = Object.keys(changed).length > 0 || (tab === "json" && json !== "" && jsonError === null && json !== JSON.stringify(values, null, 2));

  const set = (k: string, v: unknown) => {
    setValues((o) => ({ ...o, [k]: v }));
    setTouched((t) => new Set(t).add(k));
  };

  const toJson = () => {
    const o: Record<string, unknown> = {};
    for (const f of editable) if (!isNew || values[f.name] !== undefined) o[f.name] = values[f.name] ?? null;
    setJson(JSON.stringify(o, null, 2));
    setJsonError(null);
    setTab("json");
  };
  const fromJson = (): boolean => {
    let o: unknown;
    try {
      o = JSON.parse(json);
    } catch (e) {
      setJsonError(`Not valid JSON: ${(e as Error).message}`);
      return false;
    }
    if (!o || typeof o !== "object" || Array.isArray(o)) {
      setJsonError("Must be a JSON object");
      return false;
    }
    const problems: string[] = [];
    for (const [k, v] of Object.entries(o)) {
      const f = fields.find((x) => x.name === k || x.sql_column_name === k);
      if (!f) problems.push(`${k}: unknown field`);
      else {
        const p = typeProblem(f.field_type, v);
        if (p) problems.push(`${k}: ${p}`);
      }
    }
    if (problems.length) {
      setJsonError(problems.join("; "));
      return false;
    }
    const next = { ...values };
    const t = new Set(touched);
    for (const [k, v] of Object.entries(o)) {
      const f = fields.find((x) => x.name === k || x.sql_column_name === k)!;
      next[f.name] = v;
      t.add(f.name);
    }
    setValues(next);
    setTouched(t);
    setJsonError(null);
    setTab("form");
    return true;
  };

  const save = async () => {
    if (tab === "json" && !fromJson()) return;
    const body = changed;
    const out = await s.run(() => (isNew ? api.post<DataRecord>(path, body) : api.patch<DataRecord>(`${path}/${seg(id)}`, body)),
      (e) => (/^Unknown field: (.+)$/.test(e.message) ? { fields: { [e.message.replace("Unknown field: ", "")]: "Unknown field" } } : null));
    if (out) {
      toast(isNew ? "Record created" : "Record saved");
      await invalidate("data", "record");
      onSaved(out);
    }
  };
  const remove = async () => {
    if (!(await confirm({ title: "Delete record", message: <>Delete record <strong>#{id}</strong> of {collection.name}?</>, action: "Delete" }))) return;
    try {
      await api.del(`${path}/${seg(id)}`);
      toast("Record deleted");
      await invalidate("data", "record");
      onClose();
    } catch (e) {
      toastError(e);
    }
  };

  const relOf = (f: Field) => relations.find((r) => r.id === f.id || r.name === f.name);
  return (
    <Dialog title={isNew ? `New record in ${collection.name}` : `Record #${id}`} open onClose={onClose} drawer dirty={dirty}>
      {!isNew && rec.isPending ? <Skeleton rows={6} /> : !isNew && rec.error ? <ErrorState error={rec.error} notFound="Record not found" /> : (
        <form onSubmit={(e) => { e.preventDefault(); void save(); }}>
          <div className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={tab === "form"} onClick={() => (tab === "json" ? fromJson() : null)}>Form</button>
            <button type="button" role="tab" aria-selected={tab === "json"} onClick={() => tab === "form" && toJson()}>JSON</button>
          </div>
          <FormAlert error={s.error} />
          {!isNew && rec.data && (
            <dl className="grid2 small">
              <dt>id</dt><dd><Id value={rec.data.id} label="record id" /></dd>
              <dt>created_at</dt><dd><Time value={rec.data.created_at as string} /></dd>
              <dt>updated_at</dt><dd data-testid="updated-at">{String(rec.data.updated_at)}</dd>
              {"created_by_user_id" in rec.data && <><dt>created by admin</dt><dd>{String(rec.data.created_by_user_id ?? "—")}</dd></>}
              {"created_by_app_user_id" in rec.data && <><dt>created by app user</dt><dd>{rec.data.created_by_app_user_id ? <Link to={`/projects/${pid}/users?user=${rec.data.created_by_app_user_id}`}>{String(rec.data.created_by_app_user_id)}</Link> : "—"}</dd></>}
            </dl>
          )}
          {tab === "form" ? editable.map((f) => {
            const r = f.field_type === "relation" ? relOf(f) : undefined;
            const label = f.display_name || f.name;
            const err = s.fields[f.name] ?? s.fields[f.sql_column_name];
            return r ? (
              <RelationSelect key={f.id} pid={pid} label={label} target={r.target_collection_name} displayField={r.relation_display_field}
                value={values[f.name]} onChange={(v) => set(f.name, v)} error={err} required={f.is_required} />
            ) : (
              <TypedInput key={f.id} label={label} type={f.field_type} value={values[f.name]} onChange={(v) => set(f.name, v)} error={err}
                required={f.is_required} placeholder={f.default_value ?? undefined} readOnly={f.is_system && collection.name === "_users" && f.name === "email"} />
            );
          }) : (
            <TextArea label="Record as JSON" value={json} onChange={(e) => setJson(e.target.value)} error={jsonError ?? undefined} rows={14} className="mono" />
          )}
          <div className="actions">
            {!isNew && <button type="button" className="danger" onClick={remove}>Delete</button>}
            <span className="spacer" />
            <button type="button" onClick={onClose}>Cancel</button>
            <SubmitButton busy={s.busy}>{isNew ? "Create record" : "Save"}</SubmitButton>
          </div>
          {!isNew && <Referencing pid={pid} collection={collection} id={id} />}
        </form>
      )}
    </Dialog>
  );
}

/** Records of other collections pointing at this one (§4 item 5). */
function Referencing({ pid, collection, id }: { pid: string; collection: Collection; id: string }) {
  const rev = useQuery({
    queryKey: ["reverse-relations", pid, collection.id],
    queryFn: () => api.get<ReverseRelation[]>(pp(pid, `/schema/relations/collections/${seg(collection.id)}/reverse-relations`)),
  });
  const refs = useQuery({
    queryKey: ["data", pid, "refs", collection.name, id, rev.data?.map((r) => r.id).join()],
    enabled: !!rev.data?.length,
    queryFn: async () => Promise.all(rev.data!.map(async (r) => ({
      r, page: await api.get<RecordPage>(pp(pid, `/data/${seg(r.source_collection_name)}`), { query: { [r.sql_column_name]: id, limit: 10 } }),
    }))),
  });
  if (!rev.data?.length) return null;
  return (
    <section aria-label="Referencing records">
      <h3>Referenced by</h3>
      {refs.data?.map(({ r, page }) => (
        <p key={r.id}>
          {r.source_collection_name}.{r.name}: {page.total === 0 ? <span className="muted">none</span> : page.records.map((x) => (
            <Link key={String(x.id)} to={`/projects/${pid}/data?c=${r.source_collection_name}&record=${x.id}`}> #{String(x.id)}</Link>
          ))}{page.total > page.records.length ? ` and ${page.total - page.records.length} more` : ""}
        </p>
      ))}
    </section>
  );
}
