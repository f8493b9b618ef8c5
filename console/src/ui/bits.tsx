// Small shared pieces: copy buttons, ids, times, JSON blocks, loading, empty and error states.

import { useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { toast } from "./toast";
import { errorText } from "./toast";

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="icon small"
      aria-label={label}
      title={label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        } catch {
          toast("Copy failed: the browser refused clipboard access", "error");
        }
      }}
    >
      {done ? "✓" : "⧉"}
    </button>
  );
}

/** An id in monospace, shortened, with a copy button. */
export function Id({ value, short, label }: { value: string | number; short?: boolean; label?: string }) {
  const s = String(value);
  return (
    <span className="id">
      <code title={s}>{short && s.length > 12 ? s.slice(0, 8) + "…" : s}</code>
      <CopyButton text={s} label={`Copy ${label ?? "id"}`} />
    </span>
  );
}

// One formatter for every time on the page (creating one per call is slow in long tables).
const LOCAL = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A time in local form, the UTC ISO text on hover. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return <span>{value}</span>;
  const iso = d.toISOString();
  return <time dateTime={iso} title={iso}>{LOCAL.format(d)}</time>;
}

export function Json({ value, label }: { value: unknown; label?: string }) {
  let text: string;
  if (typeof value === "string") {
    try {
      text = JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      text = value;
    }
  } else text = JSON.stringify(value, null, 2);
  return <pre className="json" aria-label={label} tabIndex={0}>{text}</pre>;
}

export function Code({ text, label }: { text: string; label: string }) {
  return (
    <div className="code">
      <pre aria-label={label} tabIndex={0}>{text}</pre>
      <CopyButton text={text} label={`Copy ${label}`} />
    </div>
  );
}

export function Skeleton({ rows = 3 }: { rows?: number }) {
  return (
    <div className="skeleton" role="status" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => <div key={i} className="sk-line" />)}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}

/** An error state with Retry, or an in-page not-found for a 404. */
export function ErrorState({ error, retry, notFound }: { error: unknown; retry?: () => void; notFound?: string }) {
  if (error instanceof ApiError && error.status === 404 && notFound) return <Empty title={notFound} />;
  return (
    <div className="error-state" role="alert">
      <p>{errorText(error)}</p>
      {retry && <button type="button" onClick={retry}>Retry</button>}
    </div>
  );
}

export function Badge({ children, tone }: { children: ReactNode; tone?: "ok" | "warn" | "danger" | "info" }) {
  return <span className={`badge ${tone ?? ""}`}>{children}</span>;
}

/** A cell value: null muted, booleans as icons, everything else as text. */
export function Value({ v }: { v: unknown }) {
  if (v === null || v === undefined) return <span className="muted">null</span>;
  if (typeof v === "boolean") return <span aria-label={v ? "true" : "false"}>{v ? "✓" : "✗"}</span>;
  if (typeof v === "object") return <code>{JSON.stringify(v)}</code>;
  return <>{String(v)}</>;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1048576).toFixed(2)} MB`;
}
