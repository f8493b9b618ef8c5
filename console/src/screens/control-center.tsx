// Control center `/` (§3.3): project cards, last used first, API status, create project.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import { invalidate, useProjects } from "../api/queries";
import type { Project } from "../api/types";
import { Link, navigate, setQuery, useLocation } from "../lib/router";
import { orderedProjects } from "../shell/recent";
import { Badge, Empty, ErrorState, Id, Skeleton } from "../ui/bits";
import { FormAlert, SubmitButton, TextField, useSubmit } from "../ui/form";
import { toast } from "../ui/toast";

function CreateProject() {
  const [name, setName] = useState("");
  const [local, setLocal] = useState<string>();
  const s = useSubmit();
  return (
    <form
      className="inline-form"
      onSubmit={async (e) => {
        e.preventDefault();
        const n = name.trim();
        if (!n) return setLocal("Enter a name");
        if (n.length > 100) return setLocal("At most 100 characters");
        setLocal(undefined);
        const p = await s.run(() => api.post<Project>("/api/projects", { name: n }));
        if (p) {
          toast("Project created");
          await invalidate("projects");
          navigate(`/projects/${p.id}`);
        }
      }}
    >
      <FormAlert error={s.error} />
      <TextField label="Project name" value={name} onChange={(e) => setName(e.target.value)} error={local ?? s.fields.name} maxLength={100} required />
      <SubmitButton busy={s.busy}>Create project</SubmitButton>
    </form>
  );
}

export function ControlCenter() {
  const projects = useProjects();
  const { search } = useLocation();
  const health = useQuery({ queryKey: ["health"], queryFn: () => api.get<{ ok: boolean }>("/health"), retry: false });
  const list = orderedProjects(projects.data ?? []);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Projects</h1>
        {health.isPending ? <Badge>Checking API…</Badge> : health.data?.ok ? <Badge tone="ok">API online</Badge> : <Badge tone="danger">API unreachable</Badge>}
      </div>
      {projects.isPending ? (
        <Skeleton />
      ) : projects.error ? (
        <ErrorState error={projects.error} retry={() => projects.refetch()} />
      ) : list.length === 0 ? (
        <Empty title="No projects yet">
          <p>Create your first project to get a database, an auth system and an API.</p>
          <CreateProject />
        </Empty>
      ) : (
        <>
          <ul className="cards" aria-label="Projects">
            {list.map((p) => (
              <li key={p.id} className="card project-card">
                <h2><Link to={`/projects/${p.id}`}>{p.name || "(no name)"}</Link></h2>
                <Id value={p.id} short label={`id of ${p.name}`} />
              </li>
            ))}
          </ul>
          <section className="card" aria-labelledby="new-project">
            <h2 id="new-project">New project</h2>
            {search.get("new") ? <p className="muted">Create a project, then pick it in the switcher.</p> : null}
            <CreateProject />
          </section>
          {search.get("new") && <button type="button" className="link" onClick={() => setQuery({ new: null })}>Hide</button>}
        </>
      )}
    </div>
  );
}
