// Data explorer (§3.6): records with server paging, sorting and every filter operator, all in
// the URL; the record drawer; bulk delete; export; API snippets.

import { useEffect, useMemo, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections, useFields, useRelations } from "../../api/queries";
import { pp, seg, type Collection, type DataRecord, type Field, type RecordPage, type RelationField } from "../../api/types";
import { Link, navigate, replaceQuery, setQuery, useLocation } from "../../lib/router";
import { Code, Empty, ErrorState, Skeleton, Time, Value } from "../../ui/bits";
import { CollectionList } from "../../ui/CollectionList";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, SelectField } from "../../ui/form";
import { Table, type Column } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";
import { download, fetchAll, snippets, toCsv, type SnippetAuth } from "./exporting";
import { NO_VALUE, OP_LABELS, filterQuery, opsFor, readFilters, writeFilters, type FilterRow } from "./filters";
import { RecordDrawer } from "./RecordDrawer";
import { SavedFilters } from "./SavedFilters";
import { ImportDialog } from "./ImportDialog";
import { BulkEdit } from "./BulkEdit";
import { InlineCell } from "./InlineCell";

interface Col { key: string; label: string; type: string; field?: Field; system?: boolean }

function columnsOf(c: Collection, fields: Field[]): Col[] {
  const users = c.name === "_users";
  return [
    { key: "id", label: "id", type: users ? "uuid" : "id", system: true },
    ...fields.map((f) => ({ key: f.sql_column_name, label: f.display_name || f.name, type: f.field_type, field: f })),
    { key: "created_at", label: "created_at", type: "timestamp", system: true },
    { key: "updated_at", label: "updated_at", type: "timestamp", system: true },
    ...(users ? [] : [
      { key: "created_by_user_id", label: "created_by_user_id", type: "uuid", system: true },
      { key: "created_by_app_user_id", label: "created_by_app_user_id", type: "uuid", system: true },
    ]),
  ];
}

function hiddenKey(pid: string, c: string) {
  return `backendify.hiddenColumns.${pid}.${c}`;
}

/** Labels of related records on the page: one `id__in` call per relation. */
function useRelationLabels(pid: string, relations: RelationField[], records: DataRecord[]) {
  const ids = relations.map((r) => [...new Set(records.map((x) => x[r.sql_column_name]).filter((v) => v !== null && v !== undefined))].join(","));
  return useQuery({
    queryKey: ["data", pid, "labels", relations.map((r) => r.id).join(), ids.join("|")],
    enabled: relations.length > 0 && records.length > 0,
    placeholderData: keepPreviousData,
    queryFn: async () => {
      const out: Record<string, Record<string, string>> = {};
      await Promise.all(relations.map(async (r, i) => {
        out[r.sql_column_name] = {};
        if (!ids[i] || !r.relation_display_field || r.relation_display_field === "id") return;
        const page = await api.get<RecordPage>(pp(pid, `/data/${seg(r.target_collection_name)}`), { query: { id__in: ids[i], limit: 1000 } });
        for (const rec of page.records) out[r.sql_column_name][String(rec.id)] = String(rec[r.relation_display_field] ?? "");
      }));
      return out;
    },
  });
}

function FilterEditor({ cols, current, onApply }: { cols: Col[]; current: FilterRow[]; onApply: (rows: FilterRow[]) => void }) {
  const [rows, setRows] = useState<FilterRow[]>(current.length ? current : [{ column: cols[1]?.key ?? "id", op: "eq", value: "" }]);
  const typeOf = (k: string) => cols.find((c) => c.key === k)?.type ?? "string";
  const upd = (i: number, ch: Partial<FilterRow>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...ch } : r)));
  return (
    <form className="filters" aria-label="Filters" onSubmit={(e) => { e.preventDefault(); onApply(rows.filter((r) => r.value !== "" || NO_VALUE.has(r.op))); }}>
      {rows.map((r, i) => {
        const type = typeOf(r.column);
        const ops = opsFor(type);
        return (
          <div className="filter-row" key={i}>
            <SelectField label={`Column ${i + 1}`} value={r.column} onChange={(e) => {
              const t = typeOf(e.target.value);
              upd(i, { column: e.target.value, op: opsFor(t).includes(r.op) ? r.op : "eq" });
            }}>
              {cols.map((c) => <option key={c.key} value={c.key}>{c.key}</option>)}
            </SelectField>
            <SelectField label={`Operator ${i + 1}`} value={r.op} onChange={(e) => upd(i, { op: e.target.value })}>
              {ops.map((o) => <option key={o} value={o}>{OP_LABELS[o]}</option>)}
            </SelectField>
            {NO_VALUE.has(r.op) ? null : type === "bool" ? (
              <SelectField label={`Value ${i + 1}`} value={r.value} onChange={(e) => upd(i, { value: e.target.value })}>
                <option value="">Choose…</option><option value="true">true</option><option value="false">false</option>
              </SelectField>
            ) : (
              <div className="field">
                <label htmlFor={`fv-${i}`}>Value {i + 1}</label>
                <input id={`fv-${i}`} value={r.value} onChange={(e) => upd(i, { value: e.target.value })}
                  placeholder={r.op === "in" || r.op === "notin" ? "a, b, c" : r.op === "like" ? "%pattern_" : ""}
                  type={type === "date" ? "date" : "text"} />
              </div>
            )}
            <button type="button" className="icon" aria-label={`Remove filter ${i + 1}`} onClick={() => setRows(rows.filter((_, j) => j !== i))}>×</button>
          </div>
        );
      })}
      <div className="row">
        <button type="button" onClick={() => setRows([...rows, { column: cols[1]?.key ?? "id", op: "eq", value: "" }])}>Add filter</button>
        <button type="submit" className="primary">Apply filters</button>
      </div>
    </form>
  );
}

function Snippets({ pid, collection, fields, query, onClose }: { pid: string; collection: string; fields: Field[]; query: Record<string, string>; onClose: () => void }) {
  const [auth, setAuth] = useState<SnippetAuth>("apikey");
  const [lang, setLang] = useState<"curl" | "fetch">("curl");
  const sample: Record<string, unknown> = {};
  for (const f of fields.slice(0, 3)) sample[f.name] = { int: 1, float: 1.5, bool: true, relation: 1 }[f.field_type as string] ?? "text";
  const s = snippets(window.location.origin, pid, collection, query, sample, auth)[lang];
  return (
    <Dialog title={`API for ${collection}`} open onClose={onClose} wide>
      <div className="row">
        <SelectField label="Authentication" value={auth} onChange={(e) => setAuth(e.target.value as SnippetAuth)}>
          <option value="apikey">API key</option><option value="appuser">App-user token</option><option value="admin">Admin token (redacted)</option>
        </SelectField>
        <SelectField label="Language" value={lang} onChange={(e) => setLang(e.target.value as "curl" | "fetch")}>
          <option value="curl">curl</option><option value="fetch">fetch</option>
        </SelectField>
      </div>
      {(["list", "get", "create", "update", "delete"] as const).map((k) => (
        <div key={k}><h3>{k === "list" ? "List (current filters and sort)" : k[0].toUpperCase() + k.slice(1)}</h3><Code text={s[k]} label={`${k} snippet`} /></div>
      ))}
    </Dialog>
  );
}

function Explorer({ pid, collection }: { pid: string; collection: Collection }) {
  const { search } = useLocation();
  const fields = useFields(pid, collection.name);
  const relations = useRelations(pid, collection.id);
  const cols = useMemo(() => columnsOf(collection, fields.data ?? []), [collection, fields.data]);
  const colKeys = useMemo(() => new Set([...cols.map((c) => c.key), ...(fields.data ?? []).map((f) => f.name)]), [cols, fields.data]);
  const filters = readFilters(search, colKeys);
  const sort = search.get("sort") ?? "";
  const size = Number(search.get("size")) || 50;
  const page = Math.max(1, Number(search.get("page")) || 1);
  const record = search.get("record");
  const showAll = search.get("cols") === "all";
  const [hidden, setHidden] = useState<string[]>(() => JSON.parse(localStorage.getItem(hiddenKey(pid, collection.name)) ?? "[]"));
  const [editing, setEditing] = useState(false);
  const [colsOpen, setColsOpen] = useState(false);
  const [api_, setApi] = useState(false);
  const [importing, setImporting] = useState(false);
  const [bulkEditing, setBulkEditing] = useState(false);
  const [cellMode, setCellMode] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [progress, setProgress] = useState<string | null>(null);
  const [highlight, setHighlight] = useState<string | null>(null);
  const fq = filterQuery(filters);
  const stringCols = cols.filter((c) => c.type === "string" || c.type === "text");
  const [quickCol, setQuickCol] = useState<string>("");
  const qc = quickCol || stringCols[0]?.key || "";
  const [quick, setQuick] = useState(search.get(`${qc}__ilike`) ?? "");

  const records = useQuery({
    queryKey: ["data", pid, collection.name, "page", fq, sort, size, page],
    enabled: fields.isSuccess,
    placeholderData: keepPreviousData,
    queryFn: async () => {
      const res = await api.get<RecordPage>(pp(pid, `/data/${seg(collection.name)}`), { query: { ...fq, sort: sort || undefined, limit: size, offset: (page - 1) * size } });
      performance.mark("records-fetched");
      return res;
    },
  });
  const labels = useRelationLabels(pid, relations.data ?? [], records.data?.records ?? []);
  useEffect(() => {
    if (!records.data) return;
    const n = records.data.records.length;
    requestAnimationFrame(() => {
      try {
        performance.measure(`records-rendered:${n}`, "records-fetched");
      } catch {
        /* no fetch mark */
      }
    });
  }, [records.data]);
  // A new page clears the selection (without a second render when nothing was selected).
  useEffect(() => setSelected((old) => (old.size ? new Set() : old)), [records.data]);

  const visible = cols.filter((c) => !hidden.includes(c.key));
  const extra = showAll && records.data?.records[0] ? Object.keys(records.data.records[0]).filter((k) => !cols.some((c) => c.key === k)) : [];
  const relByCol = new Map((relations.data ?? []).map((r) => [r.sql_column_name, r]));
  const tableCols: Column<DataRecord>[] = [
    ...visible.map((c): Column<DataRecord> => ({
      key: c.key,
      label: c.key === "created_by_user_id" ? "creator (admin)" : c.key === "created_by_app_user_id" ? "creator (app user)" : c.key,
      sortable: true,
      render: (r) => {
        const v = r[c.key];
        const rel = relByCol.get(c.key);
        if (rel && v !== null && v !== undefined) {
          const label = labels.data?.[c.key]?.[String(v)];
          return <Link to={`/projects/${pid}/data?c=${rel.target_collection_name}&record=${v}`}>#{String(v)}{label ? ` ${label}` : ""}</Link>;
        }
        if (c.key === "created_by_app_user_id" && v) return <Link to={`/projects/${pid}/users?user=${v}`}>{String(v).slice(0, 8)}…</Link>;
        if (c.key === "created_by_user_id" && v) return <code title={String(v)}>{String(v).slice(0, 8)}…</code>;
        if (cellMode && c.field && !c.field.is_system && ["string", "text", "int", "float", "bool", "date", "uuid"].includes(c.type)) {
          return <InlineCell pid={pid} collection={collection.name} id={String(r.id)} field={c.field} value={v} />;
        }
        if ((c.type === "timestamp" || c.type === "datetime") && typeof v === "string") return <Time value={v} />;
        return <Value v={v} />;
      },
    })),
    ...extra.map((k): Column<DataRecord> => ({ key: k, label: <span className="muted">{k}</span>, render: (r) => <Value v={r[k]} /> })),
  ];

  const applyFilters = (rows: FilterRow[]) => {
    replaceQuery(writeFilters(search, rows));
    setEditing(false);
  };
  const removeFilter = (i: number) => replaceQuery(writeFilters(search, filters.filter((_, j) => j !== i)));
  const setHiddenCols = (h: string[]) => {
    setHidden(h);
    localStorage.setItem(hiddenKey(pid, collection.name), JSON.stringify(h));
  };

  const exportAs = async (kind: "csv" | "json") => {
    try {
      setProgress("Exporting…");
      const all = await fetchAll(pid, collection.name, { ...fq, ...(sort ? { sort } : {}) }, (n, t) => setProgress(`Exporting ${n} of ${t}…`));
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
      if (kind === "json") download(`${collection.name}-${stamp}.json`, JSON.stringify(all, null, 2), "application/json");
      else download(`${collection.name}-${stamp}.csv`, toCsv([...visible.map((c) => c.key), ...extra], all), "text/csv");
      toast(`Exported ${all.length} records`);
    } catch (e) {
      toastError(e);
    } finally {
      setProgress(null);
    }
  };

  const bulkDelete = async () => {
    const ids = [...selected];
    const many = ids.length > 1;
    if (!(await confirm({
      title: `Delete ${ids.length} record${many ? "s" : ""}`,
      message: <>Delete {many ? `${ids.length} records` : `record #${ids[0]}`} of <strong>{collection.name}</strong>? This cannot be undone.</>,
      action: "Delete", typed: many ? collection.name : undefined,
    }))) return;
    const failures: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      setProgress(`Deleting ${i + 1} of ${ids.length}…`);
      try {
        await api.del(pp(pid, `/data/${seg(collection.name)}/${seg(ids[i])}`));
      } catch (e) {
        failures.push(`#${ids[i]}: ${(e as Error).message}`);
      }
    }
    setProgress(null);
    setSelected(new Set());
    await invalidate("data", "record");
    if (failures.length) toast(`${failures.length} of ${ids.length} not deleted: ${failures.join("; ")}`, "error");
    else toast(many ? `${ids.length} records deleted` : "Record deleted");
  };

  const isUsers = collection.name === "_users";
  const data = records.data;
  return (
    <div className="page">
      <div className="page-head">
        <h2>{collection.display_name} <code className="muted">{collection.name}</code></h2>
        <div className="actions">
          {isUsers ? <Link to={`/projects/${pid}/users`}>Manage app users</Link>
            : <button type="button" className="primary" onClick={() => setQuery({ record: "new" })}>New record</button>}
        </div>
      </div>
      <div className="toolbar">
        {qc && (
          <form className="row" role="search" onSubmit={(e) => {
            e.preventDefault();
            const rows = filters.filter((f) => !(f.column === qc && f.op === "ilike"));
            applyFilters(quick ? [...rows, { column: qc, op: "ilike", value: quick }] : rows);
          }}>
            <SelectField label="Search in" value={qc} onChange={(e) => setQuickCol(e.target.value)}>
              {stringCols.map((c) => <option key={c.key} value={c.key}>{c.key}</option>)}
            </SelectField>
            <div className="field">
              <label htmlFor="quick">Quick search</label>
              <input id="quick" type="search" value={quick} onChange={(e) => setQuick(e.target.value)} data-slash-focus />
            </div>
          </form>
        )}
        <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>Filters{filters.length ? ` (${filters.length})` : ""}</button>
        <button type="button" aria-expanded={colsOpen} onClick={() => setColsOpen(!colsOpen)}>Columns</button>
        <button type="button" onClick={() => records.refetch()}>Refresh</button>
        {!isUsers && <button type="button" aria-pressed={cellMode} onClick={() => setCellMode(!cellMode)}>Edit cells</button>}
        <button type="button" onClick={() => exportAs("csv")} disabled={!!progress}>Export CSV</button>
        <button type="button" onClick={() => exportAs("json")} disabled={!!progress}>Export JSON</button>
        {!isUsers && <button type="button" onClick={() => setImporting(true)}>Import</button>}
        <button type="button" onClick={() => setApi(true)}>API</button>
        {selected.size > 0 && !isUsers && <button type="button" onClick={() => setBulkEditing(true)}>Edit selected ({selected.size})</button>}
        {selected.size > 0 && <button type="button" className="danger" onClick={bulkDelete}>Delete selected ({selected.size})</button>}
        {progress && <span role="status">{progress}</span>}
      </div>
      {editing && <FilterEditor cols={cols} current={filters} onApply={applyFilters} />}
      <SavedFilters pid={pid} collection={collection.name} search={search} />
      {colsOpen && (
        <fieldset className="card row">
          <legend>Visible columns</legend>
          {cols.map((c) => (
            <Checkbox key={c.key} label={c.key} checked={!hidden.includes(c.key)}
              onChange={(e) => setHiddenCols(e.target.checked ? hidden.filter((h) => h !== c.key) : [...hidden, c.key])} />
          ))}
          <Checkbox label="Show all columns (incl. deleted fields)" checked={showAll} onChange={(e) => setQuery({ cols: e.target.checked ? "all" : null })} />
        </fieldset>
      )}
      {filters.length > 0 && (
        <div className="chips" aria-label="Active filters">
          {filters.map((f, i) => (
            <span className="chip" key={i}>
              {f.column} {OP_LABELS[f.op]} {NO_VALUE.has(f.op) ? "" : f.value}
              <button type="button" className="icon small" aria-label={`Remove filter ${f.column} ${OP_LABELS[f.op]} ${f.value}`} onClick={() => removeFilter(i)}>×</button>
            </span>
          ))}
          <button type="button" className="link" onClick={() => applyFilters([])}>Clear</button>
        </div>
      )}
      {!sort && <p className="muted small">Sorted by the API default: newest first.</p>}
      {records.error && data && <ErrorState error={records.error} retry={() => records.refetch()} />}
      {fields.isPending || (records.isPending && !data) ? <Skeleton rows={8} /> : fields.error ? <ErrorState error={fields.error} notFound="Collection not found" /> : records.error && !data ? (
        <ErrorState error={records.error} retry={() => records.refetch()} />
      ) : data && data.total === 0 && data.records.length === 0 ? (
        filters.length ? <Empty title="No records match"><button type="button" onClick={() => applyFilters([])}>Clear filters</button></Empty>
          : <Empty title="No records yet">{!isUsers && <button type="button" className="primary" onClick={() => setQuery({ record: "new" })}>New record</button>}</Empty>
      ) : data ? (
        <Table
          label={`Records of ${collection.name}`}
          columns={tableCols}
          rows={data.records}
          rowKey={(r) => String(r.id)}
          rowLabel={(r) => `record ${r.id}`}
          sort={sort}
          onSort={(s) => setQuery({ sort: s || null, page: null })}
          onRowClick={(r) => setQuery({ record: String(r.id) })}
          selected={selected}
          onSelect={setSelected}
          busy={records.isFetching}
          highlight={highlight}
          paging={{
            offset: (page - 1) * size, limit: size, count: data.records.length, total: data.total,
            onPage: (o) => setQuery({ page: o / size + 1 === 1 ? null : o / size + 1 }),
            onSize: (n) => setQuery({ size: n === 50 ? null : n, page: null }),
          }}
        />
      ) : null}
      {record && fields.data && (
        <RecordDrawer key={record} pid={pid} collection={collection} fields={fields.data} relations={relations.data ?? []} id={record}
          onClose={() => setQuery({ record: null })}
          onSaved={(r) => { setHighlight(String(r.id)); setQuery({ record: null }); }} />
      )}
      {bulkEditing && fields.data && <BulkEdit pid={pid} collection={collection.name} fields={fields.data} ids={[...selected]} onClose={() => setBulkEditing(false)} />}
      {importing && fields.data && <ImportDialog pid={pid} collection={collection.name} fields={fields.data} onClose={() => setImporting(false)} />}
      {api_ && <Snippets pid={pid} collection={collection.name} fields={fields.data ?? []} query={{ ...fq, ...(sort ? { sort } : {}) }} onClose={() => setApi(false)} />}
    </div>
  );
}

export default function Data({ pid }: { pid: string }) {
  const { search } = useLocation();
  const c = search.get("c");
  const collections = useCollections(pid);
  const current = collections.data?.find((x) => x.name === c) ?? null;
  return (
    <div className="page">
      <h1>Data explorer</h1>
      <div className="split">
        {collections.isPending ? <Skeleton /> : collections.error ? <ErrorState error={collections.error} /> : (
          <CollectionList collections={collections.data} selected={c} onSelect={(n) => navigate(`/projects/${pid}/data?c=${encodeURIComponent(n)}`)} />
        )}
        <section aria-label="Records">
          {!c ? <Empty title="Select a collection" /> : !current ? (collections.isPending ? <Skeleton /> : <Empty title="Collection not found" />) : (
            <Explorer key={current.name} pid={pid} collection={current} />
          )}
        </section>
      </div>
    </div>
  );
}
