// Workflows (§3.18, spec/workflows.md): list, create with ordered steps or raw JSON (the server's
// 422 items land under the step input they name), delete; the drawer (WorkflowDrawer.tsx) shows
// the definition, pause/resume, Run now and the run history with each run's steps.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections } from "../../api/queries";
import { pp, seg, type Step, type Workflow } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Skeleton, Time } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextArea, TextField, useSubmit } from "../../ui/form";
import { Table, sortRows } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";
import { StepEditor } from "./StepEditor";
import { alertText, blankStep, buildStep, draftFromStep, placeErrors, type StepDraft } from "./steps";
import { WorkflowDrawer } from "./WorkflowDrawer";

const TRIGGERS = ["record.created", "record.updated", "record.deleted", "manual", "schedule"];

/** The trigger's config from the form's inputs; an error text for a bad condition. */
function triggerConfig(trigger: string, collection: string, condition: string, cron: string): Record<string, unknown> | string {
  if (trigger === "schedule") return { cron: cron.trim() };
  if (!trigger.startsWith("record.")) return {};
  const out: Record<string, unknown> = {};
  if (collection) out.collection = collection;
  if (condition.trim()) {
    try {
      const v = JSON.parse(condition);
      if (!v || typeof v !== "object" || Array.isArray(v)) return "Must be a JSON object";
      out.condition = v;
    } catch {
      return "Not valid JSON";
    }
  }
  return out;
}

function CreateWorkflow({ pid }: { pid: string }) {
  const collections = useCollections(pid);
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [trigger, setTrigger] = useState("record.created");
  const [collection, setCollection] = useState("");
  const [condition, setCondition] = useState("");
  const [cron, setCron] = useState("");
  const [steps, setSteps] = useState<StepDraft[]>([blankStep()]);
  const [raw, setRaw] = useState(false);
  const [rawText, setRawText] = useState("");
  const [local, setLocal] = useState<string | null>(null);
  const [stepErrors, setStepErrors] = useState<Record<string, string>>({});
  const [topErrors, setTopErrors] = useState<Record<string, string>>({});
  const s = useSubmit();
  const reset = () => {
    setName(""); setDescription(""); setTrigger("record.created"); setCollection(""); setCondition(""); setCron("");
    setSteps([blankStep()]); setRaw(false); setLocal(null); setStepErrors({}); setTopErrors({}); s.reset();
  };
  const toRaw = () => {
    const config = triggerConfig(trigger, collection, "", cron);
    let cfg = typeof config === "string" ? {} : config;
    if (trigger.startsWith("record.") && condition.trim()) {
      try {
        cfg = { ...cfg, condition: JSON.parse(condition) };
      } catch {
        /* left out */
      }
    }
    const built = steps.map((d) => buildStep(d).step ?? { action: d.action, ...(d.name.trim() ? { name: d.name.trim() } : {}) });
    setRawText(JSON.stringify({ trigger_type: trigger, trigger_config: cfg, steps: built }, null, 2));
    setRaw(true);
  };
  const fromRaw = () => {
    let v: { trigger_type?: unknown; trigger_config?: Record<string, unknown>; steps?: unknown[] };
    try {
      v = JSON.parse(rawText);
    } catch {
      return setLocal("Not valid JSON: the form cannot show it");
    }
    const drafts = Array.isArray(v?.steps) ? v.steps.map(draftFromStep) : [];
    if (!v || typeof v !== "object" || drafts.some((d) => d === null) || (v.trigger_type !== undefined && !TRIGGERS.includes(String(v.trigger_type)))) {
      return setLocal("The form cannot show this JSON (unknown trigger or step action); keep editing it as JSON");
    }
    const cfg = v.trigger_config && typeof v.trigger_config === "object" ? v.trigger_config : {};
    setTrigger(String(v.trigger_type ?? trigger));
    setCollection(typeof cfg.collection === "string" ? cfg.collection : "");
    setCondition(cfg.condition ? JSON.stringify(cfg.condition, null, 2) : "");
    setCron(typeof cfg.cron === "string" ? cfg.cron : "");
    setSteps(drafts as StepDraft[]);
    setLocal(null);
    setRaw(false);
  };
  const submit = async () => {
    setLocal(null);
    setStepErrors({});
    setTopErrors({});
    if (!name.trim() || name.length > 127) return s.setFields({ name: "1 to 127 characters" });
    let body: Record<string, unknown>;
    if (raw) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawText);
      } catch {
        return setLocal("Not valid JSON");
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return setLocal("The workflow JSON must be an object");
      body = { ...(parsed as Record<string, unknown>), name: name.trim(), description: description || null };
    } else {
      const built = steps.map(buildStep);
      const errs: Record<string, string> = {};
      built.forEach((b, i) => Object.entries(b.errors).forEach(([k, m]) => (errs[`${i}.${k}`] = m)));
      const config = triggerConfig(trigger, collection, condition, cron);
      const top: Record<string, string> = {};
      if (typeof config === "string") top.condition = config;
      if (trigger === "schedule" && !cron.trim()) top.cron = "Required, e.g. */5 * * * *";
      if (Object.keys(errs).length || Object.keys(top).length) {
        setStepErrors(errs);
        setTopErrors(top);
        return setLocal(alertText({ top, steps: errs, rest: [] }));
      }
      body = { name: name.trim(), description: description || null, trigger_type: trigger, trigger_config: config, steps: built.map((b) => b.step as Step) };
    }
    const out = await s.run(() => api.post<Workflow>(pp(pid, "/workflows"), body), (e) => {
      const placed = placeErrors(e, raw ? null : steps, raw ? "" : trigger);
      setStepErrors(placed.steps);
      const { name: nameErr, description: descErr, ...top } = placed.top;
      setTopErrors(top);
      return { fields: { name: nameErr, description: descErr }, message: alertText(placed) ?? e.message };
    });
    if (out) {
      toast("Workflow created");
      setOpen(false);
      await invalidate("workflows");
    }
  };
  const top = (k: string) => topErrors[k];
  return (
    <>
      <button type="button" className="primary" onClick={() => { reset(); setOpen(true); }}>Create workflow</button>
      <Dialog title="Create workflow" open={open} onClose={() => setOpen(false)} wide dirty={name !== ""}>
        <form noValidate onSubmit={(e) => { e.preventDefault(); void submit(); }}>
          <FormAlert error={local ?? s.error} />
          <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} maxLength={127} error={s.fields.name} required />
          <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} error={s.fields.description} />
          <Checkbox label="Raw JSON" checked={raw} onChange={(e) => (e.target.checked ? toRaw() : fromRaw())} />
          {raw ? (
            <TextArea label="Workflow JSON" value={rawText} onChange={(e) => setRawText(e.target.value)} rows={14}
              hint="trigger_type, trigger_config and steps, as in spec/workflows.md; every action and key is accepted here" />
          ) : (
            <>
              <div className="grid2">
                <SelectField label="Trigger" value={trigger} onChange={(e) => setTrigger(e.target.value)} error={top("trigger_type")}>
                  {TRIGGERS.map((t) => <option key={t} value={t}>{t}</option>)}
                </SelectField>
                {trigger.startsWith("record.") && (
                  <SelectField label="Collection" value={collection} onChange={(e) => setCollection(e.target.value)} error={top("collection")}>
                    <option value="">Any</option>
                    {(collections.data ?? []).map((c) => <option key={c.id} value={c.name}>{c.name}</option>)}
                  </SelectField>
                )}
                {trigger.startsWith("record.") && (
                  <TextArea label="Record condition (JSON)" value={condition} onChange={(e) => setCondition(e.target.value)} error={top("condition")}
                    placeholder={'{"published": true}'} hint="Optional: runs start only for rows that match" />
                )}
                {trigger === "schedule" && (
                  <TextField label="Cron" value={cron} onChange={(e) => setCron(e.target.value)} placeholder="*/5 * * * *" error={top("cron")} hint="UTC; five fields, or six with seconds first" />
                )}
                {trigger === "manual" && <p className="muted">Started with Run now or <code>POST …/workflows/&#123;id&#125;/run</code>; templates read the input as <code>trigger.input</code>.</p>}
              </div>
              <StepEditor steps={steps} onChange={setSteps} errors={stepErrors} collections={collections.data ?? []} />
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

/** What the list says about a trigger's config. */
function configText(w: Workflow): string {
  const c = w.trigger_config ?? {};
  if (w.trigger_type === "schedule") return typeof c.cron === "string" ? c.cron : "—";
  if (w.trigger_type.startsWith("record.")) return typeof c.collection === "string" ? c.collection : "any";
  return "—";
}

export default function Workflows({ pid }: { pid: string }) {
  const { search } = useLocation();
  const wf = search.get("wf");
  const list = useQuery({ queryKey: ["workflows", pid], queryFn: () => api.get<Workflow[]>(pp(pid, "/workflows")) });
  const [sort, setSort] = useState("");
  const remove = async (w: Workflow) => {
    if (!(await confirm({ title: "Delete workflow", message: <>Delete the workflow <strong>{w.name}</strong> and its runs?</>, action: "Delete" }))) return;
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
      {list.isPending ? <Skeleton /> : list.error ? <ErrorState error={list.error} retry={() => list.refetch()} notFound="Workflows are not available on this server (the endpoints answered 404)" /> : list.data.length === 0 ? <Empty title="No workflows yet" /> : (
        <Table label="Workflows" rows={sortRows(list.data, sort, (r, k) => (r as unknown as Record<string, unknown>)[k])} rowKey={(w) => w.id}
          sort={sort} onSort={setSort} onRowClick={(w) => setQuery({ wf: w.id })} columns={[
            { key: "name", label: "Name", sortable: true, render: (w) => <button type="button" className="link" onClick={() => setQuery({ wf: w.id })}>{w.name}</button> },
            { key: "description", label: "Description", render: (w) => w.description ?? "" },
            { key: "trigger_type", label: "Trigger", sortable: true, render: (w) => <code>{w.trigger_type}</code> },
            { key: "coll", label: "Collection / schedule", render: (w) => configText(w) },
            { key: "steps", label: "Steps", render: (w) => `${w.steps.length} step${w.steps.length === 1 ? "" : "s"}` },
            { key: "is_active", label: "Active", sortable: true, render: (w) => (w.is_active ? <Badge tone="ok">active</Badge> : <Badge tone="warn">paused</Badge>) },
            { key: "created_at", label: "Created", sortable: true, render: (w) => <Time value={w.created_at} /> },
            { key: "act", label: <span className="sr">Actions</span>, render: (w) => <button type="button" onClick={() => remove(w)} aria-label={`Delete ${w.name}`}>Delete</button> },
          ]} />
      )}
      {wf && <WorkflowDrawer pid={pid} id={wf} onClose={() => setQuery({ wf: null, run: null, rstatus: null, roffset: null })} />}
    </div>
  );
}
