// Form controls with a label, a hint and errors tied by aria-describedby (§2.7), the form alert,
// and `useSubmit`, which keeps a submit busy and spreads an API error over the inputs (§2.3).

import { useId, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";
import { ApiError } from "../api/client";
import { errorText } from "./toast";

/** Field errors by input name. */
export type FieldErrors = Record<string, string | undefined>;

interface Common { label: ReactNode; error?: string; hint?: ReactNode; required?: boolean }

function Described({ id, error, hint }: { id: string; error?: string; hint?: ReactNode }) {
  return (
    <>
      {hint && <span id={`${id}-hint`} className="hint">{hint}</span>}
      {error && <span id={`${id}-err`} className="field-error">{error}</span>}
    </>
  );
}

function describedBy(id: string, error?: string, hint?: ReactNode) {
  return [hint ? `${id}-hint` : "", error ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
}

export function TextField({ label, error, hint, required, ...rest }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} required={required} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, error, hint)} {...rest} />
      <Described id={id} error={error} hint={hint} />
    </div>
  );
}

export function TextArea({ label, error, hint, required, ...rest }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} required={required} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, error, hint)} {...rest} />
      <Described id={id} error={error} hint={hint} />
    </div>
  );
}

export function SelectField({ label, error, hint, required, children, ...rest }: Common & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} required={required} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, error, hint)} {...rest}>
        {children}
      </select>
      <Described id={id} error={error} hint={hint} />
    </div>
  );
}

export function Checkbox({ label, error, hint, ...rest }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field check">
      <input type="checkbox" id={id} aria-describedby={describedBy(id, error, hint)} {...rest} />
      <label htmlFor={id}>{label}</label>
      <Described id={id} error={error} hint={hint} />
    </div>
  );
}

/** A switch (`role=switch` with `aria-checked`). */
export function Switch({ label, checked, onChange, disabled }: { label: string; checked: boolean; onChange: (v: boolean) => void; disabled?: boolean }) {
  return (
    <button type="button" role="switch" aria-checked={checked} className="switch" disabled={disabled} onClick={() => onChange(!checked)}>
      <span className="knob" aria-hidden="true" />
      <span>{label}</span>
    </button>
  );
}

export function FormAlert({ error }: { error?: string | null }) {
  if (!error) return null;
  return <div className="form-alert" role="alert">{error}</div>;
}

/** What a form makes of one API error. */
export interface ErrorMapping { fields?: FieldErrors; message?: string | null }

function unnamedText(e: ApiError, named: number): string {
  const rest = e.message.split("; ").filter((m) => !Object.keys(e.fields).some((f) => m.startsWith(`${f}: `)));
  return [`Fix ${named} field${named === 1 ? "" : "s"}`, ...rest].join("; ");
}

/** Runs a submit: busy while in flight; an API error becomes a form alert and per-field messages. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<FieldErrors>({});
  /** `map` may name fields or replace the alert text for some answers (e.g. 409 → under email). */
  async function run<T>(fn: () => Promise<T>, map?: (e: ApiError) => ErrorMapping | null): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    setFields({});
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ApiError) {
        const f: FieldErrors = {};
        for (const [k, v] of Object.entries(e.fields)) f[k] = v.join(" ");
        const mapped = map?.(e);
        if (mapped?.fields) Object.assign(f, mapped.fields);
        setFields(f);
        const named = Object.keys(f).length;
        if (mapped && mapped.message !== undefined) setError(mapped.message);
        else if (mapped?.fields) setError(null);
        else setError(named && e.status === 422 ? unnamedText(e, named) : e.message);
      } else setError(errorText(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  const reset = () => {
    setError(null);
    setFields({});
  };
  return { busy, error, fields, run, setFields, setError, reset };
}

export function SubmitButton({ busy, children, className, disabled }: { busy: boolean; children: ReactNode; className?: string; disabled?: boolean }) {
  return (
    <button type="submit" className={className ?? "primary"} disabled={busy || disabled} aria-busy={busy}>
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

// ---------------------------------------------------------------------------------------------
// Slugs (§2.6)

export const RESERVED = new Set(
  "select insert update delete drop create alter table index from where and or not null true false primary foreign key references constraint unique check default on cascade set grant revoke user role schema database public information_schema pg_catalog".split(" "),
);
export const SYSTEM_COLUMNS = ["id", "created_at", "updated_at", "created_by_user_id", "created_by_app_user_id"];

/** Why a slug is refused by its pattern, or null (these block the submit). */
export function slugProblem(s: string): string | null {
  if (!s) return null;
  if (!/^[a-z]/.test(s)) return "Must start with a lower-case letter";
  if (/[^a-z0-9_]/.test(s)) return "Only lower-case letters, digits and _";
  if (s.length > 63) return "At most 63 characters";
  return null;
}

/** A warning for reserved words; the server stays authoritative and says why on submit. */
export function reservedNote(s: string): string | null {
  return RESERVED.has(s) ? `"${s}" is a reserved word; the server will refuse it` : null;
}

/** `blog_posts` → "Blog Posts". */
export function titleFromSlug(s: string): string {
  return s.split("_").filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");
}
