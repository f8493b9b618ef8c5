// App users (§3.7): server-paged list, search through /data/_users, detail panel with verify,
// disable, revoke sessions, edit, delete (typed) and roles; create user.

import { Fragment, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useFields } from "../../api/queries";
import { pp, seg, type AppUser, type DataRecord, type RecordPage, type Role, type UserRoles } from "../../api/types";
import { Link, setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Id, Skeleton, Time, Value } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SubmitButton, TextField, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function CreateUser({ pid }: { pid: string }) {
  const [open, setOpen] = useState(false);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [verified, setVerified] = useState(false);
  const [disabled, setDisabled] = useState(false);
  const [local, setLocal] = useState<Record<string, string>>({});
  const s = useSubmit();
  return (
    <>
      <button type="button" className="primary" onClick={() => { setEmail(""); setPassword(""); setVerified(false); setDisabled(false); s.reset(); setLocal({}); setOpen(true); }}>Create user</button>
      <Dialog title="Create app user" open={open} onClose={() => setOpen(false)} dirty={email !== ""}>
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          const l: Record<string, string> = {};
          if (!EMAIL.test(email.trim())) l.email = "Enter a valid email address";
          if (password && (password.length < 8 || password.length > 128)) l.password = "8 to 128 characters";
          setLocal(l);
          if (Object.keys(l).length) return;
          const u = await s.run(() => api.post<AppUser>(pp(pid, "/settings/auth/users"), { email: email.trim(), password: password || null, is_email_verified: verified, is_disabled: disabled }),
            (err) => (err.status === 409 ? { fields: { email: err.message } } : null));
          if (u) {
            toast("User created");
            setOpen(false);
            await invalidate("app-users", "data");
            setQuery({ user: u.id });
          }
        }}>
          <FormAlert error={s.error} />
          <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={local.email ?? s.fields.email} required />
          <TextField label="Password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} error={local.password ?? s.fields.password} hint="Optional, 8 to 128 characters; empty = passwordless" autoComplete="new-password" />
          <Checkbox label="Email verified" checked={verified} onChange={(e) => setVerified(e.target.checked)} />
          <Checkbox label="Disabled" checked={disabled} onChange={(e) => setDisabled(e.target.checked)} />
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Create user</SubmitButton>
          </div>
        </form>
      </Dialog>
    </>
  );
}

/** The roles of an app user with assign/remove toggles (shared with the Roles screen). */
export function UserRolesEditor({ pid, userId }: { pid: string; userId: string }) {
  const roles = useQuery({ queryKey: ["roles", pid], queryFn: () => api.get<Role[]>(pp(pid, "/rbac/roles")) });
  const held = useQuery({ queryKey: ["user-roles", pid, userId], queryFn: () => api.get<UserRoles>(pp(pid, `/rbac/users/${seg(userId)}/roles`)) });
  const [busy, setBusy] = useState<string | null>(null);
  if (roles.isPending || held.isPending) return <Skeleton rows={2} />;
  if (roles.error || held.error) return <ErrorState error={roles.error ?? held.error} />;
  if (roles.data.length === 0) return <p className="muted">No roles yet. <Link to={`/projects/${pid}/rbac`}>Create or initialize roles</Link>.</p>;
  const has = new Set(held.data.roles.map((r) => r.id));
  const toggle = async (r: Role) => {
    setBusy(r.id);
    try {
      if (has.has(r.id)) await api.del(pp(pid, `/rbac/users/${seg(userId)}/roles/${seg(r.id)}`));
      else await api.post(pp(pid, `/rbac/users/${seg(userId)}/roles`), { role_ids: [r.id] });
      toast(has.has(r.id) ? `Role ${r.name} removed` : `Role ${r.name} assigned`);
      await invalidate("user-roles");
    } catch (e) {
      toastError(e);
    } finally {
      setBusy(null);
    }
  };
  return (
    <ul className="list" aria-label="Roles">
      {roles.data.map((r) => (
        <li key={r.id} className="row">
          <span>{r.display_name} <code className="muted">{r.name}</code></span>
          {has.has(r.id) ? <Badge tone="ok">assigned</Badge> : null}
          <button type="button" disabled={busy === r.id} onClick={() => toggle(r)} aria-label={`${has.has(r.id) ? "Remove" : "Assign"} ${r.name}`}>
            {has.has(r.id) ? "Remove" : "Assign"}
          </button>
        </li>
      ))}
    </ul>
  );
}

function Detail({ pid, id, onGone }: { pid: string; id: string; onGone: () => void }) {
  const user = useQuery({ queryKey: ["app-users", pid, "one", id], queryFn: () => api.get<AppUser>(pp(pid, `/settings/auth/users/${seg(id)}`)) });
  const record = useQuery({ queryKey: ["data", pid, "_users", "one", id], queryFn: () => api.get<DataRecord>(pp(pid, `/data/_users/${seg(id)}`)), retry: false });
  const fields = useFields(pid, "_users");
  const [editing, setEditing] = useState(false);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const s = useSubmit();
  if (user.isPending) return <Skeleton />;
  if (user.error) return <ErrorState error={user.error} notFound="App user not found" />;
  const u = user.data;
  const patch = async (body: Record<string, unknown>, done: string) => {
    try {
      await api.patch(pp(pid, `/settings/auth/users/${seg(id)}`), body);
      toast(done);
      await invalidate("app-users");
    } catch (e) {
      toastError(e);
    }
  };
  const custom = (fields.data ?? []).filter((f) => !f.is_system);
  return (
    <section className="card page" aria-label="User details">
      <div className="page-head">
        <h2>{u.email}</h2>
        {u.is_email_verified ? <Badge tone="ok">Verified</Badge> : <Badge>Unverified</Badge>}
        {u.is_disabled ? <Badge tone="danger">Disabled</Badge> : <Badge tone="ok">Active</Badge>}
      </div>
      <dl className="grid2 small">
        <dt>id</dt><dd><Id value={u.id} label="user id" /></dd>
        <dt>Created</dt><dd><Time value={u.created_at} /></dd>
        {custom.map((f) => <Fragment key={f.id}><dt>{f.name}</dt><dd><Value v={record.data?.[f.sql_column_name]} /></dd></Fragment>)}
      </dl>
      {custom.length > 0 && <Link to={`/projects/${pid}/data?c=_users&record=${u.id}`}>Open in the data explorer</Link>}
      <div className="row">
        <button type="button" onClick={() => patch({ is_email_verified: !u.is_email_verified }, u.is_email_verified ? "Marked unverified" : "Marked verified")}>
          {u.is_email_verified ? "Mark unverified" : "Mark verified"}
        </button>
        <button type="button" onClick={async () => {
          if (!u.is_disabled && !(await confirm({ title: "Disable user", message: <><strong>{u.email}</strong> cannot log in or refresh while disabled.</>, action: "Disable" }))) return;
          await patch({ is_disabled: !u.is_disabled }, u.is_disabled ? "User enabled" : "User disabled");
        }}>{u.is_disabled ? "Enable" : "Disable"}</button>
        <button type="button" onClick={async () => {
          if (!(await confirm({ title: "Revoke sessions", message: <>Sign <strong>{u.email}</strong> out everywhere?</>, action: "Revoke sessions" }))) return;
          try {
            await api.post(pp(pid, `/settings/auth/users/${seg(id)}/revoke-sessions`));
            toast("Sessions revoked");
          } catch (e) {
            toastError(e);
          }
        }}>Revoke sessions</button>
        <button type="button" onClick={() => { setEmail(u.email); setPassword(""); s.reset(); setEditing(true); }}>Edit</button>
        <button type="button" className="danger" onClick={async () => {
          if (!(await confirm({ title: "Delete user", message: <>Delete <strong>{u.email}</strong> and their sessions? This cannot be undone.</>, action: "Delete user", typed: u.email }))) return;
          try {
            await api.del(pp(pid, `/settings/auth/users/${seg(id)}`));
            toast("User deleted");
            await invalidate("app-users", "data");
            onGone();
          } catch (e) {
            toastError(e);
          }
        }}>Delete</button>
      </div>
      <h3>Roles</h3>
      <UserRolesEditor pid={pid} userId={id} />
      <Dialog title={`Edit ${u.email}`} open={editing} onClose={() => setEditing(false)} dirty={email !== u.email || password !== ""}>
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          if (password && (password.length < 8 || password.length > 128)) return s.setFields({ password: "8 to 128 characters" });
          const body: Record<string, unknown> = {};
          if (email.trim() !== u.email) body.email = email.trim();
          if (password) body.password = password;
          if (!Object.keys(body).length) return setEditing(false);
          const out = await s.run(() => api.patch(pp(pid, `/settings/auth/users/${seg(id)}`), body), (err) => (err.status === 409 ? { fields: { email: err.message } } : null));
          if (out) {
            toast("User saved");
            setEditing(false);
            await invalidate("app-users");
          }
        }}>
          <FormAlert error={s.error} />
          <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={s.fields.email} />
          <TextField label="New password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} error={s.fields.password} hint="Optional, 8 to 128 characters" autoComplete="new-password" />
          <div className="actions">
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
            <SubmitButton busy={s.busy}>Save</SubmitButton>
          </div>
        </form>
      </Dialog>
    </section>
  );
}

/** The user list: paged from the admin API, or searched by email through the data API. */
export function UserList({ pid, selected, onSelect }: { pid: string; selected: string | null; onSelect: (id: string) => void }) {
  const { search } = useLocation();
  const q = search.get("q") ?? "";
  const [text, setText] = useState(q);
  const size = 50;
  const page = Math.max(1, Number(search.get("page")) || 1);
  const list = useQuery({
    queryKey: ["app-users", pid, "list", q, page],
    placeholderData: keepPreviousData,
    queryFn: async (): Promise<AppUser[]> => {
      if (!q) return api.get<AppUser[]>(pp(pid, "/settings/auth/users"), { query: { limit: size, offset: (page - 1) * size } });
      const r = await api.get<RecordPage>(pp(pid, "/data/_users"), { query: { email__ilike: q, limit: 50 } });
      return r.records as unknown as AppUser[];
    },
  });
  return (
    <div className="page">
      <form role="search" className="row" onSubmit={(e) => { e.preventDefault(); setQuery({ q: text, page: null }); }}>
        <TextField label="Search by email" type="search" value={text} onChange={(e) => setText(e.target.value)} data-slash-focus />
        <button type="submit">Search</button>
      </form>
      {list.isPending ? <Skeleton /> : list.error && !list.data ? <ErrorState error={list.error} retry={() => list.refetch()} /> : list.data && list.data.length === 0 ? (
        <Empty title={q ? "No users match" : "No app users yet"} />
      ) : list.data ? (
        <Table label="App users" rows={list.data} rowKey={(u) => u.id} onRowClick={(u) => onSelect(u.id)} highlight={selected} busy={list.isFetching}
          columns={[
            { key: "email", label: "Email", render: (u) => <button type="button" className="link" onClick={() => onSelect(u.id)}>{u.email}</button> },
            { key: "verified", label: "Verified", render: (u) => (u.is_email_verified ? "✓" : "") },
            { key: "status", label: "Status", render: (u) => (u.is_disabled ? <Badge tone="danger">Disabled</Badge> : <Badge tone="ok">Active</Badge>) },
            { key: "created", label: "Created", render: (u) => <Time value={u.created_at} /> },
            { key: "id", label: "id", render: (u) => <code title={u.id}>{u.id.slice(0, 8)}…</code> },
          ]}
          paging={q ? undefined : { offset: (page - 1) * size, limit: size, count: list.data.length, onPage: (o) => setQuery({ page: o / size + 1 }) }}
        />
      ) : null}
    </div>
  );
}

export default function Users({ pid }: { pid: string }) {
  const { search } = useLocation();
  const user = search.get("user");
  return (
    <div className="page">
      <div className="page-head">
        <h1>Users</h1>
        <div className="actions"><CreateUser pid={pid} /></div>
      </div>
      <div className="split" style={{ gridTemplateColumns: "minmax(0, 1.4fr) minmax(0, 1fr)" }}>
        <UserList pid={pid} selected={user} onSelect={(id) => setQuery({ user: id })} />
        {user ? <Detail key={user} pid={pid} id={user} onGone={() => setQuery({ user: null })} /> : <Empty title="Select a user" />}
      </div>
    </div>
  );
}
