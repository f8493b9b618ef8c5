// Routes of spec/console.md §1, the login guard (§2.1) and the crash panel (§3.19).

import { Component, lazy, Suspense, useEffect, useSyncExternalStore, type ComponentType, type ReactNode } from "react";
import { getTokens, onTokens } from "./api/client";
import { Link, matchProject, navigate, useLocation } from "./lib/router";
import { Layout } from "./shell/Layout";
import { Skeleton } from "./ui/bits";
import { Login, Register } from "./screens/auth-pages";
import { ControlCenter } from "./screens/control-center";

type Screen = ComponentType<{ pid: string }>;

/** Project screens by path segment; each is its own chunk. */
export const SCREENS: Record<string, { title: string; load: Screen }> = {
  "": { title: "Overview", load: lazy(() => import("./screens/overview")) },
  schema: { title: "Schema", load: lazy(() => import("./screens/schema")) },
  data: { title: "Data explorer", load: lazy(() => import("./screens/data")) },
  users: { title: "Users", load: lazy(() => import("./screens/users")) },
  auth: { title: "Authentication", load: lazy(() => import("./screens/authentication")) },
  rbac: { title: "Roles", load: lazy(() => import("./screens/rbac")) },
  policies: { title: "Policies", load: lazy(() => import("./screens/policies")) },
  validations: { title: "Validations", load: lazy(() => import("./screens/validations")) },
  relations: { title: "Relations", load: lazy(() => import("./screens/relations")) },
  views: { title: "Views", load: lazy(() => import("./screens/views")) },
  "schema-evolution": { title: "Schema evolution", load: lazy(() => import("./screens/schema-evolution")) },
  files: { title: "Files", load: lazy(() => import("./screens/files")) },
  logs: { title: "Logs", load: lazy(() => import("./screens/logs")) },
  webhooks: { title: "Webhooks", load: lazy(() => import("./screens/webhooks")) },
  workflows: { title: "Workflows", load: lazy(() => import("./screens/workflows")) },
};

function useLoggedIn(): boolean {
  return useSyncExternalStore(onTokens, () => getTokens() !== null);
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true, force: true }), [to]);
  return null;
}

export function NotFound() {
  return (
    <main className="center-page">
      <h1>Page not found</h1>
      <p><Link to="/">Go to the control center</Link></p>
    </main>
  );
}

class Crash extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <main className="center-page" role="alert">
        <h1>Something went wrong</h1>
        <p>{this.state.error.message}</p>
        <div className="actions">
          <button type="button" onClick={() => window.location.reload()}>Reload</button>
          <button type="button" onClick={() => { window.location.href = "/console/"; }}>Home</button>
        </div>
      </main>
    );
  }
}

export function App() {
  const { path, href } = useLocation();
  const loggedIn = useLoggedIn();
  if (path === "/login" || path === "/register") {
    if (loggedIn) return <Redirect to="/" />;
    return path === "/login" ? <Login /> : <Register />;
  }
  const project = matchProject(path);
  const known = path === "/" || (project && project.screen in SCREENS);
  if (!known) return <NotFound />;
  if (!loggedIn) return <Redirect to={`/login?redirect=${encodeURIComponent(href)}`} />;
  const screen = project ? SCREENS[project.screen] : null;
  const S = screen?.load;
  return (
    <Crash>
      <Layout pid={project?.pid ?? null} screen={project?.screen ?? null} title={screen?.title ?? null}>
        {project && S ? (
          <Suspense fallback={<Skeleton rows={6} />}>
            <S key={project.pid} pid={project.pid} />
          </Suspense>
        ) : (
          <ControlCenter />
        )}
      </Layout>
    </Crash>
  );
}
