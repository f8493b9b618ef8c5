// The frame of every logged-in page (§2.2): top bar with breadcrumb and account menu, and for
// project pages the sidebar with the project switcher and the grouped, collapsible navigation.

import { useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError, logout } from "../api/client";
import { queryClient, useMe, useProject, useProjects } from "../api/queries";
import { Link, navigate } from "../lib/router";
import { ErrorState, Skeleton } from "../ui/bits";
import { rememberProject, orderedProjects } from "./recent";
import { Palette } from "./Palette";

const GROUPS: { name: string; items: [string, string, string][] }[] = [
  { name: "Build", items: [["", "Overview", "◎"], ["schema", "Schema", "▦"], ["relations", "Relations", "⇄"], ["validations", "Validations", "✓"], ["schema-evolution", "Schema evolution", "↻"], ["views", "Views", "◫"]] },
  { name: "Data", items: [["data", "Data explorer", "☰"], ["files", "Files", "▤"]] },
  { name: "Access", items: [["users", "Users", "☺"], ["auth", "Authentication", "◈"], ["rbac", "Roles", "♛"], ["policies", "Policies", "⚖"]] },
  { name: "Integrations", items: [["webhooks", "Webhooks", "⚡"], ["workflows", "Workflows", "⚙"]] },
  { name: "Observe", items: [["logs", "Logs", "≣"]] },
];

type Theme = "system" | "light" | "dark";
function applyTheme(t: Theme) {
  const dark = t === "dark" || (t === "system" && window.matchMedia?.("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

function AccountMenu() {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("backendify.theme") as Theme) || "system");
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem("backendify.theme", theme);
  }, [theme]);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent | KeyboardEvent) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !ref.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);
  return (
    <div className="menu-wrap" ref={ref}>
      <button type="button" aria-haspopup="true" aria-expanded={open} onClick={() => setOpen(!open)} className="account">
        {me.data?.email ?? "Account"}
      </button>
      {open && (
        <div className="menu" role="group" aria-label="Account">
          <p className="muted small">Signed in as {me.data?.email}</p>
          <label className="field">
            <span>Theme</span>
            <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
              <option value="system">System</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <button
            type="button"
            onClick={async () => {
              await logout();
              queryClient.clear();
              navigate("/login", { force: true });
            }}
          >
            Log out
          </button>
        </div>
      )}
    </div>
  );
}

function Switcher({ pid, screen }: { pid: string; screen: string }) {
  const projects = useProjects();
  const current = useProject(pid);
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState("");
  const list = orderedProjects(projects.data ?? []).filter((p) => p.name.toLowerCase().includes(q.toLowerCase()));
  return (
    <div className="switcher">
      <button type="button" aria-expanded={open} aria-label={`Switch project (current: ${current.data?.name ?? pid})`} onClick={() => {
        if (!open) void projects.refetch();
        setOpen(!open);
      }} className="switcher-btn">
        <span className="switcher-name">{current.data?.name ?? "…"}</span> <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <div className="switcher-pop">
          <input aria-label="Filter projects" placeholder="Filter projects" value={q} onChange={(e) => setQ(e.target.value)} autoFocus
            onKeyDown={(e) => e.key === "Escape" && setOpen(false)} />
          <ul>
            {list.map((p) => (
              <li key={p.id}>
                <button type="button" aria-current={p.id === pid ? "true" : undefined} onClick={() => {
                  setOpen(false);
                  navigate(`/projects/${p.id}${screen ? "/" + screen : ""}`);
                }}>{p.name || <em>(no name)</em>}</button>
              </li>
            ))}
            <li><button type="button" onClick={() => { setOpen(false); navigate("/?new=1"); }}>New project…</button></li>
          </ul>
        </div>
      )}
    </div>
  );
}

export function Layout({ pid, screen, title, children }: { pid: string | null; screen: string | null; title: string | null; children: ReactNode }) {
  const project = useProject(pid ?? "");
  const [collapsed, setCollapsed] = useState(() => localStorage.getItem("backendify.sidebar") === "collapsed");
  const [offOpen, setOffOpen] = useState(false);
  useEffect(() => {
    if (pid && project.data) rememberProject(pid);
  }, [pid, project.data]);
  useEffect(() => setOffOpen(false), [pid, screen]);
  useEffect(() => {
    // "/" focuses the screen's search or filter (§2.7).
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key !== "/" || e.ctrlKey || e.metaKey || t.closest("input, textarea, select, [contenteditable]")) return;
      const target = document.querySelector<HTMLElement>("[data-slash-focus]");
      if (target) {
        e.preventDefault();
        target.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const notMember = pid && project.error instanceof ApiError && project.error.status === 404;
  return (
    <div className={`app ${collapsed ? "collapsed" : ""} ${offOpen ? "off-open" : ""}`}>
      <a href="#main" className="skip">Skip to content</a>
      <header className="topbar">
        {pid && (
          <button type="button" className="icon nav-toggle" aria-label="Open navigation" aria-expanded={offOpen} onClick={() => setOffOpen(!offOpen)}>☰</button>
        )}
        <Link to="/" className="logo">Backendify</Link>
        <nav aria-label="Breadcrumb" className="crumbs">
          <ol>
            <li><Link to="/">Projects</Link></li>
            {pid && <li><Link to={`/projects/${pid}`}>{project.data?.name ?? "…"}</Link></li>}
            {pid && title && <li aria-current="page">{title}</li>}
          </ol>
        </nav>
        <span className="spacer" />
        <Palette pid={pid} />
        <AccountMenu />
      </header>
      {pid && screen !== null && (
        <aside className="sidebar" aria-label="Project navigation">
          <Switcher pid={pid} screen={screen} />
          <nav>
            {GROUPS.map((g) => (
              <div key={g.name} className="nav-group">
                <h2 className="nav-title">{g.name}</h2>
                <ul>
                  {g.items.map(([seg, label, icon]) => (
                    <li key={seg}>
                      <Link to={`/projects/${pid}${seg ? "/" + seg : ""}`} aria-current={seg === screen ? "page" : undefined} title={label}>
                        <span className="nav-icon" aria-hidden="true">{icon}</span>
                        <span className="nav-label">{label}</span>
                      </Link>
                    </li>
                  ))}
                </ul>
              </div>
            ))}
          </nav>
          <button type="button" className="collapse" aria-label={collapsed ? "Expand sidebar" : "Collapse sidebar"} onClick={() => {
            localStorage.setItem("backendify.sidebar", collapsed ? "open" : "collapsed");
            setCollapsed(!collapsed);
          }}>{collapsed ? "»" : "«"}</button>
        </aside>
      )}
      <main id="main" className="main" tabIndex={-1}>
        {notMember ? (
          <div className="empty">
            <p className="empty-title">Project not found or you are not a member</p>
            <Link to="/">Back to projects</Link>
          </div>
        ) : pid && project.isPending ? (
          <Skeleton rows={5} />
        ) : pid && project.error ? (
          <ErrorState error={project.error} retry={() => project.refetch()} />
        ) : (
          children
        )}
      </main>
    </div>
  );
}
