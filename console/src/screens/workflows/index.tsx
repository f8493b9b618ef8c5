// Workflows (§3.18): list, drawer with trigger and steps, create with ordered steps or raw JSON,
// delete. Runs are not listed by the API.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections } from "../../api/queries";
import { pp, seg, type Step, type Workflow } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Json, Skeleton, Time } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextArea, TextField, useSubmit } from "../../ui/form";
import { Table, sortRows } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const TRIGGERS = ["record.created", "record.updated", "record.deleted", "manual", "schedule"];

interface StepDraft { action: string; method: string; url: string; headers: string; body: string; seconds: string }

const blank = (): StepDraft => ({ action: "http_request", method: "POST", url: "", headers: "", body: "", seconds: "5" });

/** A step draft → the flat step object of the contract; an error text when invalid. */
export function buildStep(d: StepDraft): Step | string {
  if (d.action === "delay") {
    const n = Number(d.seconds);
    return Number.isInteger(n) && n >= 1 && n <= 60 ? { action: "delay", seconds: n } : "Delay: 1 to 60 seconds";
  }
  if (d.action === "transform") return { action: "transform" };
  if (!/^https?:\/\//.test(d.url)) return "HTTP request: an absolute http(s) URL";
  const step: Step = { action: "http_request", method: d.method, url: d.url };
  for (const [k, text] of [["headers", d.headers], ["body", d.body]] as const) {
    if (!text.trim()) continue;
    try {
      const v = JSON.parse(text);
      if (!v || typeof v !== "object" || Array.isArray(v)) return `HTTP request: ${k} must be a JSON object`;
      step[k] = v;
    } catch {
      return `HTTP request: ${k} is not valid JSON`;
    }
  }
  return step;
}

function CreateWorkflow({ pid }: { pid: string }) {
  const collections = useCollections(pid);
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [trigger, setTrigger] = useState("record.created");
  const [collection, setCollection] = useState("");
  const [cron, setCron] = useState("");
  const [steps, setSteps] = useState<StepDraft[]>([blank()]);
  const [raw, setRaw] = useState(false);
  const [rawText, setRawText] = useState("");
  const [local, setLocal] = useState<string | null>(null);
  const s = useSubmit();
  const upd = (i: number, ch: Partial<StepDraft>) => setSteps(steps.map((x, j) => (j === i ? { ...x, ...ch } : x)));
  const move = (i: number, by: number) => {
    const n = [...steps];
    const [x] = n.splice(i, 1);
    n.splice(i + by, 0, x);
    setSteps(n);
  };
  return (
    <>
      <button type="button" className="primary" onClick={() => { setName(""); setDescription(""); setSteps([blank()]); setRaw(false); setLocal(null); s.reset(); setOpen(true); }}>Create workflow</button>
      <Dialog title="Create workflow" open={open} onClose={() => setOpen(false)} wide dirty={name !== ""}>
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          setLocal(null);
          if (!name.trim() || name.length > 127) return s.setFields({ name: "1 to 127 characters" });
          let body: Record<string, unknown>;
          if (raw) {
            try {
              body = JSON.parse(rawText);
            } catch {
              return setLocal("Not valid JSON");
            }
            body = { ...body, name: name.trim(), description: description || null };
          } else {
            const built = steps.map(buildStep);
            const bad = built.find((x) => typeof x === "string");
            if (bad) return setLocal(bad as string);
            const config = trigger.startsWith("record.") ? (collection ? { collection } : {}) : trigger === "schedule" ? { cron } : {};
            body = { name: name.trim(), description: description || null, trigger_type: trigger, trigger_config: config, steps: built };
          }
          const out = await s.run(() => api.post<Workflow>(pp(pid, "/workflows"), body));
          if (out) {
            toast("Workflow created");
            setOpen(false);
            await invalidate("workflows");
          }
        }}>
          <FormAlert error={local ?? s.error} />
          <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} maxLength={127} error={s.fields.name} required />
          <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} />
          <Checkbox label="Raw JSON" checked={raw} onChange={(e) => {
            setRaw(e.target.checked);
            if (e.target.checked) setRawText(JSON.stringify({ trigger_type: trigger, trigger_config: collection ? { collection } : {}, steps: steps.map(buildStep).filter((x) => typeof x !== "string") }, null, 2));
          }} />
          {raw ? <TextArea label="Workflow JSON" value={rawText} onChange={(e) => setRawText(e.target.value)} rows={12} hint="trigger_type, trigger_config, steps" /> : (
            <>
              <div className="grid2">
                <SelectField label="Trigger" value={trigger} onChange={(e) => setTrigger(e.target.value)}>
                  {TRIGGERS.map((t) => <option key={t} value={t}>{t}</option>)}
                </SelectField>
                {trigger.startsWith("record.") && (
                  <SelectField label="Collection" value={collection} onChange={(e) => setCollection(e.target.value)}>
                    <option value="">Any</option>
                    {(collections.data ?? []).map((c) => <option key={c.id} value={c.name}>{c.name}</option>)}
                  </SelectField>
                )}
                {trigger === "schedule" && <TextField label="Cron" value={cron} onChange={(e) => setCron(e.target.value)} placeholder="*/5 * * * *" />}
              </div>
              <fieldset className="steps">
                <legend>Steps</legend>
                {steps.map((st, i) => (
                  <div className="step" key={i}>
                    <div className="row">
                      <SelectField label={`Step ${i + 1} action`} value={st.action} onChange={(e) => upd(i, { action: e.target.value })}>
                        <option value="http_request">HTTP request</option><option value="delay">Delay</option><option value="transform">Transform</option>
                      </SelectField>
                      <button type="button" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move step ${i + 1} up`}>↑</button>
                      <button type="button" disabled={i === steps.length - 1} onClick={() => move(i, 1)} aria-label={`Move step ${i + 1} down`}>↓</button>
                      <button type="button" onClick={() => setSteps(steps.filter((_, j) => j !== i))} aria-label={`Remove step ${i + 1}`}>Remove</button>
                    </div>
                    {st.action === "http_request" && (
                      <div className="grid2">
                        <SelectField label={`Step ${i + 1} method`} value={st.method} onChange={(e) => upd(i, { method: e.target.value })}>
                          {["GET", "POST", "PUT", "PATCH", "DELETE"].map((m) => <option key={m} value={m}>{m}</option>)}
                        </SelectField>
                        <TextField label={`Step ${i + 1} URL`} value={st.url} onChange={(e) => upd(i, { url: e.target.value })} placeholder="https://example.com/notify" />
                        <TextArea label={`Step ${i + 1} headers (JSON)`} value={st.headers} onChange={(e) => upd(i, { headers: e.target.value })} />
                        <TextArea label={`Step ${i + 1} body (JSON)`} value={st.body} onChange={(e) => upd(i, { body: e.target.value })} />
                      </div>
                    )}
                    {st.action === "delay" && <TextField label={`Step ${i + 1} seconds`} type="number" min={1} max={60} value={st.seconds} onChange={(e) => upd(i, { seconds: e.target.value })} />}
                  </div>
                ))}
                <div><button type="button" onClick={() => setSteps([...steps, blank()])}>Add step</button></div>
              </fieldset>
            </>
          )}
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Create workflow</SubmitButton>
          </div>
        </form>
      </Dialog>
    </>
  );
}

function Drawer({ pid, id, onClose }: { pid: string; id: string; onClose: () => void }) {
  const wf = useQuery({ queryKey: ["workflows", pid, "one", id], queryFn: () => api.get<Workflow>(pp(pid, `/workflows/${seg(id)}`)) });
  return (
    <Dialog title={wf.data ? `Workflow ${wf.data.name}` : "Workflow"} open onClose={onClose} drawer>
      {wf.isPending ? <Skeleton /> : wf.error ? <ErrorState error={wf.error} notFound="Workflow not found" /> : (
        <div className="page">
          <p>{wf.data.description}</p>
          <p>Trigger <code>{wf.data.trigger_type}</code></p>
          <Json value={wf.data.trigger_config} label="trigger config" />
          <h3>Steps</h3>
          <ol>{wf.data.steps.map((st, i) => <li key={i}><Json value={st} label={`step ${i + 1}`} /></li>)}</ol>
        </div>
      )}
    </Dialog>
  );
}

export default function Workflows({ pid }: { pid: string }) {
  const { search } = useLocation();
  const wf = search.get("wf");
  const list = useQuery({ queryKey: ["workflows", pid], queryFn: () => api.get<Workflow[]>(pp(pid, "/workflows")) });
  const [sort, setSort] = useState("");
  const remove = async (w: Workflow) => {
    if (!(await confirm({ title: "Delete workflow", message: <>Delete the workflow <strong>{w.name}</strong>?</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/workflows/${seg(w.id)}`));
      toast("Workflow deleted");
      await invalidate("workflows");
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1>Workflows</h1>
        <div className="actions"><CreateWorkflow pid={pid} /></div>
      </div>
      <div className="banner" role="note">Runs are not listed by the API; whether and when steps execute depends on the server.</div>
      {list.isPending ? <Skeleton /> : list.error ? <ErrorState error={list.error} retry={() => list.refetch()} notFound="Workflows are not available on this server (the endpoints answered 404)" /> : list.data.length === 0 ? <Empty title="No workflows yet" /> : (
        <Table label="Workflows" rows={sortRows(list.data, sort, (r, k) => (r as unknown as Record<string, unknown>)[k])} rowKey={(w) => w.id}
          sort={sort} onSort={setSort} onRowClick={(w) => setQuery({ wf: w.id })} columns={[
            { key: "name", label: "Name", sortable: true, render: (w) => <button type="button" className="link" onClick={() => setQuery({ wf: w.id })}>{w.name}</button> },
            { key: "description", label: "Description", render: (w) => w.description ?? "" },
            { key: "trigger_type", label: "Trigger", sortable: true, render: (w) => <code>{w.trigger_type}</code> },
            { key: "coll", label: "Collection", render: (w) => String(w.trigger_config?.collection ?? "—") },
            { key: "steps", label: "Steps", render: (w) => `${w.steps.length} step${w.steps.length === 1 ? "" : "s"}` },
            { key: "is_active", label: "Active", render: (w) => (w.is_active ? <Badge tone="ok">active</Badge> : <Badge>inactive</Badge>) },
            { key: "created_at", label: "Created", sortable: true, render: (w) => <Time value={w.created_at} /> },
            { key: "act", label: <span className="sr">Actions</span>, render: (w) => <button type="button" onClick={() => remove(w)} aria-label={`Delete ${w.name}`}>Delete</button> },
          ]} />
      )}
      {wf && <Drawer pid={pid} id={wf} onClose={() => setQuery({ wf: null })} />}
    </div>
  );
}
