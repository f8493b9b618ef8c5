// Project overview (§3.4): header with ids and the API base URL, real stats, module cards and
// API keys (create with the one-time key modal, revoke with confirmation).

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections, useProject } from "../../api/queries";
import { pp, type ApiKey, type ApiKeyCreated, type FileStats, type RecordPage } from "../../api/types";
import { Link } from "../../lib/router";
import { Badge, Code, CopyButton, Empty, ErrorState, Id, Skeleton, Time, formatBytes } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SubmitButton, TextField, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const MODULES: [string, string, string][] = [
  ["schema", "Schema", "Collections and their fields"],
  ["data", "Data explorer", "Browse, filter, edit and export records"],
  ["relations", "Relations", "Links between collections"],
  ["validations", "Validations", "Rules checked on every write"],
  ["schema-evolution", "Schema evolution", "Rename, retype and delete fields safely"],
  ["views", "Views", "Saved, parameterized queries"],
  ["files", "Files", "Uploads, buckets and downloads"],
  ["users", "Users", "The app's end users"],
  ["auth", "Authentication", "Sign-in methods, sessions, developer docs"],
  ["rbac", "Roles", "Roles for app users"],
  ["policies", "Policies", "Who may do what on each collection"],
  ["webhooks", "Webhooks", "HTTP callbacks on record events"],
  ["workflows", "Workflows", "Step sequences on events"],
  ["logs", "Logs", "Audit events and schema operations"],
];

function CreateKey({ pid, onCreated }: { pid: string; onCreated: (k: ApiKeyCreated) => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const s = useSubmit();
  return (
    <>
      <button type="button" className="primary" onClick={() => { setName(""); s.reset(); setOpen(true); }}>Create API key</button>
      <Dialog title="Create API key" open={open} onClose={() => setOpen(false)} dirty={name !== ""}>
        <form onSubmit={async (e) => {
          e.preventDefault();
          if (!name.trim()) return s.setFields({ name: "Enter a name" });
          const k = await s.run(() => api.post<ApiKeyCreated>(pp(pid, "/api-keys"), { name: name.trim() }));
          if (k) {
            setOpen(false);
            await invalidate("api-keys");
            onCreated(k);
          }
        }}>
          <FormAlert error={s.error} />
          <TextField label="Key name" value={name} onChange={(e) => setName(e.target.value)} error={s.fields.name} required autoFocus />
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Create</SubmitButton>
          </div>
        </form>
      </Dialog>
    </>
  );
}

function NewKey({ k, base, onClose }: { k: ApiKeyCreated; base: string; onClose: () => void }) {
  const [stored, setStored] = useState(false);
  return (
    <Dialog title="Your new API key" open onClose={() => stored && onClose()}>
      <p>This key is shown only once. Store it somewhere safe.</p>
      <Code text={k.api_key} label="API key" />
      <p className="muted">Keys work on <code>/data/**</code> only. Example:</p>
      <Code text={`curl -H "X-API-Key: ${k.api_key}" ${base}/data/<collection>`} label="curl example" />
      <Checkbox label="I have stored it" checked={stored} onChange={(e) => setStored(e.target.checked)} />
      <div className="actions">
        <button type="button" className="primary" disabled={!stored} onClick={onClose}>Close</button>
      </div>
    </Dialog>
  );
}

function ApiKeys({ pid, base }: { pid: string; base: string }) {
  const keys = useQuery({ queryKey: ["api-keys", pid], queryFn: () => api.get<ApiKey[]>(pp(pid, "/api-keys")) });
  const [showRevoked, setShowRevoked] = useState(false);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const rows = (keys.data ?? []).filter((k) => showRevoked || !k.revoked);
  const revoke = async (k: ApiKey) => {
    if (!(await confirm({ title: "Revoke API key", message: <>Revoke the key <strong>{k.name}</strong> ({k.prefix}…)? Clients using it lose access at once.</>, action: "Revoke" }))) return;
    try {
      await api.post(pp(pid, `/api-keys/${k.id}/revoke`));
      toast("API key revoked");
      await invalidate("api-keys");
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <section className="card" aria-labelledby="keys-title">
      <div className="page-head">
        <h2 id="keys-title">API keys</h2>
        <span className="muted small">Keys work on <code>/data/**</code> only.</span>
        <div className="actions">
          <Checkbox label="Show revoked" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
          <CreateKey pid={pid} onCreated={setCreated} />
        </div>
      </div>
      {keys.isPending ? <Skeleton /> : keys.error ? <ErrorState error={keys.error} retry={() => keys.refetch()} /> : rows.length === 0 ? (
        <Empty title={keys.data?.length ? "No active keys" : "No API keys yet"} />
      ) : (
        <Table
          label="API keys"
          rows={rows}
          rowKey={(k) => k.id}
          columns={[
            { key: "name", label: "Name", render: (k) => k.name },
            { key: "prefix", label: "Prefix", render: (k) => <code>{k.prefix}…</code> },
            { key: "created_at", label: "Created", render: (k) => <Time value={k.created_at} /> },
            { key: "status", label: "Status", render: (k) => (k.revoked ? <Badge tone="danger">Revoked</Badge> : <Badge tone="ok">Active</Badge>) },
            { key: "act", label: <span className="sr">Actions</span>, render: (k) => !k.revoked && <button type="button" onClick={() => revoke(k)} aria-label={`Revoke ${k.name}`}>Revoke</button> },
          ]}
        />
      )}
      {created && <NewKey k={created} base={base} onClose={() => setCreated(null)} />}
    </section>
  );
}

export default function Overview({ pid }: { pid: string }) {
  const project = useProject(pid);
  const collections = useCollections(pid);
  const users = useQuery({ queryKey: ["data", pid, "_users", "count"], queryFn: () => api.get<RecordPage>(pp(pid, "/data/_users"), { query: { limit: 1 } }) });
  const files = useQuery({ queryKey: ["files-stats", pid], queryFn: () => api.get<FileStats>(pp(pid, "/files/stats")), retry: false });
  const keys = useQuery({ queryKey: ["api-keys", pid], queryFn: () => api.get<ApiKey[]>(pp(pid, "/api-keys")) });
  const base = `${window.location.origin}/api/projects/${pid}`;
  const stat = (label: string, value: React.ReactNode, testid: string) => (
    <div className="stat" data-testid={testid}><span className="num">{value}</span><span className="muted">{label}</span></div>
  );
  return (
    <div className="page">
      <div className="page-head">
        <h1>{project.data?.name || "(no name)"}</h1>
        <Id value={pid} label="project id" />
      </div>
      <div className="row">
        <span className="muted">API base URL</span> <code>{base}</code> <CopyButton text={base} label="Copy API base URL" />
      </div>
      <div className="stats">
        {stat("Collections", collections.data?.length ?? "…", "stat-collections")}
        {stat("App users", users.data?.total ?? (users.error ? "—" : "…"), "stat-users")}
        {stat("Files", files.data ? `${files.data.file_count} · ${formatBytes(files.data.total_bytes)}` : files.error ? "—" : "…", "stat-files")}
        {stat("Active API keys", keys.data ? keys.data.filter((k) => !k.revoked).length : "…", "stat-keys")}
      </div>
      <ApiKeys pid={pid} base={base} />
      <section aria-labelledby="modules-title">
        <h2 id="modules-title">Modules</h2>
        <ul className="cards">
          {MODULES.map(([seg, name, text]) => (
            <li key={seg} className="card">
              <h3><Link to={`/projects/${pid}/${seg}`}>{name}</Link></h3>
              <p className="muted">{text}</p>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
