// Schema evolution (§3.14): rename collection and fields, change type, soft/hard delete and
// restore, each previewed first; deleted fields derived from the schema-op log; aliases.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { ApiError, api } from "../../api/client";
import { invalidate, useCollections, useFields } from "../../api/queries";
import { pp, seg, type Aliases, type Collection, type Field, type PreviewOut, type SafeConversion, type SchemaOp } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Skeleton, Time } from "../../ui/bits";
import { Dialog } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextField, reservedNote, slugProblem, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast } from "../../ui/toast";

type Op = "rename_collection" | "rename_field" | "change_field_type" | "soft_delete_field" | "hard_delete_field" | "restore_field";

interface Target { op: Op; field?: { id: string; name: string; type?: string }; deleted?: boolean }

interface DeletedField { id: string; name: string; column: string; deleted_at: string }

/** Fields whose newest op is a soft delete (the API hides soft-deleted fields). */
export function deletedFields(ops: SchemaOp[]): DeletedField[] {
  const latest = new Map<string, { op: SchemaOp; payload: Record<string, string> }>();
  const sorted = [...ops].sort((a, b) => b.created_at.localeCompare(a.created_at));
  for (const op of sorted) {
    let payload: Record<string, string>;
    try {
      payload = JSON.parse(op.payload_json);
    } catch {
      continue;
    }
    if (payload.field_id && !latest.has(payload.field_id)) latest.set(payload.field_id, { op, payload });
  }
  return [...latest.values()].filter((x) => x.op.op_type === "soft_delete_column").map((x) => ({
    id: x.payload.field_id, name: x.payload.field_name, column: x.payload.sql_column_name ?? x.payload.field_name, deleted_at: x.payload.deleted_at ?? x.op.created_at,
  }));
}

const TITLES: Record<Op, string> = {
  rename_collection: "Rename collection", rename_field: "Rename field", change_field_type: "Change type",
  soft_delete_field: "Soft delete field", hard_delete_field: "Hard delete field", restore_field: "Restore field",
};

function OperationDialog({ pid, collection, target, onClose }: { pid: string; collection: Collection; target: Target; onClose: () => void }) {
  const { op, field } = target;
  const [newName, setNewName] = useState("");
  const [newDisplay, setNewDisplay] = useState("");
  const [newType, setNewType] = useState("");
  const [skipSoft, setSkipSoft] = useState(false);
  const [typed, setTyped] = useState("");
  const [preview, setPreview] = useState<PreviewOut | null>(null);
  const conversions = useQuery({ queryKey: ["safe-conversions", pid], queryFn: () => api.get<{ safe_conversions: SafeConversion[] }>(pp(pid, "/schema/evolution/safe-conversions")), enabled: op === "change_field_type" });
  const s = useSubmit();
  const base = pp(pid, `/schema/evolution/collections/${seg(collection.id)}`);
  const safe = (conversions.data?.safe_conversions ?? []).filter((c) => c.from === field?.type);
  const needsName = op === "rename_collection" || op === "rename_field";
  const problem = needsName ? slugProblem(newName) : null;
  const live = op === "hard_delete_field" && !target.deleted;
  const lock = (e: ApiError) => (e.status === 409 && /lock/i.test(e.message) ? { message: "Another schema change is running on this collection; retry in a moment" } : null);
  const params = (): Record<string, unknown> => ({
    ...(field ? { field_id: field.id } : {}), ...(needsName ? { new_name: newName } : {}), ...(op === "change_field_type" ? { new_type: newType } : {}),
  });
  const doPreview = async () => {
    if (needsName && (!newName || problem)) return s.setFields({ new_name: problem ?? "Enter a new name" });
    if (op === "change_field_type" && !newType) return s.setFields({ new_type: "Pick a type" });
    const p = await s.run(() => api.post<PreviewOut>(`${base}/preview-migration`, { operation: op, params: params() }), lock);
    if (p) setPreview(p);
  };
  const apply = async () => {
    const path = {
      rename_collection: `${base}/rename`, rename_field: `${base}/fields/${seg(field?.id ?? "")}/rename`,
      change_field_type: `${base}/fields/${seg(field?.id ?? "")}/change-type`, soft_delete_field: `${base}/fields/${seg(field?.id ?? "")}/soft-delete`,
      hard_delete_field: `${base}/fields/${seg(field?.id ?? "")}/hard-delete?force=${live ? "true" : "false"}`, restore_field: `${base}/fields/${seg(field?.id ?? "")}/restore`,
    }[op];
    const body = needsName ? { new_name: newName, new_display_name: newDisplay || null } : op === "change_field_type" ? { new_type: newType } : undefined;
    const out = await s.run(() => api.post<{ details: Record<string, unknown> }>(path, body), (e) => lock(e) ?? (needsName && e.status !== 404 ? { fields: { new_name: e.message } } : null));
    if (out) {
      const alias = out.details?.alias_expires_at ? ` The old name stays an alias until ${new Date(String(out.details.alias_expires_at)).toLocaleDateString()}; until then the data API still answers to it.` : "";
      toast(`${TITLES[op]}: done.${alias}`);
      await invalidate("fields", "collections", "schema-ops", "aliases", "data", "relations");
      if (op === "rename_collection") setQuery({ c: newName });
      onClose();
    }
  };
  const canApply = op === "restore_field" || (preview !== null && (op !== "hard_delete_field" || (typed === field?.name && (!live || skipSoft))));
  return (
    <Dialog title={`${TITLES[op]}${field ? ` ${field.name}` : ` ${collection.name}`}`} open onClose={onClose}>
      <form onSubmit={(e) => { e.preventDefault(); void (preview || op === "restore_field" ? apply() : doPreview()); }}>
        <FormAlert error={s.error} />
        {needsName && (
          <>
            <TextField label="New name" value={newName} onChange={(e) => { setNewName(e.target.value); setPreview(null); s.setFields({}); }} error={s.fields.new_name ?? problem ?? reservedNote(newName) ?? undefined} required autoComplete="off" />
            <TextField label="New display name" value={newDisplay} onChange={(e) => setNewDisplay(e.target.value)} hint="Optional" />
          </>
        )}
        {op === "change_field_type" && (
          safe.length === 0 ? <p className="muted">No safe conversion from {field?.type}.</p> : (
            <SelectField label="New type" value={newType} onChange={(e) => { setNewType(e.target.value); setPreview(null); }} error={s.fields.new_type}>
              <option value="">Choose…</option>
              {safe.map((c) => <option key={c.to} value={c.to}>{c.to}: {c.description}</option>)}
            </SelectField>
          )
        )}
        {op === "soft_delete_field" && <p>The field is hidden from the API; its data is kept and it can be restored.</p>}
        {op === "restore_field" && <p>The field comes back with its data.</p>}
        {live && <Checkbox label="Skip soft delete (drop the live column now)" checked={skipSoft} onChange={(e) => setSkipSoft(e.target.checked)} />}
        {preview && (
          <section aria-label="Preview" className="card">
            <h3>Steps</h3>
            <ul>{preview.steps.map((x) => <li key={x}><code>{x}</code></li>)}</ul>
            {preview.warnings.length > 0 && <><h3>Warnings</h3><ul>{preview.warnings.map((w) => <li key={w}><Badge tone="warn">warning</Badge> {w}</li>)}</ul></>}
          </section>
        )}
        {op === "hard_delete_field" && preview && (
          <TextField label={`Type ${field?.name} to confirm`} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
        )}
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          {op !== "restore_field" && !preview ? <SubmitButton busy={s.busy}>Preview</SubmitButton> : (
            <SubmitButton busy={s.busy} disabled={!canApply} className={op.includes("delete") ? "danger" : "primary"}>Apply</SubmitButton>
          )}
        </div>
      </form>
    </Dialog>
  );
}

function Evolution({ pid, collection }: { pid: string; collection: Collection }) {
  const { search } = useLocation();
  const fields = useFields(pid, collection.name);
  const ops = useQuery({
    queryKey: ["schema-ops", pid, "deleted", collection.id],
    queryFn: async () => (await Promise.all(["soft_delete_column", "restore_column", "drop_column"].map((t) =>
      api.get<SchemaOp[]>(pp(pid, "/audit/schema-ops"), { query: { collection_id: collection.id, op_type: t, limit: 1000 } })))).flat(),
  });
  const aliases = useQuery({ queryKey: ["aliases", pid], queryFn: () => api.get<Aliases>(pp(pid, "/schema/evolution/aliases")) });
  const [target, setTarget] = useState<Target | null>(null);
  const preselected = search.get("f");
  const deleted = deletedFields(ops.data ?? []);
  const system = collection.is_system;
  const fieldOps = (f: Field) => (
    <span className="row">
      <button type="button" disabled={f.is_system} onClick={() => setTarget({ op: "rename_field", field: { id: f.id, name: f.name } })} aria-label={`Rename ${f.name}`}>Rename</button>
      <button type="button" disabled={f.is_system} onClick={() => setTarget({ op: "change_field_type", field: { id: f.id, name: f.name, type: f.field_type } })} aria-label={`Change type of ${f.name}`}>Change type</button>
      <button type="button" disabled={f.is_system} onClick={() => setTarget({ op: "soft_delete_field", field: { id: f.id, name: f.name } })} aria-label={`Soft delete ${f.name}`}>Soft delete</button>
      <button type="button" disabled={f.is_system} onClick={() => setTarget({ op: "hard_delete_field", field: { id: f.id, name: f.name } })} aria-label={`Hard delete ${f.name}`}>Hard delete</button>
    </span>
  );
  const collAliases = (aliases.data?.collection_aliases ?? []).filter((a) => a.collection_id === collection.id);
  const fieldAliases = (aliases.data?.field_aliases ?? []).filter((a) => a.collection_id === collection.id);
  return (
    <div className="page">
      <div className="page-head">
        <h2>{collection.display_name} <code className="muted">{collection.name}</code></h2>
        <div className="actions">
          <button type="button" disabled={system} title={system ? "The system collection cannot be renamed" : undefined} onClick={() => setTarget({ op: "rename_collection" })}>Rename collection</button>
        </div>
      </div>
      <h3>Live fields</h3>
      {fields.isPending ? <Skeleton /> : fields.error ? <ErrorState error={fields.error} notFound="Collection not found" /> : fields.data.length === 0 ? <Empty title="No fields" /> : (
        <Table label="Live fields" rows={fields.data} rowKey={(f) => f.id} highlight={preselected} columns={[
          { key: "name", label: "Name", render: (f) => <><code>{f.name}</code> {f.is_system && <Badge>system</Badge>}</> },
          { key: "type", label: "Type", render: (f) => f.field_type },
          { key: "col", label: "Column", render: (f) => <code>{f.sql_column_name}</code> },
          { key: "ops", label: "Operations", render: fieldOps },
        ]} />
      )}
      <h3>Deleted fields</h3>
      {ops.isPending ? <Skeleton /> : deleted.length === 0 ? <p className="muted">No soft-deleted fields.</p> : (
        <Table label="Deleted fields" rows={deleted} rowKey={(f) => f.id} columns={[
          { key: "name", label: "Name", render: (f) => <code>{f.name}</code> },
          { key: "at", label: "Deleted", render: (f) => <Time value={f.deleted_at} /> },
          { key: "ops", label: "Operations", render: (f) => (
            <span className="row">
              <button type="button" onClick={() => setTarget({ op: "restore_field", field: { id: f.id, name: f.name }, deleted: true })} aria-label={`Restore ${f.name}`}>Restore</button>
              <button type="button" onClick={() => setTarget({ op: "hard_delete_field", field: { id: f.id, name: f.name }, deleted: true })} aria-label={`Hard delete ${f.name}`}>Hard delete</button>
            </span>
          ) },
        ]} />
      )}
      <h3>Aliases</h3>
      <p className="muted small">Old names keep working in the data API as aliases for 30 days; move clients to the new names before they expire.</p>
      {collAliases.length + fieldAliases.length === 0 ? <p className="muted">No aliases.</p> : (
        <table aria-label="Aliases">
          <thead><tr><th scope="col">Old name</th><th scope="col">Current name</th><th scope="col">Expires</th></tr></thead>
          <tbody>
            {collAliases.map((a) => <tr key={"c" + a.old_name}><td><code>{a.old_name}</code></td><td>{collection.name} (collection)</td><td><Time value={a.expires_at} /></td></tr>)}
            {fieldAliases.map((a) => <tr key={"f" + a.field_id + a.old_name}><td><code>{a.old_name}</code></td><td>{fields.data?.find((f) => f.id === a.field_id)?.name ?? deleted.find((f) => f.id === a.field_id)?.name ?? "(dropped)"}</td><td><Time value={a.expires_at} /></td></tr>)}
          </tbody>
        </table>
      )}
      {target && <OperationDialog pid={pid} collection={collection} target={target} onClose={() => setTarget(null)} />}
    </div>
  );
}

export default function SchemaEvolution({ pid }: { pid: string }) {
  const { search } = useLocation();
  const c = search.get("c");
  const collections = useCollections(pid);
  const current = collections.data?.find((x) => x.name === c) ?? null;
  return (
    <div className="page">
      <h1>Schema evolution</h1>
      {collections.isPending ? <Skeleton /> : collections.error ? <ErrorState error={collections.error} /> : (
        <SelectField label="Collection" value={c ?? ""} onChange={(e) => setQuery({ c: e.target.value || null, f: null })}>
          <option value="">Choose…</option>
          {collections.data.map((x) => <option key={x.id} value={x.name}>{x.name}</option>)}
        </SelectField>
      )}
      {!c ? <Empty title="Select a collection" /> : !current ? (collections.isPending ? <Skeleton /> : <Empty title="Collection not found" />) : <Evolution key={current.id} pid={pid} collection={current} />}
    </div>
  );
}
