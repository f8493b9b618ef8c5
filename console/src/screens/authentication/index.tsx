// Authentication (§3.8): one settings form saved with "Save changes" (changed keys only, guard
// on unsaved changes), and the developer tab built from auth/meta and auth/providers.

import { Fragment, useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, type AuthMeta, type AuthSettings } from "../../api/types";
import { Link, addBlocker, setQuery, useLocation } from "../../lib/router";
import { Badge, Code, ErrorState, Json, Skeleton } from "../../ui/bits";
import { confirm } from "../../ui/Dialog";
import { FormAlert, SubmitButton, Switch, TextField, useSubmit } from "../../ui/form";
import { toast } from "../../ui/toast";

const METHODS: [keyof AuthSettings, string, string | null][] = [
  ["enable_email_password", "Email and password", null],
  ["enable_magic_link", "Magic link", "No email is sent; codes come back in API responses in development."],
  ["enable_otp", "One-time code (OTP)", "No email or SMS is sent; codes come back in API responses in development."],
  ["enable_oauth_google", "Google", "Development stand-in: the callback trusts the caller, the authorize URL has a placeholder client id."],
  ["enable_oauth_github", "GitHub", "Development stand-in: the callback trusts the caller, the authorize URL has a placeholder client id."],
];

function Settings({ pid }: { pid: string }) {
  const settings = useQuery({ queryKey: ["auth-settings", pid], queryFn: () => api.get<AuthSettings>(pp(pid, "/settings/auth")) });
  const [draft, setDraft] = useState<Record<string, unknown>>({});
  const s = useSubmit();
  const base = settings.data;
  const value = <K extends keyof AuthSettings>(k: K): AuthSettings[K] => (k in draft ? draft[k] : base?.[k]) as AuthSettings[K];
  const changed = base ? Object.fromEntries(Object.entries(draft).filter(([k, v]) => String(v) !== String(base[k as keyof AuthSettings]))) : {};
  const dirty = Object.keys(changed).length > 0;
  useEffect(() => {
    if (!dirty) return;
    const stop = addBlocker(() => window.confirm("Leave without saving the authentication settings?"));
    const before = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", before);
    return () => {
      stop();
      window.removeEventListener("beforeunload", before);
    };
  }, [dirty]);
  if (settings.isPending) return <Skeleton rows={6} />;
  if (settings.error) return <ErrorState error={settings.error} retry={() => settings.refetch()} />;
  const set = (k: keyof AuthSettings, v: unknown) => setDraft({ ...draft, [k]: v });
  const toggleMethod = async (k: keyof AuthSettings, on: boolean) => {
    const enabled = METHODS.filter(([m]) => value(m)).length;
    if (!on && enabled === 1 && !(await confirm({ title: "Turn off the last sign-in method", message: "App users will not be able to sign in at all.", action: "Turn off" }))) return;
    set(k, on);
  };
  return (
    <form onSubmit={async (e) => {
      e.preventDefault();
      const body: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(changed)) body[k] = k.endsWith("_minutes") || k.endsWith("_days") ? Number(v) : v;
      const out = await s.run(() => api.put<AuthSettings>(pp(pid, "/settings/auth"), body));
      if (out) {
        toast("Settings saved");
        setDraft({});
        await invalidate("auth-settings");
      }
    }}>
      <FormAlert error={s.error} />
      <section className="card">
        <h2>Sign-in methods</h2>
        {METHODS.map(([k, label, note]) => (
          <div key={k}>
            <Switch label={label} checked={!!value(k)} onChange={(v) => toggleMethod(k, v)} />
            {note && <p className="hint">{note} <Badge tone="warn">stub</Badge></p>}
          </div>
        ))}
      </section>
      <section className="card">
        <h2>Security</h2>
        <Switch label="Allow public signup" checked={!!value("allow_public_signup")} onChange={(v) => set("allow_public_signup", v)} />
        <Switch label="Require email verification" checked={!!value("require_email_verification")} onChange={(v) => set("require_email_verification", v)} />
      </section>
      <section className="card grid2">
        <h2 style={{ gridColumn: "1 / -1" }}>Sessions</h2>
        <TextField label="Access token lifetime (minutes)" type="number" min={1} max={1440} step={1} value={String(value("access_ttl_minutes"))}
          onChange={(e) => set("access_ttl_minutes", e.target.value)} error={s.fields.access_ttl_minutes} hint="1 to 1440" />
        <TextField label="Refresh token lifetime (days)" type="number" min={1} max={365} step={1} value={String(value("refresh_ttl_days"))}
          onChange={(e) => set("refresh_ttl_days", e.target.value)} error={s.fields.refresh_ttl_days} hint="1 to 365" />
        <TextField label="Session mode" value={String(value("session_mode"))} readOnly hint="Tokens travel in headers; cookie mode does nothing yet" />
      </section>
      <div className="actions">
        {dirty && <span className="muted">Unsaved changes</span>}
        <button type="button" disabled={!dirty} onClick={() => setDraft({})}>Discard</button>
        <SubmitButton busy={s.busy} disabled={!dirty}>Save changes</SubmitButton>
      </div>
    </form>
  );
}

function Developer({ pid }: { pid: string }) {
  const meta = useQuery({ queryKey: ["auth-meta", pid], queryFn: () => api.get<AuthMeta>(pp(pid, "/auth/meta")) });
  const providers = useQuery({ queryKey: ["auth-providers", pid], queryFn: () => api.get<Record<string, unknown>>(pp(pid, "/auth/providers")) });
  if (meta.isPending) return <Skeleton rows={6} />;
  if (meta.error) return <ErrorState error={meta.error} retry={() => meta.refetch()} />;
  const m = meta.data;
  return (
    <div className="page">
      <p>{m.auth.type}: <code>{m.auth.header}</code>. {m.auth.note}</p>
      <p className="muted">App users are managed on the <Link to={`/projects/${pid}/users`}>Users</Link> screen.</p>
      <h2>Providers</h2>
      {providers.data ? <Json value={providers.data} label="providers" /> : <Skeleton rows={2} />}
      <h2>Endpoints</h2>
      <table aria-label="Auth endpoints">
        <thead><tr><th scope="col">Name</th><th scope="col">Method</th><th scope="col">URL</th><th scope="col">Auth</th><th scope="col">Body</th></tr></thead>
        <tbody>
          {m.endpoints.map((e) => (
            <tr key={e.name}>
              <th scope="row">{e.name}</th><td>{e.method}</td><td><code>{e.url}</code></td><td>{e.auth_required ? "Bearer" : "none"}</td>
              <td>{e.request_body ? <code>{JSON.stringify(e.request_body)}</code> : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Examples</h2>
      {Object.entries(m.examples.curl ?? {}).map(([k, v]) => <div key={`c-${k}`}><h3>curl: {k}</h3><Code text={v} label={`curl ${k}`} /></div>)}
      {Object.entries(m.examples.fetch ?? {}).map(([k, v]) => <div key={`f-${k}`}><h3>fetch: {k}</h3><Code text={v} label={`fetch ${k}`} /></div>)}
      <h2>Error codes</h2>
      <dl className="grid2">{Object.entries(m.error_codes).map(([k, v]) => <Fragment key={k}><dt><code>{k}</code></dt><dd>{v}</dd></Fragment>)}</dl>
    </div>
  );
}

export default function Authentication({ pid }: { pid: string }) {
  const { search } = useLocation();
  const tab = search.get("tab") === "developer" ? "developer" : "settings";
  return (
    <div className="page">
      <h1>Authentication</h1>
      <div className="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "settings"} onClick={() => setQuery({ tab: null })}>Settings</button>
        <button type="button" role="tab" aria-selected={tab === "developer"} onClick={() => setQuery({ tab: "developer" })}>Developer</button>
      </div>
      {tab === "settings" ? <Settings pid={pid} /> : <Developer pid={pid} />}
    </div>
  );
}
