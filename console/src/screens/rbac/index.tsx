// Roles (§3.9): roles with initialize defaults, create, edit and delete (non-system), and the
// assignments tab (user list plus role toggles).

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type Role } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Skeleton } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, FormAlert, SubmitButton, TextField, useSubmit } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";
import { UserList, UserRolesEditor } from "../users";

function snake(s: string): string {
  return s.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 63);
}

function RoleDialog({ pid, role, onClose }: { pid: string; role: Role | null; onClose: () => void }) {
  const [display, setDisplay] = useState(role?.display_name ?? "");
  const [name, setName] = useState<string | null>(role ? role.name : null);
  const [description, setDescription] = useState(role?.description ?? "");
  const [isDefault, setDefault] = useState(role?.is_default ?? false);
  const s = useSubmit();
  const ident = name ?? snake(display);
  return (
    <Dialog title={role ? `Edit role ${role.name}` : "Create role"} open onClose={onClose} dirty={!role && display !== ""}>
      <form noValidate onSubmit={async (e) => {
        e.preventDefault();
        if (!display.trim()) return s.setFields({ display_name: "Enter a display name" });
        if (!role && !ident) return s.setFields({ name: "Enter an identifier" });
        const out = await s.run(() => role
          ? api.patch<Role>(pp(pid, `/rbac/roles/${seg(role.id)}`), { display_name: display.trim(), description: description || null, is_default: isDefault })
          : api.post<Role>(pp(pid, "/rbac/roles"), { name: ident, display_name: display.trim(), description: description || null, is_default: isDefault }),
        (err) => (err.status === 409 ? { fields: { name: err.message } } : null));
        if (out) {
          toast(role ? "Role saved" : "Role created");
          await invalidate("roles");
          onClose();
        }
      }}>
        <FormAlert error={s.error} />
        <TextField label="Display name" value={display} onChange={(e) => setDisplay(e.target.value)} maxLength={127} error={s.fields.display_name} required />
        <TextField label="Identifier" value={ident} onChange={(e) => setName(e.target.value)} maxLength={63} readOnly={!!role} error={s.fields.name}
          hint="Policies match this name exactly, as shown" />
        <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} />
        <Checkbox label="Default role" checked={isDefault} onChange={(e) => setDefault(e.target.checked)} hint="Given to new app users only if the server does so" />
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <SubmitButton busy={s.busy}>{role ? "Save role" : "Create role"}</SubmitButton>
        </div>
      </form>
    </Dialog>
  );
}

function Roles({ pid }: { pid: string }) {
  const roles = useQuery({ queryKey: ["roles", pid], queryFn: () => api.get<Role[]>(pp(pid, "/rbac/roles")) });
  const [editing, setEditing] = useState<Role | "new" | null>(null);
  const [busy, setBusy] = useState(false);
  const initialize = async () => {
    setBusy(true);
    try {
      const r = await api.post<{ roles_created: number }>(pp(pid, "/rbac/initialize"));
      toast(r.roles_created ? `Created ${r.roles_created} roles` : "Default roles already exist");
      await invalidate("roles");
    } catch (e) {
      toastError(e);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (r: Role) => {
    if (!(await confirm({ title: "Delete role", message: <>Delete the role <strong>{r.name}</strong>? Its assignments go too.</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/rbac/roles/${seg(r.id)}`));
      toast("Role deleted");
      await invalidate("roles", "user-roles");
    } catch (e) {
      toastError(e);
    }
  };
  const actions = (
    <div className="row">
      <button type="button" onClick={initialize} disabled={busy} aria-busy={busy}>Initialize defaults</button>
      <button type="button" className="primary" onClick={() => setEditing("new")}>Create role</button>
    </div>
  );
  return (
    <div className="page">
      {roles.isPending ? <Skeleton /> : roles.error ? <ErrorState error={roles.error} retry={() => roles.refetch()} /> : roles.data.length === 0 ? (
        <Empty title="No roles yet">{actions}</Empty>
      ) : (
        <>
          <div className="actions">{actions}</div>
          <Table label="Roles" rows={roles.data} rowKey={(r) => r.id} columns={[
            { key: "display", label: "Display name", render: (r) => r.display_name },
            { key: "name", label: "Identifier", render: (r) => <code>{r.name}</code> },
            { key: "desc", label: "Description", render: (r) => r.description ?? "" },
            { key: "badges", label: "Flags", render: (r) => <>{r.is_system && <Badge>System</Badge>} {r.is_default && <Badge tone="info">Default</Badge>}</> },
            { key: "act", label: <span className="sr">Actions</span>, render: (r) => !r.is_system && (
              <span className="row">
                <button type="button" onClick={() => setEditing(r)} aria-label={`Edit ${r.name}`}>Edit</button>
                <button type="button" onClick={() => remove(r)} aria-label={`Delete ${r.name}`}>Delete</button>
              </span>
            ) },
          ]} />
        </>
      )}
      {editing && <RoleDialog pid={pid} role={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
    </div>
  );
}

function Assignments({ pid }: { pid: string }) {
  const { search } = useLocation();
  const user = search.get("user");
  return (
    <div className="split" style={{ gridTemplateColumns: "minmax(0, 1.4fr) minmax(0, 1fr)" }}>
      <UserList pid={pid} selected={user} onSelect={(id) => setQuery({ user: id })} />
      {user ? <section className="card" aria-label="Roles of the user"><h2>Roles</h2><UserRolesEditor pid={pid} userId={user} /></section> : <Empty title="Select a user" />}
    </div>
  );
}

export default function Rbac({ pid }: { pid: string }) {
  const { search } = useLocation();
  const tab = search.get("tab") === "assignments" ? "assignments" : "roles";
  return (
    <div className="page">
      <h1>Roles</h1>
      <div className="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "roles"} onClick={() => setQuery({ tab: null })}>Roles</button>
        <button type="button" role="tab" aria-selected={tab === "assignments"} onClick={() => setQuery({ tab: "assignments" })}>Assignments</button>
      </div>
      {tab === "roles" ? <Roles pid={pid} /> : <Assignments pid={pid} />}
    </div>
  );
}
