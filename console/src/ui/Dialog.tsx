// Modal dialogs on the native <dialog> element (focus trapped, Esc closes, focus returns to the
// opener), the confirm dialog (§2.4) and a drawer variant.

import { useEffect, useRef, useState, type ReactNode } from "react";
import { createRoot } from "react-dom/client";

export function Dialog({
  title,
  open,
  onClose,
  children,
  dirty,
  drawer,
  wide,
}: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ReactNode;
  /** Unsaved input: closing asks first. */
  dirty?: boolean;
  drawer?: boolean;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement;
      d.showModal();
      // The first input gets the focus (React's autoFocus runs before the dialog opens).
      const first = d.querySelector<HTMLElement>(".dlg-body input:not([type=hidden]):not([disabled]), .dlg-body select, .dlg-body textarea");
      first?.focus();
    } else if (!open && d.open) {
      d.close();
      if (opener.current instanceof HTMLElement) opener.current.focus();
    }
  }, [open]);
  // A dialog that unmounts while open (conditionally rendered) also gives the focus back.
  useEffect(() => () => {
    const o = opener.current;
    if (o instanceof HTMLElement && o.isConnected && document.activeElement === document.body) o.focus();
  }, []);
  const tryClose = () => {
    if (dirty && !window.confirm("Discard unsaved changes?")) return;
    onClose();
  };
  return (
    <dialog
      ref={ref}
      className={drawer ? "drawer" : wide ? "modal wide" : "modal"}
      aria-labelledby={open ? "dlg-title" : undefined}
      onCancel={(e) => {
        e.preventDefault();
        tryClose();
      }}
    >
      {open && (
        <>
          <header className="dlg-head">
            <h2 id="dlg-title">{title}</h2>
            <button type="button" className="icon" aria-label="Close" onClick={tryClose}>×</button>
          </header>
          <div className="dlg-body">{children}</div>
        </>
      )}
    </dialog>
  );
}

interface ConfirmOpts {
  title: string;
  message: ReactNode;
  action: string;
  /** When set, the user must type this to confirm. */
  typed?: string;
}

function ConfirmBox({ opts, done }: { opts: ConfirmOpts; done: (ok: boolean) => void }) {
  const [text, setText] = useState("");
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  const ok = !opts.typed || text === opts.typed;
  return (
    <Dialog title={opts.title} open onClose={() => done(false)}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (ok) done(true);
        }}
      >
        <div className="confirm-msg">{opts.message}</div>
        {opts.typed && (
          <label className="field">
            <span>
              Type <code>{opts.typed}</code> to confirm
            </span>
            <input value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" />
          </label>
        )}
        <div className="actions">
          <button type="button" ref={cancel} onClick={() => done(false)}>Cancel</button>
          <button type="submit" className="danger" disabled={!ok}>{opts.action}</button>
        </div>
      </form>
    </Dialog>
  );
}

/** Asks for confirmation in a dialog; resolves true when confirmed. */
export function confirm(opts: ConfirmOpts): Promise<boolean> {
  const opener = document.activeElement;
  const host = document.createElement("div");
  document.body.appendChild(host);
  const root = createRoot(host);
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      root.unmount();
      host.remove();
      if (opener instanceof HTMLElement) opener.focus();
      resolve(v);
    };
    root.render(<ConfirmBox opts={opts} done={done} />);
  });
}
