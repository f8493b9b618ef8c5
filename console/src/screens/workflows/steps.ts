// The step editor's pure logic (spec/workflows.md): drafts of the form ↔ the flat step objects of
// the contract, the checks made before sending, and where the server's answers go (a 422 item
// `loc: ["body", "steps", 2, "url"]` goes under step 3's URL input).

import { ApiError } from "../../api/client";
import type { Step } from "../../api/types";

/** The actions the server runs, with the form's names for them. */
export const ACTIONS: [string, string][] = [
  ["http_request", "HTTP request"],
  ["transform", "Transform"],
  ["condition", "Condition"],
  ["delay", "Delay"],
  ["create_record", "Create record"],
  ["update_record", "Update record"],
  ["delete_record", "Delete record"],
  ["send_email", "Send email"],
];

/** The step keys each action's form shows an input for (server key names). */
export const STEP_KEYS: Record<string, string[]> = {
  http_request: ["method", "url", "headers", "body", "timeout_seconds", "retries", "fail_on_status"],
  transform: ["output"],
  condition: ["if", "else"],
  delay: ["seconds"],
  create_record: ["collection", "data"],
  update_record: ["collection", "id", "data"],
  delete_record: ["collection", "id"],
  send_email: ["to", "subject", "body"],
};

/** The longest delay (30 days). */
export const MAX_DELAY = 30 * 86_400;

/** One step as the form holds it (JSON values as text). */
export interface StepDraft {
  action: string;
  name: string;
  method: string;
  url: string;
  headers: string;
  body: string;
  timeout: string;
  retries: string;
  failOnStatus: boolean;
  output: string;
  cond: string;
  otherwise: string;
  seconds: string;
  collection: string;
  id: string;
  data: string;
  to: string;
  subject: string;
  text: string;
}

export const blankStep = (action = "http_request"): StepDraft => ({
  action, name: "", method: "POST", url: "", headers: "", body: "", timeout: "", retries: "", failOnStatus: true,
  output: "", cond: "", otherwise: "stop", seconds: "5", collection: "", id: "", data: "", to: "", subject: "", text: "",
});

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const isTemplate = (s: string) => s.includes("{{") || s.includes("{%");

/** Problems by step key (server key names). */
export type StepErrors = Record<string, string>;

/** A draft → the flat step object of the contract, or the problems found before sending. */
export function buildStep(d: StepDraft): { step: Step | null; errors: StepErrors } {
  const errors: StepErrors = {};
  const step: Step = { action: d.action };
  const name = d.name.trim();
  if (name) {
    if (NAME.test(name)) step.name = name;
    else errors.name = "1–64 letters, digits or _, starting with a letter or _";
  }
  /** A JSON text: undefined when empty and optional; objects only unless `any`. */
  const json = (key: string, text: string, required: boolean, any = false) => {
    if (!text.trim()) {
      if (required) errors[key] = "Required";
      return;
    }
    try {
      const v = JSON.parse(text);
      if (!any && (!v || typeof v !== "object" || Array.isArray(v))) errors[key] = "Must be a JSON object";
      else step[key] = v;
    } catch {
      errors[key] = "Not valid JSON";
    }
  };
  const text = (key: string, value: string) => {
    if (value.trim()) step[key] = value.trim();
    else errors[key] = "Required";
  };
  const whole = (key: string, value: string, min: number, max: number, required: boolean) => {
    if (!value.trim()) {
      if (required) errors[key] = "Required";
      return;
    }
    const n = Number(value);
    if (Number.isInteger(n) && n >= min && n <= max) step[key] = n;
    else errors[key] = `A whole number from ${min} to ${max.toLocaleString("en")}`;
  };
  const recordId = () => {
    const v = d.id.trim();
    if (!v) errors.id = "Required";
    else step.id = /^\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v;
  };
  switch (d.action) {
    case "http_request": {
      step.method = d.method;
      const url = d.url.trim();
      if (!url) errors.url = "Required";
      else if (!isTemplate(url) && !/^https?:\/\/[^\s/]+/i.test(url)) errors.url = "An absolute http:// or https:// URL";
      else step.url = url;
      json("headers", d.headers, false);
      if (step.headers && Object.values(step.headers as object).some((v) => typeof v !== "string")) errors.headers = "Header values must be strings";
      json("body", d.body, false, true);
      whole("timeout_seconds", d.timeout, 1, 60, false);
      whole("retries", d.retries, 0, 10, false);
      if (!d.failOnStatus) step.fail_on_status = false;
      break;
    }
    case "transform":
      json("output", d.output, false);
      if (!step.output) step.output = {};
      break;
    case "condition":
      json("if", d.cond, true);
      step.else = d.otherwise || "stop";
      break;
    case "delay":
      whole("seconds", d.seconds, 0, MAX_DELAY, true);
      break;
    case "create_record":
      text("collection", d.collection);
      json("data", d.data, true);
      break;
    case "update_record":
      text("collection", d.collection);
      recordId();
      json("data", d.data, true);
      break;
    case "delete_record":
      text("collection", d.collection);
      recordId();
      break;
    case "send_email":
      text("to", d.to);
      text("subject", d.subject);
      if (d.text.trim()) step.body = d.text;
      else errors.body = "Required";
      break;
    default:
      errors.action = "Unknown action";
  }
  return { step: Object.keys(errors).length ? null : step, errors };
}

const asText = (v: unknown) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v, null, 2));

/** A stored step → a draft (flat keys win over a nested `config`); null when the form cannot show it. */
export function draftFromStep(raw: unknown): StepDraft | null {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const flat = raw as Record<string, unknown>;
  const nested = flat.config && typeof flat.config === "object" ? (flat.config as Record<string, unknown>) : {};
  const get = (k: string) => (flat[k] !== undefined && flat[k] !== null ? flat[k] : nested[k]);
  const action = get("action") ?? get("type");
  if (typeof action !== "string" || !STEP_KEYS[action]) return null;
  const d = blankStep(action);
  d.name = asText(get("name"));
  switch (action) {
    case "http_request":
      d.method = typeof get("method") === "string" ? String(get("method")).toUpperCase() : "GET";
      d.url = asText(get("url"));
      d.headers = asText(get("headers"));
      d.body = get("body") === undefined ? "" : JSON.stringify(get("body"), null, 2);
      d.timeout = asText(get("timeout_seconds"));
      d.retries = asText(get("retries"));
      d.failOnStatus = get("fail_on_status") !== false;
      break;
    case "transform":
      d.output = get("output") === undefined ? "" : JSON.stringify(get("output"), null, 2);
      break;
    case "condition":
      d.cond = asText(get("if") ?? get("condition"));
      d.otherwise = asText(get("else")) || "stop";
      break;
    case "delay":
      d.seconds = asText(get("seconds"));
      break;
    case "send_email":
      d.to = asText(get("to"));
      d.subject = asText(get("subject"));
      d.text = asText(get("body"));
      break;
    default:
      d.collection = asText(get("collection"));
      d.id = asText(get("id") ?? get("record_id"));
      d.data = get("data") === undefined ? "" : JSON.stringify(get("data"), null, 2);
  }
  return d;
}

/** Where the problems of one answer go. */
export interface Placed {
  /** Under the workflow's own inputs: name, description, trigger_type, collection, cron, condition. */
  top: Record<string, string>;
  /** Under a step's input, keyed `<index>.<key>`; `<index>.` is the step as a whole. */
  steps: Record<string, string>;
  /** For the form alert. */
  rest: string[];
}

const add = (to: Record<string, string>, key: string, msg: string) => {
  to[key] = to[key] ? `${to[key]} ${msg}` : msg;
};

/** "Step 2: …" → "…" (the server counts steps from 0; the form from 1). */
const stripStep = (msg: string) => msg.replace(/^Step \d+: /, "");

/**
 * Spreads an API error over the form: `drafts` are the form's steps, or null in raw JSON mode
 * (where everything goes to the alert, named by its JSON path such as `steps[2].url`).
 */
export function placeErrors(e: ApiError, drafts: StepDraft[] | null, trigger: string): Placed {
  const out: Placed = { top: {}, steps: {}, rest: [] };
  const form = drafts !== null;
  const triggerKeys = trigger === "schedule" ? ["cron"] : trigger.startsWith("record.") ? ["collection", "condition"] : [];
  if (e.status === 422 && e.items.length) {
    for (const item of e.items) {
      const loc = item.loc[0] === "body" ? item.loc.slice(1) : item.loc;
      const [head, second, third] = loc;
      if (head === "steps" && typeof second === "number") {
        const key = third === undefined ? "" : String(third);
        const msg = stripStep(item.msg);
        const draft = drafts?.[second];
        if (form && draft) {
          const shown = key === "name" || key === "action" || (STEP_KEYS[draft.action] ?? []).includes(key);
          if (shown) add(out.steps, `${second}.${key}`, msg);
          else add(out.steps, `${second}.`, key ? `${key}: ${msg}` : msg);
        } else out.rest.push(`steps[${second}]${key ? `.${key}` : ""}: ${msg}`);
      } else if (head === "trigger_config" && second !== undefined) {
        if (form && triggerKeys.includes(String(second))) add(out.top, String(second), item.msg);
        else out.rest.push(`trigger_config.${String(second)}: ${item.msg}`);
      } else if (head === "name" || head === "description" || (form && head === "trigger_type")) {
        add(out.top, String(head), item.msg);
      } else out.rest.push(head === undefined ? item.msg : `${loc.map(String).join(".")}: ${item.msg}`);
    }
    return out;
  }
  const stepCollection = /^Step (\d+): (collection '.*' not found)$/.exec(e.message);
  if (stepCollection) {
    const i = Number(stepCollection[1]);
    if (drafts && drafts[i] && STEP_KEYS[drafts[i].action]?.includes("collection")) add(out.steps, `${i}.collection`, capital(stepCollection[2]));
    else out.rest.push(`steps[${i}]: ${stepCollection[2]}`);
    return out;
  }
  if (form && triggerKeys.includes("collection") && /^Collection '.*' not found$/.test(e.message)) {
    add(out.top, "collection", e.message);
    return out;
  }
  out.rest.push(e.message);
  return out;
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The alert above the form for placed problems: "Fix N fields" and whatever has no input. */
export function alertText(p: Placed): string | null {
  const n = Object.keys(p.top).length + Object.keys(p.steps).length;
  const parts = [n ? `Fix ${n} field${n === 1 ? "" : "s"}` : "", ...p.rest].filter(Boolean);
  return parts.length ? parts.join("; ") : null;
}

/** A duration in ms as short text: "12 ms", "1.5 s", "3 min 4 s", "2 h 5 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m - h * 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The milliseconds between two ISO times, or null. */
export function between(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  const d = new Date(to).getTime() - new Date(from).getTime();
  return Number.isFinite(d) ? d : null;
}
