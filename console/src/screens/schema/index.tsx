// Schema builder (§3.5): collections, the selected collection's fields with its system columns,
// create collection and add field dialogs.

import { useState } from "react";
import { api } from "../../api/client";
import { invalidate, useCollections, useFields } from "../../api/queries";
import { pp, seg, type Collection, type Field } from "../../api/types";
import { Link, setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Id, Skeleton } from "../../ui/bits";
import { CollectionList } from "../../ui/CollectionList";
import { Dialog } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, SYSTEM_COLUMNS, TextField, reservedNote, slugProblem, titleFromSlug, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast } from "../../ui/toast";
import { AddRelation } from "../relations/AddRelation";
import { TypedInput } from "../data/inputs";

const TYPES = ["string", "int", "float", "bool", "date", "datetime", "uuid"] as const;

/** Display name suggested from the slug until the user edits it. */
function useSuggested() {
  const [name, setName] = useState("");
  const [display, setDisplay] = useState("");
  const [touched, setTouched] = useState(false);
  return {
    name, display: touched ? display : titleFromSlug(name),
    setName, setDisplay: (v: string) => { setTouched(true); setDisplay(v); },
    reset: () => { setName(""); setDisplay(""); setTouched(false); },
  };
}

export function CreateCollection({ pid, onCreated }: { pid: string; onCreated: (c: Collection) => void }) {
  const [open, setOpen] = useState(false);
  const f = useSuggested();
  const s = useSubmit();
  const problem = slugProblem(f.name);
  return (
    <>
      <button type="button" className="primary" onClick={() => { f.reset(); s.reset(); setOpen(true); }}>New collection</button>
      <Dialog title="Create collection" open={open} onClose={() => setOpen(false)} dirty={f.name !== ""}>
        <form onSubmit={async (e) => {
          e.preventDefault();
          if (!f.name) return s.setFields({ name: "Enter a name" });
          if (problem) return;
          const c = await s.run(
            () => api.post<Collection>(pp(pid, "/schema/collections"), { name: f.name, display_name: f.display || f.name }),
            (err) => (err.status === 400 || err.status === 409 ? { fields: { name: err.message } } : null),
          );
          if (c) {
            setOpen(false);
            toast("Collection created");
            await invalidate("collections");
            onCreated(c);
          }
        }}>
          <FormAlert error={s.error} />
          <TextField label="Name" value={f.name} onChange={(e) => { f.setName(e.target.value); s.setFields({}); }} error={s.fields.name ?? problem ?? reservedNote(f.name) ?? undefined} hint="Lower-case letters, digits and _; starts with a letter" required autoFocus autoComplete="off" />
          <TextField label="Display name" value={f.display} onChange={(e) => f.setDisplay(e.target.value)} error={s.fields.display_name} maxLength={255} required />
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Create collection</SubmitButton>
          </div>
        </form>
      </Dialog>
    </>
  );
}

function AddField({ pid, collection, fields }: { pid: string; collection: Collection; fields: Field[] }) {
  const [open, setOpen] = useState(false);
  const [relation, setRelation] = useState(false);
  const f = useSuggested();
  const [type, setType] = useState<string>("string");
  const [required, setRequired] = useState(false);
  const [unique, setUnique] = useState(false);
  const [indexed, setIndexed] = useState(false);
  const [def, setDef] = useState("");
  const s = useSubmit();
  let problem = slugProblem(f.name);
  if (!problem && SYSTEM_COLUMNS.includes(f.name)) problem = `"${f.name}" is a system column`;
  if (!problem && fields.some((x) => x.name === f.name)) problem = "A field with this name already exists";
  const reset = () => { f.reset(); setType("string"); setRequired(false); setUnique(false); setIndexed(false); setDef(""); s.reset(); };
  return (
    <>
      <button type="button" className="primary" onClick={() => { reset(); setOpen(true); }}>Add field</button>
      <Dialog title={`Add field to ${collection.name}`} open={open} onClose={() => setOpen(false)} dirty={f.name !== ""}>
        <form onSubmit={async (e) => {
          e.preventDefault();
          if (!f.name) return s.setFields({ name: "Enter a name" });
          if (problem) return;
          if (required && def === "") return s.setFields({ default_value: "A required field needs a default for existing rows" });
          const out = await s.run(
            () => api.post<Field>(pp(pid, `/schema/collections/${seg(collection.name)}/fields`), {
              name: f.name, display_name: f.display || f.name, field_type: type, is_required: required,
              is_unique: unique, is_indexed: indexed || unique, default_value: def === "" ? null : def,
            }),
            (err) => {
              if (err.status === 409) return { fields: { name: `${err.message} (a soft-deleted field keeps its name)` } };
              if (err.status === 400 && /default/i.test(err.message)) return { fields: { default_value: err.message } };
              if (err.status === 400 && /name|system/i.test(err.message)) return { fields: { name: err.message } };
              return null;
            },
          );
          if (out) {
            setOpen(false);
            toast("Field added");
            await invalidate("fields");
          }
        }}>
          <FormAlert error={s.error} />
          <TextField label="Name" value={f.name} onChange={(e) => { f.setName(e.target.value); s.setFields({}); }} error={s.fields.name ?? problem ?? reservedNote(f.name) ?? undefined} required autoFocus autoComplete="off" />
          <TextField label="Display name" value={f.display} onChange={(e) => f.setDisplay(e.target.value)} error={s.fields.display_name} maxLength={255} required />
          <SelectField label="Type" value={type} onChange={(e) => {
            if (e.target.value === "relation") { setOpen(false); setRelation(true); return; }
            setType(e.target.value); setDef("");
          }} error={s.fields.field_type}>
            {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
            <option value="relation">relation (link to another collection)…</option>
          </SelectField>
          <Checkbox label="Required" checked={required} onChange={(e) => setRequired(e.target.checked)} />
          <Checkbox label="Unique" checked={unique} onChange={(e) => setUnique(e.target.checked)} hint="Unique fields are always indexed" />
          <Checkbox label="Indexed" checked={indexed || unique} disabled={unique} onChange={(e) => setIndexed(e.target.checked)} />
          <TypedInput label={required ? "Default value (required)" : "Default value"} type={type} value={def} onChange={(v) => setDef(v === null || v === undefined ? "" : String(v))} error={s.fields.default_value} asString />
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Add field</SubmitButton>
          </div>
        </form>
      </Dialog>
      {relation && <AddRelation pid={pid} source={collection} onClose={() => setRelation(false)} />}
    </>
  );
}

interface Row { name: string; display: string; type: string; field?: Field; system: boolean }

function systemRows(c: Collection): Row[] {
  const users = c.name === "_users";
  const rows: Row[] = [
    { name: "id", display: "ID", type: users ? "uuid" : "integer", system: true },
    { name: "created_at", display: "Created at", type: "datetime", system: true },
    { name: "updated_at", display: "Updated at", type: "datetime", system: true },
  ];
  if (!users) {
    rows.push({ name: "created_by_user_id", display: "Created by admin", type: "text", system: true });
    rows.push({ name: "created_by_app_user_id", display: "Created by app user", type: "text", system: true });
  }
  return rows;
}

function FieldTable({ pid, collection, fields, collections }: { pid: string; collection: Collection; fields: Field[]; collections: Collection[] }) {
  const target = (id: string | null) => collections.find((c) => c.id === id)?.name ?? "?";
  const rows: Row[] = [...systemRows(collection), ...fields.map((f) => ({ name: f.name, display: f.display_name, type: f.field_type, field: f, system: f.is_system }))];
  const flag = (v: boolean | undefined) => (v ? "✓" : "");
  return (
    <Table
      label={`Fields of ${collection.name}`}
      rows={rows}
      rowKey={(r) => r.name}
      columns={[
        { key: "name", label: "Name", render: (r) => <code>{r.name}</code> },
        { key: "display", label: "Display name", render: (r) => r.display },
        { key: "type", label: "Type", render: (r) => r.field?.field_type === "relation" ? <>relation → {target(r.field.relation_target_collection_id)} <code className="muted">{r.field.sql_column_name}</code></> : r.type },
        { key: "req", label: "Required", render: (r) => flag(r.field?.is_required) },
        { key: "uniq", label: "Unique", render: (r) => flag(r.field?.is_unique) },
        { key: "idx", label: "Indexed", render: (r) => flag(r.field?.is_indexed) },
        { key: "def", label: "Default", render: (r) => r.field?.default_value ?? "" },
        { key: "badges", label: "Flags", render: (r) => <>{r.system && <Badge>system</Badge>} {r.field?.is_hidden && <Badge>hidden</Badge>}</> },
        {
          key: "act", label: <span className="sr">Actions</span>, render: (r) => r.field && !r.system ? (
            <span className="row">
              <Link to={`/projects/${pid}/validations?c=${collection.name}&f=${r.name}`}>Add validation rule</Link>
              <Link to={`/projects/${pid}/schema-evolution?c=${collection.name}&f=${r.field.id}`}>Rename / change type / delete</Link>
            </span>
          ) : null,
        },
      ]}
    />
  );
}

export default function Schema({ pid }: { pid: string }) {
  const { search } = useLocation();
  const c = search.get("c");
  const collections = useCollections(pid);
  const current = collections.data?.find((x) => x.name === c) ?? null;
  const fields = useFields(pid, current?.name);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Schema</h1>
        <div className="actions"><CreateCollection pid={pid} onCreated={(x) => setQuery({ c: x.name })} /></div>
      </div>
      <div className="split">
        {collections.isPending ? <Skeleton /> : collections.error ? <ErrorState error={collections.error} retry={() => collections.refetch()} /> : (
          <CollectionList collections={collections.data} selected={c} onSelect={(name) => setQuery({ c: name })} />
        )}
        <section aria-label="Collection details">
          {!c ? <Empty title="Select a collection" /> : !current ? (collections.isPending ? <Skeleton /> : <Empty title="Collection not found" />) : (
            <div className="page">
              <div className="page-head">
                <h2>{current.display_name}</h2>
                <code>{current.name}</code>
                <Id value={current.id} short label="collection id" />
                <div className="actions">
                  <Link to={`/projects/${pid}/data?c=${current.name}`}>Open data</Link>
                  {!current.is_system && <Link to={`/projects/${pid}/schema-evolution?c=${current.name}`}>Rename…</Link>}
                  <AddField pid={pid} collection={current} fields={fields.data ?? []} />
                </div>
              </div>
              {fields.isPending ? <Skeleton /> : fields.error ? <ErrorState error={fields.error} retry={() => fields.refetch()} /> : (
                <>
                  <FieldTable pid={pid} collection={current} fields={fields.data} collections={collections.data ?? []} />
                  {fields.data.length === 0 && <Empty title="Add the first field" />}
                </>
              )}
            </div>
          )}
        </section>
      </div>
    </div>
  );
}
