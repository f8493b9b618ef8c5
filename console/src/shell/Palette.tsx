// Command palette (Ctrl/Cmd+K, §4 item 7): jump to a project, a screen, a collection or a record id.

import { useEffect, useMemo, useState } from "react";
import { useCollections, useProjects } from "../api/queries";
import { navigate } from "../lib/router";
import { Dialog } from "../ui/Dialog";

const SCREEN_NAMES: [string, string][] = [
  ["", "Overview"], ["schema", "Schema"], ["data", "Data explorer"], ["users", "Users"], ["auth", "Authentication"],
  ["rbac", "Roles"], ["policies", "Policies"], ["validations", "Validations"], ["relations", "Relations"],
  ["views", "Views"], ["schema-evolution", "Schema evolution"], ["files", "Files"], ["logs", "Logs"],
  ["webhooks", "Webhooks"], ["workflows", "Workflows"],
];

export function Palette({ pid }: { pid: string | null }) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState("");
  const projects = useProjects();
  const collections = useCollections(pid ?? "");
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setQ("");
        setOpen(true);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const items = useMemo(() => {
    const out: { label: string; to: string }[] = [];
    for (const p of projects.data ?? []) out.push({ label: `Project: ${p.name}`, to: `/projects/${p.id}` });
    if (pid) {
      for (const [s, name] of SCREEN_NAMES) out.push({ label: `Go to ${name}`, to: `/projects/${pid}${s ? "/" + s : ""}` });
      for (const c of pid ? collections.data ?? [] : []) out.push({ label: `Collection: ${c.name}`, to: `/projects/${pid}/data?c=${c.name}` });
    }
    const m = /^(\w+)[/#:](\S+)$/.exec(q.trim());
    if (pid && m) out.unshift({ label: `Open record ${m[2]} of ${m[1]}`, to: `/projects/${pid}/data?c=${m[1]}&record=${encodeURIComponent(m[2])}` });
    const ql = q.toLowerCase();
    return out.filter((i) => i.label.toLowerCase().includes(ql) || (m && i.label.startsWith("Open record"))).slice(0, 12);
  }, [projects.data, collections.data, pid, q]);
  const go = (to: string) => {
    setOpen(false);
    navigate(to);
  };
  return (
    <>
      <button type="button" className="palette-btn" onClick={() => { setQ(""); setOpen(true); }} aria-keyshortcuts="Control+K">
        Jump to… <kbd>Ctrl K</kbd>
      </button>
      <Dialog title="Jump to" open={open} onClose={() => setOpen(false)}>
        <form onSubmit={(e) => { e.preventDefault(); if (items[0]) go(items[0].to); }}>
          <input aria-label="Search projects, screens, collections; or collection/id" value={q} autoFocus onChange={(e) => setQ(e.target.value)} className="wide-input" />
          <ul className="palette-list">
            {items.map((i) => <li key={i.to + i.label}><button type="button" onClick={() => go(i.to)}>{i.label}</button></li>)}
          </ul>
        </form>
      </Dialog>
    </>
  );
}
