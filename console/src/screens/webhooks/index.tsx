// Webhooks (§3.17): list, create with the one-time secret, drawer with deliveries, delete.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type Delivery, type Webhook } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Code, Empty, ErrorState, Skeleton, Time } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SubmitButton, TextField, useSubmit } from "../../ui/form";
import { Table, sortRows } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const EVENTS = ["record.created", "record.updated", "record.deleted"];

function CreateWebhook({ pid, onCreated }: { pid: string; onCreated: (w: Webhook) => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>([]);
  const [local, setLocal] = useState<Record<string, string>>({});
  const s = useSubmit();
  return (
    <>
      <button type="button" className="primary" onClick={() => { setName(""); setUrl(""); setEvents([]); setLocal({}); s.reset(); setOpen(true); }}>Create webhook</button>
      <Dialog title="Create webhook" open={open} onClose={() => setOpen(false)} dirty={name !== "" || url !== ""}>
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          const l: Record<string, string> = {};
          if (!name.trim() || name.length > 127) l.name = "1 to 127 characters";
          if (!/^https?:\/\/[^\s/]+/i.test(url.trim())) l.url = "An absolute http:// or https:// URL";
          if (!events.length) l.events = "Pick at least one event";
          setLocal(l);
          if (Object.keys(l).length) return;
          const w = await s.run(() => api.post<Webhook>(pp(pid, "/webhooks"), { name: name.trim(), url: url.trim(), events }));
          if (w) {
            setOpen(false);
            toast("Webhook created");
            await invalidate("webhooks");
            onCreated(w);
          }
        }}>
          <FormAlert error={s.error} />
          <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} maxLength={127} error={local.name ?? s.fields.name} required />
          <TextField label="URL" type="url" value={url} onChange={(e) => setUrl(e.target.value)} error={local.url ?? s.fields.url} placeholder="https://example.com/hook" required />
          <fieldset>
            <legend>Events</legend>
            <Checkbox label="All (*)" checked={events.includes("*")} onChange={(e) => setEvents(e.target.checked ? ["*"] : [])} />
            {EVENTS.map((ev) => (
              <Checkbox key={ev} label={ev} disabled={events.includes("*")} checked={events.includes(ev) || events.includes("*")}
                onChange={(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))} />
            ))}
            {local.events && <span className="field-error">{local.events}</span>}
          </fieldset>
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Create webhook</SubmitButton>
          </div>
        </form>
      </Dialog>
    </>
  );
}

function Secret({ w, onClose }: { w: Webhook; onClose: () => void }) {
  const [stored, setStored] = useState(false);
  return (
    <Dialog title="Webhook secret" open onClose={() => stored && onClose()}>
      <p>This secret is shown only once. Receivers use it to check each delivery's signature.</p>
      <Code text={w.secret ?? ""} label="Webhook secret" />
      <p className="muted small">Each delivery carries <code>X-Webhook-Timestamp</code> and <code>X-Webhook-Signature: sha256=&lt;hex HMAC-SHA256(secret, "&lt;timestamp&gt;.&lt;body&gt;")&gt;</code>.</p>
      <Checkbox label="I have stored it" checked={stored} onChange={(e) => setStored(e.target.checked)} />
      <div className="actions"><button type="button" className="primary" disabled={!stored} onClick={onClose}>Close</button></div>
    </Dialog>
  );
}

function Drawer({ pid, id, onClose }: { pid: string; id: string; onClose: () => void }) {
  const hook = useQuery({ queryKey: ["webhooks", pid, "one", id], queryFn: () => api.get<Webhook>(pp(pid, `/webhooks/${seg(id)}`)) });
  const deliveries = useQuery({ queryKey: ["webhooks", pid, "deliveries", id], queryFn: () => api.get<Delivery[]>(pp(pid, `/webhooks/${seg(id)}/deliveries`)) });
  return (
    <Dialog title={hook.data ? `Webhook ${hook.data.name}` : "Webhook"} open onClose={onClose} drawer>
      {hook.isPending ? <Skeleton /> : hook.error ? <ErrorState error={hook.error} notFound="Webhook not found" /> : (
        <div className="page">
          <dl className="grid2 small">
            <dt>URL</dt><dd><code>{hook.data.url}</code></dd>
            <dt>Events</dt><dd>{hook.data.events.join(", ")}</dd>
            <dt>Active</dt><dd>{hook.data.is_active ? "yes" : "no"}</dd>
            <dt>Created</dt><dd><Time value={hook.data.created_at} /></dd>
          </dl>
          <div className="page-head">
            <h3>Deliveries (latest 50)</h3>
            <button type="button" onClick={() => deliveries.refetch()}>Refresh</button>
          </div>
          {deliveries.isPending ? <Skeleton /> : deliveries.error ? <ErrorState error={deliveries.error} /> : deliveries.data.length === 0 ? <Empty title="No deliveries yet" /> : (
            <Table label="Deliveries" rows={deliveries.data} rowKey={(d) => d.id} columns={[
              { key: "event", label: "Event", render: (d) => <code>{d.event_type}</code> },
              { key: "status", label: "Status", render: (d) => <Badge tone={d.status === "delivered" ? "ok" : d.status === "failed" ? "danger" : undefined}>{d.status}</Badge> },
              { key: "attempts", label: "Attempts", render: (d) => d.attempts },
              { key: "resp", label: "Response", render: (d) => d.response_status ?? "—" },
              { key: "error", label: "Error", render: (d) => d.error ?? "" },
              { key: "created", label: "Created", render: (d) => <Time value={d.created_at} /> },
              { key: "delivered", label: "Delivered", render: (d) => <Time value={d.delivered_at} /> },
            ]} />
          )}
        </div>
      )}
    </Dialog>
  );
}

export default function Webhooks({ pid }: { pid: string }) {
  const { search } = useLocation();
  const w = search.get("w");
  const hooks = useQuery({ queryKey: ["webhooks", pid], queryFn: () => api.get<Webhook[]>(pp(pid, "/webhooks")) });
  const [created, setCreated] = useState<Webhook | null>(null);
  const [sort, setSort] = useState("");
  const remove = async (h: Webhook) => {
    if (!(await confirm({ title: "Delete webhook", message: <>Delete the webhook <strong>{h.name}</strong> and its delivery history?</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/webhooks/${seg(h.id)}`));
      toast("Webhook deleted");
      await invalidate("webhooks");
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1>Webhooks</h1>
        <div className="actions"><CreateWebhook pid={pid} onCreated={setCreated} /></div>
      </div>
      {hooks.isPending ? <Skeleton /> : hooks.error ? <ErrorState error={hooks.error} retry={() => hooks.refetch()} /> : hooks.data.length === 0 ? <Empty title="No webhooks yet" /> : (
        <Table label="Webhooks" rows={sortRows(hooks.data, sort, (r, k) => (r as unknown as Record<string, unknown>)[k])} rowKey={(h) => h.id}
          sort={sort} onSort={setSort} onRowClick={(h) => setQuery({ w: h.id })} columns={[
            { key: "name", label: "Name", sortable: true, render: (h) => <button type="button" className="link" onClick={() => setQuery({ w: h.id })}>{h.name}</button> },
            { key: "url", label: "URL", sortable: true, render: (h) => <code>{h.url}</code> },
            { key: "events", label: "Events", render: (h) => h.events.join(", ") },
            { key: "is_active", label: "Active", sortable: true, render: (h) => (h.is_active ? <Badge tone="ok">active</Badge> : <Badge>inactive</Badge>) },
            { key: "created_at", label: "Created", sortable: true, render: (h) => <Time value={h.created_at} /> },
            { key: "act", label: <span className="sr">Actions</span>, render: (h) => <button type="button" onClick={() => remove(h)} aria-label={`Delete ${h.name}`}>Delete</button> },
          ]} />
      )}
      {created && <Secret w={created} onClose={() => setCreated(null)} />}
      {w && <Drawer pid={pid} id={w} onClose={() => setQuery({ w: null })} />}
    </div>
  );
}
