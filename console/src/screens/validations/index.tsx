// Validation rules (§3.11): collections, fields, the field's rules; add/edit with typed config
// inputs from the rule type's config schema; delete; "Try a value".

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections, useFields } from "../../api/queries";
import { pp, seg, type Field, type Rule, type RuleType } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Skeleton } from "../../ui/bits";
import { CollectionList } from "../../ui/CollectionList";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextField, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";
import { TypedInput } from "../data/inputs";

const DEFAULT_MESSAGES: Record<string, string> = {
  min_length: "Must be at least {min} characters", max_length: "Must be at most {max} characters",
  regex: "Does not match required pattern", custom_regex: "Does not match required pattern", email: "Invalid email format",
  url: "Invalid URL format", uuid: "Invalid UUID format", not_empty: "Cannot be empty", date_format: "Invalid date format, expected {format}",
  min_value: "Must be at least {min}", max_value: "Must be at most {max}", range: "Must be between {min} and {max}", enum: "Must be one of: {values}",
};

/** "min 3", "values a, b" */
export function configText(config: Record<string, unknown> | null): string {
  if (!config) return "";
  return Object.entries(config).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(", ") : String(v)}`).join("; ");
}

function defaultMessage(rule: Rule): string {
  const t = DEFAULT_MESSAGES[rule.rule_type] ?? "";
  return t.replace(/\{(\w+)\}/g, (_, k) => {
    const v = rule.config?.[k];
    return Array.isArray(v) ? v.join(", ") : String(v ?? "");
  });
}

function RuleDialog({ pid, collection, field, types, rule, onClose }: { pid: string; collection: string; field: Field; types: RuleType[]; rule: Rule | null; onClose: () => void }) {
  const applicable = types.filter((t) => t.applies_to.includes(field.field_type));
  const [type, setType] = useState(rule?.rule_type ?? applicable[0]?.type ?? "");
  const schema = types.find((t) => t.type === type)?.config_schema ?? {};
  const [config, setConfig] = useState<Record<string, string>>(() => {
    const c: Record<string, string> = {};
    for (const [k, v] of Object.entries(rule?.config ?? {})) c[k] = Array.isArray(v) ? v.join(", ") : String(v);
    return c;
  });
  const [message, setMessage] = useState(rule?.error_message ?? "");
  const [priority, setPriority] = useState(String(rule?.priority ?? 0));
  const s = useSubmit();
  const local: Record<string, string> = {};
  const built: Record<string, unknown> = {};
  for (const [k, kind] of Object.entries(schema)) {
    const raw = (config[k] ?? "").trim();
    if (k === "flags" && type === "custom_regex") {
      if (raw) built.flags = raw;
      continue;
    }
    if (raw === "") continue;
    if (kind === "int") {
      if (!/^-?\d+$/.test(raw)) local[k] = "Enter a whole number";
      else built[k] = Number(raw);
    } else if (kind === "number") {
      if (Number.isNaN(Number(raw))) local[k] = "Enter a number";
      else built[k] = Number(raw);
    } else if (kind === "list") {
      const items = raw.split(",").map((x) => x.trim()).filter(Boolean);
      built[k] = field.field_type === "int" ? items.map(Number) : items;
      if (field.field_type === "int" && items.some((x) => !/^-?\d+$/.test(x))) local[k] = "Integers only for an int field";
    } else {
      if (k === "pattern") {
        try {
          new RegExp(raw);
        } catch {
          local[k] = "This pattern does not compile";
        }
      }
      built[k] = raw;
    }
  }
  const flags = config.flags ?? "";
  return (
    <Dialog title={rule ? `Edit ${rule.rule_type} rule` : `Add rule to ${field.name}`} open onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        if (Object.keys(local).length) return;
        const body = { config: Object.keys(built).length ? built : rule ? {} : null, error_message: message || null, priority: Number(priority) || 0 };
        const out = await s.run(() => rule
          ? api.patch<Rule>(pp(pid, `/validations/rules/${seg(rule.id)}`), body)
          : api.post<Rule>(pp(pid, `/validations/collections/${seg(collection)}/fields/${seg(field.name)}/rules`), { rule_type: type, ...body }));
        if (out) {
          toast(rule ? "Rule saved" : "Rule added");
          await invalidate("rules");
          onClose();
        }
      }}>
        <FormAlert error={s.error} />
        <SelectField label="Rule type" value={type} onChange={(e) => { setType(e.target.value); setConfig({}); }} disabled={!!rule}>
          {(rule ? types.filter((t) => t.type === rule.rule_type) : applicable).map((t) => <option key={t.type} value={t.type}>{t.type}</option>)}
        </SelectField>
        {Object.entries(schema).map(([k, kind]) => k === "flags" && type === "custom_regex" ? (
          <fieldset key={k} className="row"><legend>Flags</legend>
            <Checkbox label="i (ignore case)" checked={flags.includes("i")} onChange={(e) => setConfig({ ...config, flags: e.target.checked ? flags + "i" : flags.replace("i", "") })} />
            <Checkbox label="m (multi-line)" checked={flags.includes("m")} onChange={(e) => setConfig({ ...config, flags: e.target.checked ? flags + "m" : flags.replace("m", "") })} />
          </fieldset>
        ) : (
          <TextField key={k} label={k} value={config[k] ?? ""} onChange={(e) => setConfig({ ...config, [k]: e.target.value })}
            type={kind === "int" || kind === "number" ? "number" : "text"} step={kind === "number" ? "any" : undefined}
            error={local[k] ?? s.fields[k]}
            hint={kind === "list" ? "Comma separated" : k === "pattern" ? "Matching is anchored at the start only; add $ to match the whole value" : k === "format" ? "strftime, e.g. %Y-%m-%d" : undefined} />
        ))}
        <TextField label="Message" value={message} onChange={(e) => setMessage(e.target.value)} hint="Empty: the default message" />
        <TextField label="Priority" type="number" step={1} value={priority} onChange={(e) => setPriority(e.target.value)} hint="Lower runs first" />
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <SubmitButton busy={s.busy}>{rule ? "Save rule" : "Add rule"}</SubmitButton>
        </div>
      </form>
    </Dialog>
  );
}

function TryValue({ pid, collection, field }: { pid: string; collection: string; field: Field }) {
  const [value, setValue] = useState<unknown>(null);
  const [result, setResult] = useState<{ is_valid: boolean; errors: Record<string, string[]> } | null>(null);
  const s = useSubmit();
  return (
    <form className="card" aria-label="Try a value" onSubmit={async (e) => {
      e.preventDefault();
      const r = await s.run(() => api.post<{ is_valid: boolean; errors: Record<string, string[]> }>(pp(pid, `/validations/collections/${seg(collection)}/validate`), { data: { [field.name]: value } }));
      if (r) setResult(r);
    }}>
      <h3>Try a value</h3>
      <FormAlert error={s.error} />
      <TypedInput label="Value to try" type={field.field_type} value={value} onChange={(v) => { setValue(v); setResult(null); }} />
      <div className="row">
        <SubmitButton busy={s.busy} className="">Check</SubmitButton>
        <span role="status">
          {result && (result.is_valid ? <Badge tone="ok">Valid</Badge> : <><Badge tone="danger">Invalid</Badge> {(result.errors[field.name] ?? Object.values(result.errors).flat()).join("; ")}</>)}
        </span>
      </div>
    </form>
  );
}

export default function Validations({ pid }: { pid: string }) {
  const { search } = useLocation();
  const c = search.get("c");
  const f = search.get("f");
  const collections = useCollections(pid);
  const fields = useFields(pid, c);
  const field = fields.data?.find((x) => x.name === f) ?? null;
  const types = useQuery({ queryKey: ["rule-types", pid], queryFn: () => api.get<{ rule_types: RuleType[] }>(pp(pid, "/validations/rule-types")) });
  const rulesPath = c && f ? pp(pid, `/validations/collections/${seg(c)}/fields/${seg(f)}/rules`) : "";
  const rules = useQuery({ queryKey: ["rules", pid, c, f], queryFn: () => api.get<Rule[]>(rulesPath), enabled: !!field });
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const applicable = (types.data?.rule_types ?? []).filter((t) => field && t.applies_to.includes(field.field_type));
  const remove = async (r: Rule) => {
    if (!(await confirm({ title: "Delete rule", message: <>Delete the <strong>{r.rule_type}</strong> rule of {f}?</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/validations/rules/${seg(r.id)}`));
      toast("Rule deleted");
      await invalidate("rules");
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="page">
      <h1>Validations</h1>
      <div className="split3">
        {collections.isPending ? <Skeleton /> : collections.error ? <ErrorState error={collections.error} /> : (
          <CollectionList collections={collections.data} selected={c} onSelect={(n) => setQuery({ c: n, f: null })} />
        )}
        <nav aria-label="Fields">
          {!c ? <p className="muted">Select a collection</p> : fields.isPending ? <Skeleton /> : fields.error ? <ErrorState error={fields.error} notFound="Collection not found" /> : fields.data.length === 0 ? <p className="muted">No fields</p> : (
            <ul className="list">
              {fields.data.map((x) => (
                <li key={x.id}><button type="button" aria-current={x.name === f ? "true" : undefined} onClick={() => setQuery({ f: x.name })}>{x.name} <Badge>{x.field_type}</Badge></button></li>
              ))}
            </ul>
          )}
        </nav>
        <section aria-label="Rules" className="page">
          {!field ? <Empty title="Select a field" /> : (
            <>
              <div className="page-head">
                <h2>Rules of {c}.{field.name}</h2>
                <div className="actions">
                  <button type="button" className="primary" disabled={!applicable.length} onClick={() => setEditing("new")}>Add rule</button>
                </div>
              </div>
              {!applicable.length && types.data && <p className="muted">No rule types apply to {field.field_type} fields.</p>}
              {rules.isPending ? <Skeleton /> : rules.error ? <ErrorState error={rules.error} /> : rules.data.length === 0 ? <Empty title="No rules yet" /> : (
                <Table label={`Rules of ${field.name}`} rows={rules.data} rowKey={(r) => r.id} columns={[
                  { key: "type", label: "Type", render: (r) => <code>{r.rule_type}</code> },
                  { key: "config", label: "Config", render: (r) => configText(r.config) },
                  { key: "msg", label: "Message", render: (r) => r.error_message ?? <span className="muted">{defaultMessage(r)}</span> },
                  { key: "prio", label: "Priority", render: (r) => r.priority },
                  { key: "act", label: <span className="sr">Actions</span>, render: (r) => (
                    <span className="row">
                      <button type="button" onClick={() => setEditing(r)} aria-label={`Edit ${r.rule_type}`}>Edit</button>
                      <button type="button" onClick={() => remove(r)} aria-label={`Delete ${r.rule_type}`}>Delete</button>
                    </span>
                  ) },
                ]} />
              )}
              {field.field_type !== "relation" && <TryValue pid={pid} collection={c!} field={field} />}
            </>
          )}
        </section>
      </div>
      {editing && field && types.data && (
        <RuleDialog pid={pid} collection={c!} field={field} types={types.data.rule_types}
          rule={editing === "new" ? null : editing} onClose={() => setEditing(null)} />
      )}
    </div>
  );
}
