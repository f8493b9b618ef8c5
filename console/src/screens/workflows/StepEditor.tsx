// The ordered steps of the workflow form: one card per step (action, optional name, the action's
// inputs), moved up and down, removed, added. Errors are keyed `<index>.<key>` (see steps.ts).

import type { Collection } from "../../api/types";
import { Checkbox, SelectField, TextArea, TextField } from "../../ui/form";
import { ACTIONS, MAX_DELAY, blankStep, type StepDraft } from "./steps";

export function StepEditor({ steps, onChange, errors, collections }: {
  steps: StepDraft[];
  onChange: (steps: StepDraft[]) => void;
  errors: Record<string, string>;
  collections: Collection[];
}) {
  const upd = (i: number, ch: Partial<StepDraft>) => onChange(steps.map((x, j) => (j === i ? { ...x, ...ch } : x)));
  const move = (i: number, by: number) => {
    const n = [...steps];
    const [x] = n.splice(i, 1);
    n.splice(i + by, 0, x);
    onChange(n);
  };
  return (
    <fieldset className="steps">
      <legend>Steps</legend>
      {steps.length === 0 && <p className="muted">No steps: a run completes at once.</p>}
      {steps.map((st, i) => {
        const n = i + 1;
        const err = (key: string) => errors[`${i}.${key}`];
        const later = steps.slice(i + 1).map((s) => s.name.trim()).filter(Boolean);
        const collectionSelect = (
          <SelectField label={`Step ${n} collection`} value={st.collection} onChange={(e) => upd(i, { collection: e.target.value })} error={err("collection")}>
            <option value="">Choose…</option>
            {collections.map((c) => <option key={c.id} value={c.name}>{c.name}</option>)}
            {st.collection && !collections.some((c) => c.name === st.collection) && <option value={st.collection}>{st.collection}</option>}
          </SelectField>
        );
        const recordId = <TextField label={`Step ${n} record id`} value={st.id} onChange={(e) => upd(i, { id: e.target.value })} error={err("id")} placeholder="{{ trigger.record.id }}" />;
        const data = (
          <TextArea label={`Step ${n} data (JSON)`} value={st.data} onChange={(e) => upd(i, { data: e.target.value })} error={err("data")}
            placeholder={'{"title": "{{ trigger.record.title }}"}'} />
        );
        return (
          <div className="step" key={i}>
            <div className="row">
              <SelectField label={`Step ${n} action`} value={st.action} onChange={(e) => upd(i, { action: e.target.value })} error={err("action")}>
                {ACTIONS.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
              </SelectField>
              <TextField label={`Step ${n} name`} value={st.name} onChange={(e) => upd(i, { name: e.target.value })} error={err("name")} placeholder="optional" />
              <div className="step-moves">
                <button type="button" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move step ${n} up`}>↑</button>
                <button type="button" disabled={i === steps.length - 1} onClick={() => move(i, 1)} aria-label={`Move step ${n} down`}>↓</button>
                <button type="button" onClick={() => onChange(steps.filter((_, j) => j !== i))} aria-label={`Remove step ${n}`}>Remove</button>
              </div>
            </div>
            {err("") && <p className="field-error">Step {n}: {err("")}</p>}
            {st.action === "http_request" && (
              <div className="grid2">
                <SelectField label={`Step ${n} method`} value={st.method} onChange={(e) => upd(i, { method: e.target.value })} error={err("method")}>
                  {["GET", "POST", "PUT", "PATCH", "DELETE"].map((m) => <option key={m} value={m}>{m}</option>)}
                </SelectField>
                <TextField label={`Step ${n} URL`} value={st.url} onChange={(e) => upd(i, { url: e.target.value })} error={err("url")} placeholder="https://example.com/notify" />
                <TextArea label={`Step ${n} headers (JSON)`} value={st.headers} onChange={(e) => upd(i, { headers: e.target.value })} error={err("headers")} />
                <TextArea label={`Step ${n} body (JSON)`} value={st.body} onChange={(e) => upd(i, { body: e.target.value })} error={err("body")} />
                <TextField label={`Step ${n} timeout (s)`} type="number" min={1} max={60} value={st.timeout} onChange={(e) => upd(i, { timeout: e.target.value })} error={err("timeout_seconds")} placeholder="10" />
                <TextField label={`Step ${n} retries`} type="number" min={0} max={10} value={st.retries} onChange={(e) => upd(i, { retries: e.target.value })} error={err("retries")} placeholder="3" />
                <Checkbox label={`Step ${n} fails on a non-2xx answer`} checked={st.failOnStatus} onChange={(e) => upd(i, { failOnStatus: e.target.checked })} error={err("fail_on_status")} />
              </div>
            )}
            {st.action === "transform" && (
              <TextArea label={`Step ${n} output (JSON)`} value={st.output} onChange={(e) => upd(i, { output: e.target.value })} error={err("output")}
                placeholder={'{"title": "{{ trigger.record.title }}"}'} hint="An object; strings are templates" />
            )}
            {st.action === "condition" && (
              <div className="grid2">
                <TextArea label={`Step ${n} condition (JSON)`} value={st.cond} onChange={(e) => upd(i, { cond: e.target.value })} error={err("if")}
                  placeholder={'{"trigger.record.amount": {"$gt": 100}}'} />
                <SelectField label={`Step ${n} otherwise`} value={st.otherwise} onChange={(e) => upd(i, { otherwise: e.target.value })} error={err("else")}
                  hint="When the condition does not hold">
                  <option value="stop">Stop the run</option>
                  {later.map((l) => <option key={l} value={l}>Skip to {l}</option>)}
                  {st.otherwise !== "stop" && !later.includes(st.otherwise) && <option value={st.otherwise}>Skip to {st.otherwise}</option>}
                </SelectField>
              </div>
            )}
            {st.action === "delay" && (
              <TextField label={`Step ${n} seconds`} type="number" min={0} max={MAX_DELAY} value={st.seconds} onChange={(e) => upd(i, { seconds: e.target.value })}
                error={err("seconds")} hint="Up to 30 days (2,592,000 s); the run waits in the database" />
            )}
            {st.action === "create_record" && <div className="grid2">{collectionSelect}{data}</div>}
            {st.action === "update_record" && <div className="grid2">{collectionSelect}{recordId}{data}</div>}
            {st.action === "delete_record" && <div className="grid2">{collectionSelect}{recordId}</div>}
            {st.action === "send_email" && (
              <div className="grid2">
                <TextField label={`Step ${n} to`} value={st.to} onChange={(e) => upd(i, { to: e.target.value })} error={err("to")} placeholder="{{ trigger.record.email }}" />
                <TextField label={`Step ${n} subject`} value={st.subject} onChange={(e) => upd(i, { subject: e.target.value })} error={err("subject")} />
                <TextArea label={`Step ${n} body`} value={st.text} onChange={(e) => upd(i, { text: e.target.value })} error={err("body")} />
              </div>
            )}
          </div>
        );
      })}
      <div><button type="button" onClick={() => onChange([...steps, blankStep()])}>Add step</button></div>
    </fieldset>
  );
}
