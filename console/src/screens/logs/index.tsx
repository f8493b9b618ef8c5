// Logs (§3.16): audit events with every filter, paging by total, event details with the change
// diff, a live tail (§4 item 4); and the schema-op log with filters and payloads.

import { useEffect, useRef, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { useCollections, useMe } from "../../api/queries";
import { pp, type AuditEvent, type AuditPage, type SchemaOp } from "../../api/types";
import { Link, setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Json, Skeleton, Time } from "../../ui/bits";
import { Dialog } from "../../ui/Dialog";
import { SelectField, Switch, TextField } from "../../ui/form";
import { Table } from "../../ui/Table";

const ACTIONS = ["create", "update", "delete", "auth.register", "auth.login", "auth.logout", "auth.refresh", "auth.password_change", "auth.password_reset", "auth.email_verify"];
const OPS = ["create_schema", "create_table", "add_column", "add_relation_column", "rename_table", "rename_column", "soft_delete_column", "drop_column", "restore_column", "change_column_type"];
const RANGES: Record<string, number> = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };

function parse(s: string | null): Record<string, unknown> | null {
  if (!s) return null;
  try {
    const v = JSON.parse(s);
    return v && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

/** Keys whose value differs between two records. */
export function changedKeys(a: Record<string, unknown> | null, b: Record<string, unknown> | null): Set<string> {
  const out = new Set<string>();
  if (!a || !b) return out;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === "updated_at") continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.add(k);
  }
  return out;
}

function Change({ ev }: { ev: AuditEvent }) {
  const before = parse(ev.old_data_json);
  const after = parse(ev.new_data_json);
  if ((ev.old_data_json && !before) || (ev.new_data_json && !after)) {
    return <>{ev.old_data_json && <Json value={ev.old_data_json} label="old data" />}{ev.new_data_json && <Json value={ev.new_data_json} label="new data" />}</>;
  }
  if (ev.action === "update" && before && after) {
    const changed = changedKeys(before, after);
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return (
      <table aria-label="Change">
        <thead><tr><th scope="col">Key</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k} className={changed.has(k) ? "diff-changed" : ""} data-changed={changed.has(k) ? "true" : undefined}>
              <th scope="row">{k} {changed.has(k) && <Badge tone="warn">changed</Badge>}</th>
              <td>{JSON.stringify(before[k])}</td>
              <td>{JSON.stringify(after[k])}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }
  return <Json value={after ?? before} label={ev.action === "delete" ? "old values" : "values"} />;
}

function Audit({ pid }: { pid: string }) {
  const { search } = useLocation();
  const me = useMe();
  const collections = useCollections(pid);
  const get = (k: string) => search.get(k) ?? "";
  const size = Number(get("size")) || 50;
  const page = Math.max(1, Number(get("page")) || 1);
  const [live, setLive] = useState(false);
  const [q, setQ] = useState(get("q"));
  const [recordId, setRecordId] = useState(get("record_id"));
  const range = get("range");
  const [now] = useState(() => Date.now());
  const start = range && RANGES[range] ? new Date(now - RANGES[range]).toISOString() : range === "custom" && get("from") ? new Date(get("from")).toISOString() : undefined;
  const end = range === "custom" && get("to") ? new Date(get("to")).toISOString() : undefined;
  const query = {
    collection_id: get("collection") || undefined, action: get("action") || undefined, actor_type: get("actor") || undefined,
    record_id: get("record_id") || undefined, search: get("q") || undefined, start_date: start, end_date: end,
  };
  const events = useQuery({
    queryKey: ["audit", pid, query, page, size],
    placeholderData: keepPreviousData,
    queryFn: async () => {
      const r = await api.get<AuditPage | AuditEvent[]>(pp(pid, "/audit/events"), { query: { ...query, limit: size, offset: (page - 1) * size } });
      return Array.isArray(r) ? { events: r, total: undefined } : { events: r.events, total: r.total as number | undefined };
    },
  });
  // Live tail (§4 item 4): every 5 s, the events after the newest one shown, marked as new.
  const [tail, setTail] = useState<AuditEvent[]>([]);
  const shown = useRef<AuditEvent[]>([]);
  shown.current = [...tail, ...(events.data?.events ?? [])];
  const queryKey = JSON.stringify(query);
  useEffect(() => {
    setTail([]);
    if (!live) return;
    const timer = setInterval(async () => {
      const newest = shown.current[0]?.created_at;
      try {
        const r = await api.get<AuditPage | AuditEvent[]>(pp(pid, "/audit/events"), { query: { ...JSON.parse(queryKey), start_date: newest, limit: 100 } });
        const list = Array.isArray(r) ? r : r.events;
        const seen = new Set(shown.current.map((e) => e.id));
        const fresh = list.filter((e) => !seen.has(e.id));
        if (fresh.length) setTail((t) => [...fresh, ...t]);
      } catch {
        /* the next tick tries again */
      }
    }, 5000);
    return () => clearInterval(timer);
  }, [live, pid, queryKey]);
  const fresh = new Set(tail.map((e) => e.id));
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const collName = (id: string | null) => collections.data?.find((c) => c.id === id)?.name ?? (id ? id.slice(0, 8) : "—");
  const actor = (e: AuditEvent) => {
    if (e.actor_user_id) return <>admin {e.actor_user_id === me.data?.id ? <strong>you</strong> : <code>{e.actor_user_id.slice(0, 8)}</code>}</>;
    if (e.actor_app_user_id) return <>app user <Link to={`/projects/${pid}/users?user=${e.actor_app_user_id}`}>{e.actor_app_user_id.slice(0, 8)}</Link></>;
    if (e.actor_api_key_id) return <>API key <code>{e.actor_api_key_id.slice(0, 8)}</code></>;
    return <span className="muted">anonymous</span>;
  };
  const data = events.data;
  return (
    <div className="page">
      <form className="toolbar" aria-label="Audit filters" onSubmit={(e) => { e.preventDefault(); setQuery({ q, record_id: recordId, page: null }); }}>
        <SelectField label="Collection" value={get("collection")} onChange={(e) => setQuery({ collection: e.target.value, page: null })}>
          <option value="">All</option>
          {(collections.data ?? []).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </SelectField>
        <SelectField label="Action" value={get("action")} onChange={(e) => setQuery({ action: e.target.value, page: null })}>
          <option value="">All</option>
          {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
        </SelectField>
        <SelectField label="Actor type" value={get("actor")} onChange={(e) => setQuery({ actor: e.target.value, page: null })}>
          <option value="">All</option><option value="admin_user">admin</option><option value="app_user">app user</option><option value="api_key">API key</option>
        </SelectField>
        <SelectField label="Time" value={range} onChange={(e) => setQuery({ range: e.target.value, page: null })}>
          <option value="">Any time</option><option value="1h">Last hour</option><option value="24h">Last 24 h</option><option value="7d">Last 7 days</option><option value="30d">Last 30 days</option><option value="custom">Custom…</option>
        </SelectField>
        {range === "custom" && <>
          <TextField label="From" type="datetime-local" value={get("from")} onChange={(e) => setQuery({ from: e.target.value })} />
          <TextField label="To" type="datetime-local" value={get("to")} onChange={(e) => setQuery({ to: e.target.value })} />
        </>}
        <TextField label="Record id" value={recordId} onChange={(e) => setRecordId(e.target.value)} />
        <TextField label="Search" type="search" value={q} onChange={(e) => setQ(e.target.value)} hint="Press Enter" data-slash-focus />
        <button type="submit">Apply</button>
        <Switch label="Live tail" checked={live} onChange={(v) => { setLive(v); if (!v) void events.refetch(); }} />
      </form>
      {events.isPending ? <Skeleton rows={6} /> : events.error && !data ? <ErrorState error={events.error} retry={() => events.refetch()} /> : data && data.events.length === 0 ? <Empty title="No events match" /> : data ? (
        <Table
          label="Audit events"
          rows={page === 1 ? [...tail, ...data.events] : data.events}
          rowKey={(e) => e.id}
          busy={events.isFetching}
          onRowClick={(e) => setOpen(e)}
          highlight={null}
          columns={[
            { key: "time", label: "Time", render: (e) => <>{fresh.has(e.id) && <Badge tone="info">new</Badge>} <Time value={e.created_at} /></> },
            { key: "action", label: "Action", render: (e) => <code>{e.action}</code> },
            { key: "collection", label: "Collection", render: (e) => collName(e.collection_id) },
            { key: "record", label: "Record", render: (e) => e.record_id && e.collection_id ? <Link to={`/projects/${pid}/data?c=${collName(e.collection_id)}&record=${e.record_id}`}>{e.record_id}</Link> : e.record_id ?? "—" },
            { key: "actor", label: "Actor", render: actor },
            { key: "ip", label: "IP", render: (e) => e.ip_address ?? "—" },
            { key: "more", label: <span className="sr">Details</span>, render: (e) => <button type="button" onClick={() => setOpen(e)} aria-label={`Details of ${e.action} ${e.record_id ?? ""}`}>Details</button> },
          ]}
          paging={{
            offset: (page - 1) * size, limit: size, count: data.events.length + (page === 1 ? tail.length : 0),
            total: data.total === undefined ? undefined : data.total + tail.length,
            onPage: (o) => setQuery({ page: o / size + 1 }), onSize: (n) => setQuery({ size: n, page: null }), sizes: [25, 50, 100, 500],
          }}
        />
      ) : null}
      {open && (
        <Dialog title={`Event ${open.action}`} open onClose={() => setOpen(null)} drawer>
          <dl className="grid2 small">
            <dt>Time</dt><dd><Time value={open.created_at} /></dd>
            <dt>Event id</dt><dd><code>{open.id}</code></dd>
            <dt>Collection</dt><dd>{collName(open.collection_id)}</dd>
            <dt>Record</dt><dd>{open.record_id ?? "—"}</dd>
            <dt>Actor</dt><dd>{actor(open)}</dd>
            <dt>IP</dt><dd>{open.ip_address ?? "—"}</dd>
            <dt>User agent</dt><dd>{open.user_agent ?? "—"}</dd>
          </dl>
          <h3>Change</h3>
          <Change ev={open} />
        </Dialog>
      )}
    </div>
  );
}

function SchemaOps({ pid }: { pid: string }) {
  const { search } = useLocation();
  const collections = useCollections(pid);
  const me = useMe();
  const coll = search.get("collection") ?? "";
  const op = search.get("op") ?? "";
  const size = Number(search.get("size")) || 50;
  const page = Math.max(1, Number(search.get("page")) || 1);
  const ops = useQuery({
    queryKey: ["schema-ops", pid, coll, op, page, size],
    placeholderData: keepPreviousData,
    queryFn: () => api.get<SchemaOp[]>(pp(pid, "/audit/schema-ops"), { query: { collection_id: coll || undefined, op_type: op || undefined, limit: size, offset: (page - 1) * size } }),
  });
  const collName = (id: string | null) => collections.data?.find((c) => c.id === id)?.name ?? (id ? id.slice(0, 8) : "—");
  return (
    <div className="page">
      <div className="toolbar" role="group" aria-label="Schema-op filters">
        <SelectField label="Collection" value={coll} onChange={(e) => setQuery({ collection: e.target.value, page: null })}>
          <option value="">All</option>
          {(collections.data ?? []).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </SelectField>
        <SelectField label="Operation" value={op} onChange={(e) => setQuery({ op: e.target.value, page: null })}>
          <option value="">All</option>
          {OPS.map((o) => <option key={o} value={o}>{o}</option>)}
        </SelectField>
      </div>
      {ops.isPending ? <Skeleton /> : ops.error && !ops.data ? <ErrorState error={ops.error} retry={() => ops.refetch()} /> : ops.data && ops.data.length === 0 ? <Empty title="No schema operations match" /> : ops.data ? (
        <Table
          label="Schema operations"
          rows={ops.data}
          rowKey={(o) => o.id}
          busy={ops.isFetching}
          columns={[
            { key: "time", label: "Time", render: (o) => <Time value={o.created_at} /> },
            { key: "op", label: "Operation", render: (o) => <code>{o.op_type}</code> },
            { key: "coll", label: "Collection", render: (o) => collName(o.collection_id) },
            { key: "actor", label: "Actor", render: (o) => (o.actor_user_id ? (o.actor_user_id === me.data?.id ? "you" : <code>{o.actor_user_id.slice(0, 8)}</code>) : "—") },
            { key: "status", label: "Status", render: (o) => <Badge tone={o.status === "applied" ? "ok" : "warn"}>{o.status}</Badge> },
            { key: "payload", label: "Payload", render: (o) => <details><summary>Show payload</summary><Json value={o.payload_json} label="payload" /></details> },
          ]}
          paging={{ offset: (page - 1) * size, limit: size, count: ops.data.length, onPage: (o) => setQuery({ page: o / size + 1 }), onSize: (n) => setQuery({ size: n, page: null }) }}
        />
      ) : null}
    </div>
  );
}

export default function Logs({ pid }: { pid: string }) {
  const { search } = useLocation();
  const tab = search.get("tab") === "schema" ? "schema" : "audit";
  return (
    <div className="page">
      <h1>Logs</h1>
      <div className="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "audit"} onClick={() => setQuery({ tab: null, collection: null, op: null, page: null })}>Audit events</button>
        <button type="button" role="tab" aria-selected={tab === "schema"} onClick={() => setQuery({ tab: "schema", collection: null, action: null, page: null })}>Schema ops</button>
      </div>
      {tab === "audit" ? <Audit pid={pid} /> : <SchemaOps pid={pid} />}
    </div>
  );
}
