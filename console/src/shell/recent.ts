// The last used projects, most recent first, kept in localStorage (§2.2, §3.3).

import type { Project } from "../api/types";

const KEY = "backendify.recentProjects";

function recent(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  } catch {
    return [];
  }
}

/** Puts a project first in the recent list. */
export function rememberProject(pid: string): void {
  localStorage.setItem(KEY, JSON.stringify([pid, ...recent().filter((p) => p !== pid)].slice(0, 20)));
}

/** Projects with the recently used ones first, the rest in API order. */
export function orderedProjects(list: Project[]): Project[] {
  const r = recent();
  const rank = (p: Project) => {
    const i = r.indexOf(p.id);
    return i < 0 ? r.length + list.indexOf(p) : i;
  };
  return [...list].sort((a, b) => rank(a) - rank(b));
}
