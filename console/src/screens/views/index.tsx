// Views (§3.13): list; run with typed parameters and offset paging; API panel from meta;
// version history with restore; create/edit with projection, filters, sorts, parameters, limits.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections, useFields } from "../../api/queries";
import { pp, seg, type Collection, type FilterDef, type Operator, type ParamSpec, type SortDef, type View, type ViewMeta, type ViewResult, type ViewVersion } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Code, Empty, ErrorState, Json, Skeleton, Time, Value } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextField, reservedNote, slugProblem, titleFromSlug, useSubmit } from "../../ui/form";
import { Table, sortRows } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const PARAM_TYPES = ["string", "number", "boolean", "limit", "offset", "sort_field", "sort_direction"];
const SYSTEM = ["id", "created_at", "updated_at", "created_by_user_id", "created_by_app_user_id"];

interface Def {
  name: string; display_name: string; description: string; base_collection_id: string; projection: string[];
  filters: FilterDef[]; sorts: SortDef[]; params: [string, ParamSpec][]; default_limit: string; max_limit: string;
}

function toDef(v: View | null): Def {
  return {
    name: v?.name ?? "", display_name: v?.display_name ?? "", description: v?.description ?? "", base_collection_id: v?.base_collection_id ?? "",
    projection: v?.projection ?? [], filters: v?.filters ?? [], sorts: v?.sorts ?? [], params: Object.entries(v?.params_schema ?? {}),
    default_limit: String(v?.default_limit ?? 100), max_limit: String(v?.max_limit ?? 1000),
  };
}

function ViewDialog({ pid, view, collections, onClose }: { pid: string; view: View | null; collections: Collection[]; onClose: () => void }) {
  const [d, setD] = useState<Def>(() => toDef(view));
  const [displayTouched, setDisplayTouched] = useState(!!view);
  const base = collections.find((c) => c.id === d.base_collection_id);
  const fields = useFields(pid, base?.name);
  const operators = useQuery({ queryKey: ["view-operators", pid], queryFn: () => api.get<{ operators: Operator[] }>(pp(pid, "/views/operators")) });
  const s = useSubmit();
  const columns = [...SYSTEM, ...(fields.data ?? []).map((f) => f.sql_column_name)];
  const typeOf = (col: string) => fields.data?.find((f) => f.sql_column_name === col)?.field_type ?? (col === "id" ? "int" : col.endsWith("_at") ? "datetime" : "string");
  const opsFor = (col: string) => (operators.data?.operators ?? []).filter((o) => o.types.includes("all") || o.types.includes(typeOf(col)));
  const set = (ch: Partial<Def>) => setD({ ...d, ...ch });
  const problem = view ? null : slugProblem(d.name);
  const local: Record<string, string> = {};
  const dl = Number(d.default_limit), ml = Number(d.max_limit);
  if (!(dl >= 1 && dl <= 1000)) local.default_limit = "1 to 1000";
  if (!(ml >= 1 && ml <= 1000)) local.max_limit = "1 to 1000";
  if (dl > ml) local.default_limit = "At most the maximum";
  if (d.filters.length > 20) local.filters = "At most 20 filters";
  const addParam = (name: string, type: string) => {
    if (d.params.some(([n]) => n === name)) return d.params;
    return [...d.params, [name, { type, required: false, description: "", example: "" }] as [string, ParamSpec]];
  };
  const submit = async () => {
    if (!view && !d.name) return s.setFields({ name: "Enter a name" });
    if (!d.base_collection_id) return s.setFields({ base_collection_id: "Pick a collection" });
    if (problem || Object.keys(local).length) return;
    const body: Record<string, unknown> = {
      display_name: d.display_name || titleFromSlug(d.name), description: d.description || null, projection: d.projection,
      filters: d.filters, sorts: d.sorts, params_schema: Object.fromEntries(d.params.filter(([n]) => n)),
      default_limit: dl, max_limit: ml,
    };
    const out = await s.run(() => view
      ? api.patch<View>(pp(pid, `/views/${seg(view.name)}`), body)
      : api.post<View>(pp(pid, "/views"), { ...body, name: d.name, base_collection_id: d.base_collection_id }),
    (err) => (/name|already exists/i.test(err.message) && err.status === 400 ? { fields: { name: err.message } } : null));
    if (out) {
      toast(view ? `View saved (version ${out.version})` : "View created");
      await invalidate("views", "view", "view-versions", "view-meta");
      onClose();
      setQuery({ v: out.name });
    }
  };
  return (
    <Dialog title={view ? `Edit view ${view.name}` : "Create view"} open onClose={onClose} wide dirty={!view && d.name !== ""}>
      <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <FormAlert error={s.error} />
        <div className="grid2">
          <TextField label="Name" value={d.name} readOnly={!!view} onChange={(e) => set({ name: e.target.value, ...(displayTouched ? {} : { display_name: titleFromSlug(e.target.value) }) })}
            error={s.fields.name ?? problem ?? reservedNote(d.name) ?? undefined} required autoComplete="off" />
          <TextField label="Display name" value={d.display_name} onChange={(e) => { setDisplayTouched(true); set({ display_name: e.target.value }); }} required />
          <SelectField label="Base collection" value={d.base_collection_id} disabled={!!view} onChange={(e) => set({ base_collection_id: e.target.value, projection: [], filters: [], sorts: [] })} error={s.fields.base_collection_id} required>
            <option value="">Choose…</option>
            {collections.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </SelectField>
          <TextField label="Description" value={d.description} onChange={(e) => set({ description: e.target.value })} />
        </div>
        {base && (
          <>
            <fieldset>
              <legend>Projection (none ticked = all columns)</legend>
              <div className="row">
                {columns.map((c) => (
                  <Checkbox key={c} label={c} checked={d.projection.includes(c)} onChange={(e) => set({ projection: e.target.checked ? [...d.projection, c] : d.projection.filter((x) => x !== c) })} />
                ))}
              </div>
            </fieldset>
            <fieldset>
              <legend>Filters</legend>
              {local.filters && <span className="field-error">{local.filters}</span>}
              {d.filters.map((f, i) => {
                const upd = (ch: Partial<FilterDef>) => set({ filters: d.filters.map((x, j) => (j === i ? { ...x, ...ch } : x)) });
                return (
                  <div className="filter-row" key={i}>
                    <SelectField label={`Filter ${i + 1} column`} value={f.field} onChange={(e) => upd({ field: e.target.value })}>
                      {columns.map((c) => <option key={c} value={c}>{c}</option>)}
                    </SelectField>
                    <SelectField label={`Filter ${i + 1} operator`} value={f.operator} onChange={(e) => upd({ operator: e.target.value })}>
                      {opsFor(f.field).map((o) => <option key={o.value} value={o.value}>{o.label} ({o.value})</option>)}
                    </SelectField>
                    <Checkbox label="Parameter" checked={f.is_param} onChange={(e) => upd({ is_param: e.target.checked, param_name: e.target.checked ? f.param_name ?? f.field : null })} />
                    {f.is_param ? (
                      <TextField label={`Filter ${i + 1} parameter`} value={f.param_name ?? ""} onChange={(e) => upd({ param_name: e.target.value })} />
                    ) : !["is_null", "is_not_null"].includes(f.operator) && (
                      <TextField label={`Filter ${i + 1} value`} value={f.value === null || f.value === undefined ? "" : String(f.value)}
                        onChange={(e) => upd({ value: ["int", "float"].includes(typeOf(f.field)) && e.target.value !== "" && !Number.isNaN(Number(e.target.value)) ? Number(e.target.value) : e.target.value })} />
                    )}
                    <button type="button" className="icon" aria-label={`Remove filter ${i + 1}`} onClick={() => set({ filters: d.filters.filter((_, j) => j !== i) })}>×</button>
                  </div>
                );
              })}
              <button type="button" disabled={d.filters.length >= 20} onClick={() => set({ filters: [...d.filters, { field: columns[0], operator: "=", value: "", is_param: false, param_name: null }] })}>Add filter</button>
            </fieldset>
            <fieldset>
              <legend>Sorts</legend>
              {d.sorts.map((so, i) => {
                const upd = (ch: Partial<SortDef>) => set({ sorts: d.sorts.map((x, j) => (j === i ? { ...x, ...ch } : x)) });
                return (
                  <div className="filter-row" key={i}>
                    <SelectField label={`Sort ${i + 1} column`} value={so.field} onChange={(e) => upd({ field: e.target.value })}>
                      {columns.map((c) => <option key={c} value={c}>{c}</option>)}
                    </SelectField>
                    <Checkbox label="Column from parameter" checked={so.is_param} onChange={(e) => upd({ is_param: e.target.checked, param_name: e.target.checked ? "sort_by" : null })} />
                    {so.is_param && <TextField label={`Sort ${i + 1} column parameter`} value={so.param_name ?? ""} onChange={(e) => upd({ param_name: e.target.value })} />}
                    {so.desc_is_param ? (
                      <TextField label={`Sort ${i + 1} direction parameter`} value={so.desc_param_name ?? ""} onChange={(e) => upd({ desc_param_name: e.target.value })} />
                    ) : (
                      <SelectField label={`Sort ${i + 1} direction`} value={so.desc ? "desc" : "asc"} onChange={(e) => upd({ desc: e.target.value === "desc" })}>
                        <option value="asc">ascending</option><option value="desc">descending</option>
                      </SelectField>
                    )}
                    <Checkbox label="Direction from parameter" checked={so.desc_is_param} onChange={(e) => upd({ desc_is_param: e.target.checked, desc_param_name: e.target.checked ? "sort_order" : null })} />
                    <button type="button" className="icon" aria-label={`Remove sort ${i + 1}`} onClick={() => set({ sorts: d.sorts.filter((_, j) => j !== i) })}>×</button>
                  </div>
                );
              })}
              <button type="button" onClick={() => set({ sorts: [...d.sorts, { field: "id", desc: false, is_param: false, param_name: null, desc_is_param: false, desc_param_name: null }] })}>Add sort</button>
            </fieldset>
            <fieldset>
              <legend>Parameters</legend>
              {d.params.map(([name, p], i) => {
                const upd = (n: string, ch: Partial<ParamSpec>) => set({ params: d.params.map((x, j) => (j === i ? [n, { ...x[1], ...ch }] : x)) });
                return (
                  <div className="filter-row" key={i}>
                    <TextField label={`Parameter ${i + 1} name`} value={name} onChange={(e) => upd(e.target.value, {})} />
                    <SelectField label={`Parameter ${i + 1} type`} value={p.type} onChange={(e) => upd(name, { type: e.target.value })}>
                      {PARAM_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                    </SelectField>
                    <Checkbox label="Required" checked={!!p.required} onChange={(e) => upd(name, { required: e.target.checked })} />
                    <TextField label={`Parameter ${i + 1} description`} value={p.description ?? ""} onChange={(e) => upd(name, { description: e.target.value })} />
                    <TextField label={`Parameter ${i + 1} example`} value={p.example === undefined ? "" : String(p.example)} onChange={(e) => upd(name, { example: e.target.value })} />
                    <button type="button" className="icon" aria-label={`Remove parameter ${i + 1}`} onClick={() => set({ params: d.params.filter((_, j) => j !== i) })}>×</button>
                  </div>
                );
              })}
              <div className="row">
                <button type="button" onClick={() => set({ params: [...d.params, ["", { type: "string", required: false, description: "", example: "" }]] })}>Add parameter</button>
                <button type="button" onClick={() => {
                  let params = addParam("sort_by", "sort_field");
                  params = params.some(([n]) => n === "sort_order") ? params : [...params, ["sort_order", { type: "sort_direction", required: false, description: "asc or desc", example: "desc" }]];
                  const sorts = d.sorts.some((x) => x.is_param) ? d.sorts : [...d.sorts, { field: "id", desc: false, is_param: true, param_name: "sort_by", desc_is_param: true, desc_param_name: "sort_order" }];
                  set({ params, sorts });
                }}>Add sort params</button>
                <button type="button" onClick={() => {
                  const p1 = addParam("limit", "limit");
                  const p2 = p1.some(([n]) => n === "offset") ? p1 : [...p1, ["offset", { type: "offset", required: false, description: "", example: 0 }] as [string, ParamSpec]];
                  set({ params: p2 });
                }}>Add pagination params</button>
              </div>
            </fieldset>
            <div className="grid2">
              <TextField label="Default limit" type="number" min={1} max={1000} value={d.default_limit} onChange={(e) => set({ default_limit: e.target.value })} error={local.default_limit} />
              <TextField label="Maximum limit" type="number" min={1} max={1000} value={d.max_limit} onChange={(e) => set({ max_limit: e.target.value })} error={local.max_limit} />
            </div>
            <p className="muted small">Joins are not offered: the server stores but ignores them.</p>
          </>
        )}
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <SubmitButton busy={s.busy}>{view ? "Save view" : "Create view"}</SubmitButton>
        </div>
      </form>
    </Dialog>
  );
}

function Run({ pid, view }: { pid: string; view: View }) {
  const params = Object.entries(view.params_schema ?? {});
  const meta = useQuery({ queryKey: ["view-meta", pid, view.name, view.version], queryFn: () => api.get<ViewMeta>(pp(pid, `/views/${seg(view.name)}/meta`)) });
  const [values, setValues] = useState<Record<string, string>>({});
  const [size, setSize] = useState(String(Math.min(view.default_limit, 100)));
  const [offset, setOffset] = useState(0);
  const [local, setLocal] = useState<Record<string, string>>({});
  const [result, setResult] = useState<ViewResult | null>(null);
  const s = useSubmit();
  const run = async (off: number) => {
    const l: Record<string, string> = {};
    const out: Record<string, unknown> = {};
    for (const [name, p] of params) {
      const raw = values[name] ?? "";
      if (raw === "") {
        if (p.required) l[name] = "Required";
        continue;
      }
      if (["number", "limit", "offset"].includes(p.type)) {
        if (Number.isNaN(Number(raw))) l[name] = "Enter a number";
        else out[name] = Number(raw);
      } else if (p.type === "boolean") out[name] = raw === "true";
      else out[name] = raw;
    }
    setLocal(l);
    if (Object.keys(l).length) return;
    const r = await s.run(() => api.post<ViewResult>(pp(pid, `/views/${seg(view.name)}/execute`), { params: out, limit: Number(size) || null, offset: off }));
    if (r) {
      setResult(r);
      setOffset(off);
    }
  };
  const cols = meta.data?.response.fields.map((f) => f.name) ?? (result?.data[0] ? Object.keys(result.data[0]) : []);
  return (
    <div className="page">
      <form className="toolbar" onSubmit={(e) => { e.preventDefault(); void run(0); }}>
        {params.map(([name, p]) => p.type === "boolean" || p.type === "sort_direction" ? (
          <SelectField key={name} label={name} value={values[name] ?? ""} onChange={(e) => setValues({ ...values, [name]: e.target.value })} error={local[name]} hint={p.description}>
            <option value="">{p.required ? "Choose…" : "(default)"}</option>
            {(p.type === "boolean" ? ["true", "false"] : ["asc", "desc"]).map((o) => <option key={o} value={o}>{o}</option>)}
          </SelectField>
        ) : (
          <TextField key={name} label={name} value={values[name] ?? ""} type={["number", "limit", "offset"].includes(p.type) ? "number" : "text"}
            onChange={(e) => setValues({ ...values, [name]: e.target.value })} error={local[name]} hint={p.description || p.type} placeholder={p.example === undefined ? "" : String(p.example)} />
        ))}
        <TextField label="Page size" type="number" min={1} max={view.max_limit} value={size} onChange={(e) => setSize(e.target.value)} />
        <SubmitButton busy={s.busy}>Run</SubmitButton>
      </form>
      <FormAlert error={s.error} />
      {result && (result.data.length === 0 ? <Empty title="No rows" /> : (
        <Table label={`Result of ${view.name}`} rows={result.data} rowKey={(r) => String(r.id ?? JSON.stringify(r))}
          columns={cols.map((c) => ({ key: c, label: c, render: (r: Record<string, unknown>) => <Value v={r[c]} /> }))}
          paging={{ offset, limit: result.limit, count: result.data.length, total: result.total, onPage: (o) => void run(o) }} />
      ))}
    </div>
  );
}

function ApiPanel({ pid, view }: { pid: string; view: View }) {
  const meta = useQuery({ queryKey: ["view-meta", pid, view.name, view.version], queryFn: () => api.get<ViewMeta>(pp(pid, `/views/${seg(view.name)}/meta`)) });
  if (meta.isPending) return <Skeleton />;
  if (meta.error) return <ErrorState error={meta.error} />;
  const m = meta.data;
  return (
    <div className="page">
      <p><Badge>{m.endpoint.method}</Badge> <code>{m.endpoint.url}</code></p>
      <p>Auth listed by the server: {m.endpoint.auth.join(", ")}. <Badge tone="warn">admin token only</Badge> <span className="muted small">Execution takes the admin token.</span></p>
      <h3>Request body</h3>
      <Json value={m.request.body} label="request body" />
      <h3>Response fields</h3>
      <ul>{m.response.fields.map((f) => <li key={f.name}><code>{f.name}</code> {f.type}</li>)}</ul>
      <h3>curl</h3>
      <Code text={m.examples.curl} label="curl example" />
      <h3>fetch</h3>
      <Code text={m.examples.fetch} label="fetch example" />
    </div>
  );
}

function History({ pid, view }: { pid: string; view: View }) {
  const versions = useQuery({ queryKey: ["view-versions", pid, view.name, view.version], queryFn: () => api.get<ViewVersion[]>(pp(pid, `/views/${seg(view.name)}/versions`)) });
  const restore = async (v: ViewVersion) => {
    if (!(await confirm({ title: "Restore version", message: <>Restore version {v.version} of <strong>{view.name}</strong>? This saves it as a new version.</>, action: "Restore" }))) return;
    try {
      const out = await api.patch<View>(pp(pid, `/views/${seg(view.name)}`), { projection: v.projection ?? [], filters: v.filters ?? [], sorts: v.sorts ?? [], params_schema: v.params_schema ?? {} });
      toast(`Restored as version ${out.version}`);
      await invalidate("views", "view", "view-versions", "view-meta");
    } catch (e) {
      toastError(e);
    }
  };
  if (versions.isPending) return <Skeleton />;
  if (versions.error) return <ErrorState error={versions.error} />;
  return (
    <Table label="Versions" rows={versions.data} rowKey={(v) => v.id} columns={[
      { key: "version", label: "Version", render: (v) => <>v{v.version} {v.version === view.version && <Badge tone="ok">current</Badge>}</> },
      { key: "created", label: "Saved", render: (v) => <Time value={v.created_at} /> },
      { key: "def", label: "Definition", render: (v) => <details><summary>Show</summary><Json value={{ projection: v.projection, filters: v.filters, sorts: v.sorts, params_schema: v.params_schema }} label={`version ${v.version}`} /></details> },
      { key: "act", label: <span className="sr">Actions</span>, render: (v) => v.version !== view.version && <button type="button" onClick={() => restore(v)} aria-label={`Restore version ${v.version}`}>Restore</button> },
    ]} />
  );
}

export default function Views({ pid }: { pid: string }) {
  const { search } = useLocation();
  const v = search.get("v");
  const tab = search.get("tab") ?? "run";
  const views = useQuery({ queryKey: ["views", pid], queryFn: () => api.get<View[]>(pp(pid, "/views")) });
  const collections = useCollections(pid);
  const [editing, setEditing] = useState<View | "new" | null>(null);
  const [sort, setSort] = useState("");
  const current = views.data?.find((x) => x.name === v) ?? null;
  const collName = (id: string) => collections.data?.find((c) => c.id === id)?.name ?? id.slice(0, 8);
  const remove = async (view: View) => {
    if (!(await confirm({ title: "Delete view", message: <>Delete the view <strong>{view.name}</strong>? Clients executing it get 404.</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/views/${seg(view.name)}`));
      toast("View deleted");
      setQuery({ v: null });
      await invalidate("views");
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1>Views</h1>
        <div className="actions"><button type="button" className="primary" onClick={() => setEditing("new")}>Create view</button></div>
      </div>
      {views.isPending ? <Skeleton /> : views.error ? <ErrorState error={views.error} retry={() => views.refetch()} /> : views.data.length === 0 ? <Empty title="No views yet" /> : (
        <Table label="Views" rows={sortRows(views.data, sort, (r, k) => (k === "base" ? collName(r.base_collection_id) : (r as unknown as Record<string, unknown>)[k]))}
          rowKey={(x) => x.id} sort={sort} onSort={setSort} onRowClick={(x) => setQuery({ v: x.name, tab: null })} highlight={current?.id}
          columns={[
            { key: "display_name", label: "Display name", sortable: true, render: (x) => <button type="button" className="link" onClick={() => setQuery({ v: x.name, tab: null })}>{x.display_name}</button> },
            { key: "name", label: "Name", sortable: true, render: (x) => <code>{x.name}</code> },
            { key: "base", label: "Base collection", sortable: true, render: (x) => collName(x.base_collection_id) },
            { key: "version", label: "Version", sortable: true, render: (x) => `v${x.version}` },
          ]} />
      )}
      {v && !current && views.data && <Empty title="View not found" />}
      {current && (
        <section className="card page" aria-label={`View ${current.name}`}>
          <div className="page-head">
            <h2>{current.display_name} <code className="muted">{current.name}</code> <Badge>v{current.version}</Badge></h2>
            <div className="actions">
              <button type="button" onClick={() => setEditing(current)}>Edit</button>
              <button type="button" onClick={() => remove(current)}>Delete</button>
            </div>
          </div>
          {current.description && <p>{current.description}</p>}
          <div className="tabs" role="tablist">
            {[["run", "Run"], ["api", "API"], ["history", "History"]].map(([k, label]) => (
              <button key={k} type="button" role="tab" aria-selected={tab === k} onClick={() => setQuery({ tab: k === "run" ? null : k })}>{label}</button>
            ))}
          </div>
          {tab === "api" ? <ApiPanel pid={pid} view={current} /> : tab === "history" ? <History pid={pid} view={current} /> : <Run key={current.version} pid={pid} view={current} />}
        </section>
      )}
      {editing && collections.data && (
        <ViewDialog pid={pid} view={editing === "new" ? null : editing} collections={collections.data} onClose={() => setEditing(null)} />
      )}
    </div>
  );
}
