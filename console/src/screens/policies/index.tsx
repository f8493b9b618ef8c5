// Policies (§3.10): per collection, with the evaluation explainer, create/edit with a condition
// builder or raw JSON, delete, the effective-access matrix and "try as anonymous" (§4 item 6).

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { ApiError, api } from "../../api/client";
import { invalidate, useCollections, useFields } from "../../api/queries";
import { pp, seg, type Field, type Policy, type PolicyAction } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Json, Skeleton } from "../../ui/bits";
import { CollectionList } from "../../ui/CollectionList";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextArea, TextField, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const ACTIONS: PolicyAction[] = ["create", "read", "update", "delete", "list"];
const PRINCIPALS = ["admin_user", "app_user", "api_key", "anonymous"];
const COND_OPS = ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "starts_with"];
const SPECIAL = ["$current_user_id", "$current_app_user_id", "$now"];

interface Cond { column: string; op: string; value: string }

/** Builder rows → `{"col": v, "col2": {"$gt": v}}`. */
export function buildCondition(rows: Cond[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rows) {
    if (!r.column) continue;
    const v: unknown = SPECIAL.includes(r.value) ? r.value : /^-?\d+(\.\d+)?$/.test(r.value) ? Number(r.value) : r.value === "true" ? true : r.value === "false" ? false : r.value;
    out[r.column] = r.op === "eq" ? v : { [`$${r.op}`]: v };
  }
  return out;
}

/** The reverse, when the condition is in builder form. */
function parseCondition(json: string | null): Cond[] | null {
  if (!json) return [];
  try {
    const o = JSON.parse(json);
    if (!o || typeof o !== "object" || Array.isArray(o) || "type" in o) return null;
    const rows: Cond[] = [];
    for (const [column, v] of Object.entries(o)) {
      if (v && typeof v === "object") {
        const [k, x] = Object.entries(v)[0] ?? [];
        if (!k || !COND_OPS.includes(k.slice(1))) return null;
        rows.push({ column, op: k.slice(1), value: String(x) });
      } else rows.push({ column, op: "eq", value: String(v) });
    }
    return rows;
  } catch {
    return null;
  }
}

function PolicyDialog({ pid, collection, fields, policy, first, onClose }: { pid: string; collection: string; fields: Field[]; policy: Policy | null; first: boolean; onClose: () => void }) {
  const [name, setName] = useState(policy?.name ?? "");
  const [action, setAction] = useState<PolicyAction>(policy?.action ?? "read");
  const [effect, setEffect] = useState(policy?.effect ?? "allow");
  const [priority, setPriority] = useState(String(policy?.priority ?? 0));
  const [principals, setPrincipals] = useState<string[]>((policy?.allowed_principals ?? "").split(",").map((x) => x.trim()).filter(Boolean));
  const [verified, setVerified] = useState(policy?.require_email_verified ?? false);
  const [roles, setRoles] = useState(policy?.allowed_roles ?? "");
  const parsed = parseCondition(policy?.condition_json ?? null);
  const [raw, setRaw] = useState(parsed === null);
  const [rows, setRows] = useState<Cond[]>(parsed ?? []);
  const [rawText, setRawText] = useState(policy?.condition_json ?? "");
  const [local, setLocal] = useState<Record<string, string>>({});
  const s = useSubmit();
  const columns = ["id", "created_at", "updated_at", "created_by_user_id", "created_by_app_user_id", ...fields.map((f) => f.sql_column_name)];
  const submit = async () => {
    const l: Record<string, string> = {};
    if (!name.trim() || name.length > 63) l.name = "1 to 63 characters";
    if (!principals.length) l.principals = "Pick at least one";
    let condition: string | null = null;
    if (raw) {
      if (rawText.trim()) {
        try {
          const o = JSON.parse(rawText);
          if (!o || typeof o !== "object" || Array.isArray(o)) l.condition = "Must be a JSON object";
          else condition = rawText.trim();
        } catch {
          l.condition = "Not valid JSON";
        }
      }
    } else if (rows.some((r) => r.column)) condition = JSON.stringify(buildCondition(rows));
    setLocal(l);
    if (Object.keys(l).length) return;
    const appUser = principals.includes("app_user");
    const body: Record<string, unknown> = {
      name: name.trim(), effect, priority: Number(priority) || 0, allowed_principals: principals.join(","),
      require_email_verified: appUser && verified, allowed_roles: appUser ? roles.split(",").map((x) => x.trim()).filter(Boolean).join(",") : "",
    };
    if (condition !== null || !policy) body.condition_json = condition;
    else if (policy.condition_json) body.condition_json = "";
    const out = await s.run(() => policy
      ? api.patch<Policy>(pp(pid, `/schema/collections/${seg(collection)}/policies/${seg(policy.id)}`), body)
      : api.post<Policy>(pp(pid, `/schema/collections/${seg(collection)}/policies`), { ...body, action }));
    if (out) {
      toast(policy ? "Policy saved" : "Policy created");
      await invalidate("policies");
      onClose();
    }
  };
  return (
    <Dialog title={policy ? `Edit policy ${policy.name}` : `New policy on ${collection}`} open onClose={onClose} wide dirty={!policy && name !== ""}>
      <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        {first && <div className="banner" role="note">This is the first policy of {collection}: after this, API keys lose every action no policy allows.</div>}
        <FormAlert error={s.error} />
        <div className="grid2">
          <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={local.name ?? s.fields.name} maxLength={63} required />
          <SelectField label="Action" value={action} onChange={(e) => setAction(e.target.value as PolicyAction)} disabled={!!policy}>
            {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
          </SelectField>
          <SelectField label="Effect" value={effect} onChange={(e) => setEffect(e.target.value as "allow" | "deny")}>
            <option value="allow">allow</option><option value="deny">deny</option>
          </SelectField>
          <TextField label="Priority" type="number" step={1} value={priority} onChange={(e) => setPriority(e.target.value)} hint="Higher is checked first" />
        </div>
        <fieldset aria-describedby={local.principals ? "princ-err" : undefined}>
          <legend>Principals</legend>
          <div className="row">
            {PRINCIPALS.map((p) => (
              <Checkbox key={p} label={p} checked={principals.includes(p)} onChange={(e) => setPrincipals(e.target.checked ? [...principals, p] : principals.filter((x) => x !== p))} />
            ))}
          </div>
          {local.principals && <span id="princ-err" className="field-error">{local.principals}</span>}
        </fieldset>
        {principals.includes("app_user") && (
          <div className="grid2">
            <Checkbox label="Require verified email" checked={verified} onChange={(e) => setVerified(e.target.checked)} />
            <TextField label="Roles (names, comma separated)" value={roles} onChange={(e) => setRoles(e.target.value)} hint="Empty: any app user" />
          </div>
        )}
        <fieldset>
          <legend>Condition</legend>
          <Checkbox label="Raw JSON" checked={raw} onChange={(e) => { setRaw(e.target.checked); if (e.target.checked) setRawText(rows.length ? JSON.stringify(buildCondition(rows)) : rawText); }} />
          {raw ? (
            <TextArea label="Condition JSON" value={rawText} onChange={(e) => setRawText(e.target.value)} error={local.condition ?? s.fields.condition_json}
              hint='An object: {"col": value, "col2": {"$gt": 5}} or {"type": "owner", …}' />
          ) : (
            <div className="filters">
              {rows.map((r, i) => (
                <div className="filter-row" key={i}>
                  <SelectField label={`Condition column ${i + 1}`} value={r.column} onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, column: e.target.value } : x)))}>
                    {columns.map((c) => <option key={c} value={c}>{c}</option>)}
                  </SelectField>
                  <SelectField label={`Condition operator ${i + 1}`} value={r.op} onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, op: e.target.value } : x)))}>
                    {COND_OPS.map((o) => <option key={o} value={o}>{o}</option>)}
                  </SelectField>
                  <TextField label={`Condition value ${i + 1}`} value={r.value} list="policy-specials" onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
                  <button type="button" className="icon" aria-label={`Remove condition ${i + 1}`} onClick={() => setRows(rows.filter((_, j) => j !== i))}>×</button>
                </div>
              ))}
              <datalist id="policy-specials">{SPECIAL.map((x) => <option key={x} value={x} />)}</datalist>
              <div><button type="button" onClick={() => setRows([...rows, { column: columns[0], op: "eq", value: "" }])}>Add condition</button></div>
              {rows.length === 0 && <p className="muted small">No condition: the policy applies to every record.</p>}
            </div>
          )}
        </fieldset>
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <SubmitButton busy={s.busy}>{policy ? "Save policy" : "Create policy"}</SubmitButton>
        </div>
      </form>
    </Dialog>
  );
}

/** Which principal gets which action, from the policies without conditions or roles. */
function Matrix({ policies }: { policies: Policy[] }) {
  const decide = (action: PolicyAction, principal: string): string => {
    if (principal === "admin_user") return "allow";
    if (policies.length === 0) return principal === "api_key" ? "allow" : "deny";
    for (const p of policies) {
      if (p.action !== action) continue;
      const allowed = (p.allowed_principals || "admin_user,api_key").split(",").map((x) => x.trim());
      if (!allowed.includes(principal)) continue;
      if (p.condition_json || (p.require_email_verified && principal !== "app_user") || (p.allowed_roles && principal === "app_user")) return "depends";
      return p.effect;
    }
    return "deny";
  };
  return (
    <table aria-label="Effective access">
      <thead><tr><th scope="col">Action</th>{PRINCIPALS.map((p) => <th key={p} scope="col">{p}</th>)}</tr></thead>
      <tbody>
        {ACTIONS.map((a) => (
          <tr key={a}>
            <th scope="row">{a}</th>
            {PRINCIPALS.map((p) => { const d = decide(a, p); return <td key={p}><Badge tone={d === "allow" ? "ok" : d === "deny" ? "danger" : "warn"}>{d}</Badge></td>; })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TryAnonymous({ pid, collection }: { pid: string; collection: string }) {
  const [result, setResult] = useState<string | null>(null);
  const [key, setKey] = useState("");
  const run = async (withKey: boolean) => {
    try {
      await api.get(pp(pid, `/data/${seg(collection)}`), { anonymous: true, query: { limit: 1 }, headers: withKey ? { "X-API-Key": key } : undefined });
      setResult(`${withKey ? "API key" : "Anonymous"}: list allowed (200)`);
    } catch (e) {
      setResult(`${withKey ? "API key" : "Anonymous"}: ${e instanceof ApiError ? `${e.status} ${e.message}` : String(e)}`);
    }
  };
  return (
    <div className="card row">
      <button type="button" onClick={() => run(false)}>Try list as anonymous</button>
      <TextField label="API key" type="password" value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
      <button type="button" disabled={!key} onClick={() => run(true)}>Try list with this key</button>
      <span role="status">{result}</span>
    </div>
  );
}

export default function Policies({ pid }: { pid: string }) {
  const { search } = useLocation();
  const c = search.get("c");
  const collections = useCollections(pid);
  const fields = useFields(pid, c);
  const policies = useQuery({ queryKey: ["policies", pid, c], queryFn: () => api.get<Policy[]>(pp(pid, `/schema/collections/${seg(c!)}/policies`)), enabled: !!c });
  const [editing, setEditing] = useState<Policy | "new" | null>(null);
  const remove = async (p: Policy) => {
    if (!(await confirm({ title: "Delete policy", message: <>Delete the policy <strong>{p.name}</strong> ({p.action}, {p.effect})?</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/schema/collections/${seg(c!)}/policies/${seg(p.id)}`));
      toast("Policy deleted");
      await invalidate("policies");
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="page">
      <h1>Policies</h1>
      <p className="muted">Admins always pass. Without policies only admins and API keys pass; otherwise the highest-priority matching policy decides, and no match means deny.</p>
      <div className="split">
        {collections.isPending ? <Skeleton /> : collections.error ? <ErrorState error={collections.error} /> : (
          <CollectionList collections={collections.data} selected={c} onSelect={(n) => setQuery({ c: n })} />
        )}
        <section aria-label="Policies of the collection" className="page">
          {!c ? <Empty title="Select a collection" /> : policies.isPending ? <Skeleton /> : policies.error ? <ErrorState error={policies.error} notFound="Collection not found" /> : (
            <>
              <div className="page-head">
                <h2>Policies of {c}</h2>
                <div className="actions"><button type="button" className="primary" onClick={() => setEditing("new")}>New policy</button></div>
              </div>
              {policies.data.length === 0 ? <Empty title="No policies: admins and API keys only" /> : (
                <Table label={`Policies of ${c}`} rows={policies.data} rowKey={(p) => p.id} columns={[
                  { key: "name", label: "Name", render: (p) => p.name },
                  { key: "action", label: "Action", render: (p) => p.action },
                  { key: "effect", label: "Effect", render: (p) => <Badge tone={p.effect === "allow" ? "ok" : "danger"}>{p.effect}</Badge> },
                  { key: "prio", label: "Priority", render: (p) => p.priority },
                  { key: "princ", label: "Principals", render: (p) => p.allowed_principals || <span className="muted">admin_user, api_key</span> },
                  { key: "roles", label: "Roles", render: (p) => <>{p.allowed_roles || ""} {p.require_email_verified && <Badge>verified email</Badge>}</> },
                  { key: "cond", label: "Condition", render: (p) => (p.condition_json ? <details><summary>Show</summary><Json value={p.condition_json} label="condition" /></details> : "") },
                  { key: "act", label: <span className="sr">Actions</span>, render: (p) => (
                    <span className="row">
                      <button type="button" onClick={() => setEditing(p)} aria-label={`Edit ${p.name}`}>Edit</button>
                      <button type="button" onClick={() => remove(p)} aria-label={`Delete ${p.name}`}>Delete</button>
                    </span>
                  ) },
                ]} />
              )}
              <h3>Effective access</h3>
              <Matrix policies={policies.data} />
              <TryAnonymous pid={pid} collection={c} />
            </>
          )}
        </section>
      </div>
      {editing && c && (
        <PolicyDialog pid={pid} collection={c} fields={fields.data ?? []} policy={editing === "new" ? null : editing} first={(policies.data?.length ?? 0) === 0} onClose={() => setEditing(null)} />
      )}
    </div>
  );
}
