// The workflow drawer (`?wf=`): definition, pause/resume (PATCH is_active), Run now (POST …/run
// with an optional input) and the run history (`?rstatus=&roffset=`), or one run with its steps
// (`?run=`). Unfinished runs are polled until they end.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type RunDetail, type RunPage, type RunStatus, type RunStep, type Workflow, type WorkflowRun } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Id, Json, Skeleton, Time } from "../../ui/bits";
import { Dialog } from "../../ui/Dialog";
import { FormAlert, SelectField, SubmitButton, Switch, TextArea, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";
import { between, formatDuration } from "./steps";

const STATUSES: RunStatus[] = ["pending", "running", "waiting", "completed", "failed"];
const PAGE = 10;

type Tone = "ok" | "warn" | "danger" | "info" | undefined;
const tone = (s: string): Tone => (s === "completed" ? "ok" : s === "failed" ? "danger" : s === "waiting" || s === "retrying" ? "warn" : s === "running" || s === "pending" ? "info" : undefined);
const StatusBadge = ({ status }: { status: string }) => <Badge tone={tone(status)}>{status}</Badge>;

/** How often an unfinished run is polled (ms), or false. */
const pollFor = (s: RunStatus | undefined) => (s === "pending" || s === "running" ? 1000 : s === "waiting" ? 5000 : false);

/** The trigger event of a run: `manual`, `schedule`, `record.created · posts`. */
function eventText(r: WorkflowRun): string {
  const t = r.trigger ?? {};
  const ev = typeof t.event === "string" ? t.event : "—";
  return typeof t.collection === "string" ? `${ev} · ${t.collection}` : ev;
}

/** A run's duration: finished − started; "running" while it runs. */
function runDuration(r: WorkflowRun): string {
  if (r.finished_at) return formatDuration(between(r.started_at ?? r.created_at, r.finished_at));
  return r.status === "waiting" ? "waiting" : r.status === "pending" ? "—" : "running…";
}

function RunNow({ pid, wf }: { pid: string; wf: Workflow }) {
  const [input, setInput] = useState("");
  const [local, setLocal] = useState<string | undefined>();
  const s = useSubmit();
  return (
    <form className="run-now" noValidate onSubmit={async (e) => {
      e.preventDefault();
      setLocal(undefined);
      let body: unknown;
      if (input.trim()) {
        try {
          const v = JSON.parse(input);
          if (!v || typeof v !== "object" || Array.isArray(v)) return setLocal("Must be a JSON object");
          body = { input: v };
        } catch {
          return setLocal("Not valid JSON");
        }
      }
      const run = await s.run(() => api.post<RunDetail>(pp(pid, `/workflows/${seg(wf.id)}/run`), body));
      if (run) {
        toast("Run started");
        await invalidate("workflows");
        setQuery({ run: run.id, rstatus: null, roffset: null });
      }
    }}>
      <FormAlert error={s.error} />
      <TextArea label="Run input (JSON)" value={input} onChange={(e) => setInput(e.target.value)} rows={2} error={local ?? s.fields.input}
        placeholder={'{"who": "console"}'} hint={<>Optional; templates read it as <code>trigger.input</code> (its <code>record</code> as <code>trigger.record</code>)</>} />
      <div><SubmitButton busy={s.busy}>Run now</SubmitButton></div>
    </form>
  );
}

function Runs({ pid, wf }: { pid: string; wf: Workflow }) {
  const { search } = useLocation();
  const status = search.get("rstatus") ?? "";
  const offset = Math.max(0, Number(search.get("roffset")) || 0);
  const runs = useQuery({
    queryKey: ["workflows", pid, "runs", wf.id, status, offset],
    queryFn: () => api.get<RunPage>(pp(pid, `/workflows/${seg(wf.id)}/runs`), { query: { limit: PAGE, offset, status } }),
    placeholderData: (prev) => prev,
    refetchInterval: (q) => {
      const list = q.state.data?.runs ?? [];
      return list.some((r) => r.status === "pending" || r.status === "running") ? 2000 : list.some((r) => r.status === "waiting") ? 10_000 : false;
    },
  });
  return (
    <section className="stack" aria-labelledby="runs-title">
      <div className="page-head">
        <h3 id="runs-title">Runs</h3>
        <div className="toolbar">
          <SelectField label="Run status" value={status} onChange={(e) => setQuery({ rstatus: e.target.value, roffset: null })}>
            <option value="">All</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </SelectField>
          <button type="button" onClick={() => runs.refetch()}>Refresh</button>
        </div>
      </div>
      {runs.isPending ? <Skeleton /> : runs.error ? <ErrorState error={runs.error} retry={() => runs.refetch()} /> : runs.data.runs.length === 0 && offset === 0 ? (
        <Empty title={status ? `No ${status} runs` : "No runs yet"} />
      ) : (
        <Table label="Runs" rows={runs.data.runs} rowKey={(r) => r.id} busy={runs.isFetching && runs.isPlaceholderData}
          onRowClick={(r) => setQuery({ run: r.id })} columns={[
            { key: "status", label: "Status", render: (r) => <StatusBadge status={r.status} /> },
            { key: "event", label: "Trigger", render: (r) => <code>{eventText(r)}</code> },
            { key: "started", label: "Started", render: (r) => <Time value={r.started_at ?? r.created_at} /> },
            { key: "duration", label: "Duration", render: (r) => runDuration(r) },
            { key: "error", label: "Error", render: (r) => (r.error ? <span title={r.error}>{r.error}</span> : "") },
            { key: "open", label: <span className="sr">Open</span>, render: (r) => <button type="button" onClick={() => setQuery({ run: r.id })} aria-label={`View run ${r.id.slice(0, 8)}`}>View</button> },
          ]}
          paging={{ offset, limit: PAGE, count: runs.data.runs.length, total: runs.data.total, onPage: (o) => setQuery({ roffset: o || null }) }} />
      )}
    </section>
  );
}

function StepCard({ st }: { st: RunStep }) {
  const n = st.step_index + 1;
  return (
    <li className="step">
      <div className="row">
        <strong>{n}. {st.action}</strong>
        {st.name && <code>{st.name}</code>}
        <StatusBadge status={st.status} />
        <span className="muted">{st.attempts} attempt{st.attempts === 1 ? "" : "s"}</span>
        <span className="muted">{formatDuration(st.duration_ms)}</span>
      </div>
      {st.error && <p className="field-error">{st.error}</p>}
      <details>
        <summary>Input of step {n}</summary>
        <Json value={st.input} label={`Input of step ${n}`} />
      </details>
      <details>
        <summary>Output of step {n}</summary>
        {st.output === null || st.output === undefined ? <p className="muted">No output</p> : <Json value={st.output} label={`Output of step ${n}`} />}
      </details>
    </li>
  );
}

function RunView({ pid, wf, id }: { pid: string; wf: Workflow; id: string }) {
  const run = useQuery({
    queryKey: ["workflows", pid, "run", wf.id, id],
    queryFn: () => api.get<RunDetail>(pp(pid, `/workflows/${seg(wf.id)}/runs/${seg(id)}`)),
    refetchInterval: (q) => pollFor(q.state.data?.status),
  });
  return (
    <section className="stack" aria-labelledby="run-title">
      <div className="page-head">
        <h3 id="run-title">Run{run.data ? <> <code>{run.data.id.slice(0, 8)}</code></> : null}</h3>
        <div className="toolbar">
          <button type="button" onClick={() => run.refetch()}>Refresh</button>
          <button type="button" onClick={() => setQuery({ run: null })}>All runs</button>
        </div>
      </div>
      {run.isPending ? <Skeleton /> : run.error ? <ErrorState error={run.error} retry={() => run.refetch()} notFound="Run not found" /> : (
        <>
          <dl className="kv small" aria-label="Run summary">
            <dt>Status</dt><dd data-testid="run-status"><StatusBadge status={run.data.status} /></dd>
            <dt>Run</dt><dd><Id value={run.data.id} short label="run id" /></dd>
            <dt>Trigger</dt><dd><code>{eventText(run.data)}</code></dd>
            <dt>Created</dt><dd><Time value={run.data.created_at} /></dd>
            <dt>Started</dt><dd><Time value={run.data.started_at} /></dd>
            <dt>Finished</dt><dd><Time value={run.data.finished_at} /></dd>
            <dt>Duration</dt><dd>{runDuration(run.data)}</dd>
            <dt>Steps run</dt><dd>{run.data.steps_run} of {wf.steps.length}</dd>
            {run.data.resumes_at && <><dt>Resumes</dt><dd><Time value={run.data.resumes_at} /></dd></>}
            {run.data.depth > 1 && <><dt>Depth</dt><dd>{run.data.depth} (started by another workflow's write)</dd></>}
          </dl>
          {run.data.error && <p className="form-alert">{run.data.error}</p>}
          <details>
            <summary>Trigger data</summary>
            <Json value={run.data.trigger} label="Trigger data" />
          </details>
          <h4>Steps</h4>
          {run.data.steps.length === 0 ? <Empty title={run.data.status === "pending" ? "Not started yet" : "No steps ran"} /> : (
            <ol className="steps run-steps" aria-label="Run steps">{run.data.steps.map((st) => <StepCard key={st.step_index} st={st} />)}</ol>
          )}
        </>
      )}
    </section>
  );
}

function ActiveSwitch({ pid, wf }: { pid: string; wf: Workflow }) {
  const [busy, setBusy] = useState(false);
  return (
    <Switch label="Active" checked={wf.is_active} disabled={busy} onChange={async (v) => {
      setBusy(true);
      try {
        await api.patch<Workflow>(pp(pid, `/workflows/${seg(wf.id)}`), { is_active: v });
        toast(v ? "Workflow resumed" : "Workflow paused");
        await invalidate("workflows");
      } catch (e) {
        toastError(e);
      } finally {
        setBusy(false);
      }
    }} />
  );
}

export function WorkflowDrawer({ pid, id, onClose }: { pid: string; id: string; onClose: () => void }) {
  const { search } = useLocation();
  const run = search.get("run");
  const wf = useQuery({ queryKey: ["workflows", pid, "one", id], queryFn: () => api.get<Workflow>(pp(pid, `/workflows/${seg(id)}`)) });
  return (
    <Dialog title={wf.data ? `Workflow ${wf.data.name}` : "Workflow"} open onClose={onClose} drawer>
      {wf.isPending ? <Skeleton /> : wf.error ? <ErrorState error={wf.error} notFound="Workflow not found" /> : (
        <div className="page">
          {wf.data.description && <p>{wf.data.description}</p>}
          <div className="row">
            <ActiveSwitch pid={pid} wf={wf.data} />
            <span className="muted small">{wf.data.is_active ? "Events and schedules start runs." : "Paused: events and schedules start no runs; Run now still does."}</span>
          </div>
          <dl className="kv small">
            <dt>Trigger</dt><dd><code>{wf.data.trigger_type}</code></dd>
            <dt>Created</dt><dd><Time value={wf.data.created_at} /></dd>
            <dt>Updated</dt><dd><Time value={wf.data.updated_at} /></dd>
          </dl>
          <details>
            <summary>Definition ({wf.data.steps.length} step{wf.data.steps.length === 1 ? "" : "s"})</summary>
            <Json value={wf.data.trigger_config} label="Trigger config" />
            <ol className="def-steps">{wf.data.steps.map((st, i) => <li key={i}><Json value={st} label={`Step ${i + 1} definition`} /></li>)}</ol>
          </details>
          <RunNow pid={pid} wf={wf.data} />
          {run ? <RunView pid={pid} wf={wf.data} id={run} /> : <Runs pid={pid} wf={wf.data} />}
        </div>
      )}
    </Dialog>
  );
}
