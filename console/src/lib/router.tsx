// A small history router for the console's base path, with screen state kept in the query string
// (spec/console.md §1): reload and shared links restore it.

import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

export const BASE = "/console";

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());
if (typeof window !== "undefined") window.addEventListener("popstate", notify);

/** Guards that may stop a navigation (unsaved forms). */
const blockers = new Set<() => boolean>();
export function addBlocker(b: () => boolean): () => void {
  blockers.add(b);
  return () => blockers.delete(b);
}
function allowed(): boolean {
  for (const b of blockers) if (!b()) return false;
  return true;
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}
const snapshot = () => window.location.pathname + window.location.search;

/** The path inside the console (`/projects/x/data`) and its query. */
export function useLocation(): { path: string; search: URLSearchParams; href: string } {
  const href = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(href, window.location.origin);
  let path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : url.pathname;
  if (!path.startsWith("/")) path = "/" + path;
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return { path, search: url.searchParams, href: path + url.search };
}

/** Goes to a console path (`/projects/x?c=y`). */
export function navigate(to: string, opts: { replace?: boolean; force?: boolean } = {}): void {
  if (!opts.force && !allowed()) return;
  const url = BASE + (to.startsWith("/") ? to : "/" + to);
  if (url === snapshot()) return;
  if (opts.replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  notify();
}

/** Changes some query keys of the current page; empty values remove a key. */
export function setQuery(changes: Record<string, string | number | null | undefined>, replace = false): void {
  const url = new URL(window.location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") url.searchParams.delete(k);
    else url.searchParams.set(k, String(v));
  }
  const path = url.pathname.slice(BASE.length) || "/";
  navigate(path + url.search, { replace });
}

/** Replaces the whole query string of the current page. */
export function replaceQuery(params: URLSearchParams, replace = false): void {
  const path = window.location.pathname.slice(BASE.length) || "/";
  const s = params.toString();
  navigate(path + (s ? "?" + s : ""), { replace });
}

/** A link to a console path; plain clicks navigate without reloading. */
export function Link({ to, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a {...rest} href={BASE + to} onClick={onClick} />;
}

/** Matches `/projects/:pid/rest` and gives the pid and the rest. */
export function matchProject(path: string): { pid: string; screen: string } | null {
  const m = /^\/projects\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  return m ? { pid: decodeURIComponent(m[1]), screen: m[2] ?? "" } : null;
}
