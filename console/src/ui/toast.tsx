// Toasts (spec/console.md §2.4): top right, at most 3; success 4 s, errors 8 s or until closed.

import { useSyncExternalStore } from "react";
import { ApiError } from "../api/client";

interface Toast { id: number; text: string; kind: "ok" | "error" }

let toasts: Toast[] = [];
let next = 1;
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());

function dismiss(id: number) {
  toasts = toasts.filter((t) => t.id !== id);
  emit();
}

/** Shows a toast; errors may be an `ApiError` or any thrown value. */
export function toast(text: string, kind: "ok" | "error" = "ok"): void {
  const t = { id: next++, text, kind };
  toasts = [...toasts, t].slice(-3);
  emit();
  setTimeout(() => dismiss(t.id), kind === "ok" ? 4000 : 8000);
}

/** An error toast for anything thrown. */
export function toastError(e: unknown): void {
  toast(errorText(e), "error");
}

/** The text shown for a thrown value. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function Toaster() {
  const list = useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => toasts,
  );
  return (
    <div className="toasts">
      <div aria-live="polite" className="toast-col">
        {list.filter((t) => t.kind === "ok").map((t) => (
          <div key={t.id} className="toast ok">
            <span>{t.text}</span>
            <button type="button" className="icon" aria-label="Close notification" onClick={() => dismiss(t.id)}>×</button>
          </div>
        ))}
      </div>
      <div className="toast-col">
        {list.filter((t) => t.kind === "error").map((t) => (
          <div key={t.id} className="toast error" role="alert">
            <span>{t.text}</span>
            <button type="button" className="icon" aria-label="Close notification" onClick={() => dismiss(t.id)}>×</button>
          </div>
        ))}
      </div>
    </div>
  );
}
