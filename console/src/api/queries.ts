// Shared queries (TanStack Query): keys and fetchers used by more than one screen.

import { QueryClient, useQuery } from "@tanstack/react-query";
import { ApiError, api } from "./client";
import { pp, seg, type Collection, type Field, type Project, type RelationField, type UserOut } from "./types";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // GETs retry once, except for answers a retry cannot change.
      retry: (n, e) => n < 1 && !(e instanceof ApiError && e.status >= 400 && e.status < 500),
      staleTime: 10_000,
      refetchOnWindowFocus: false,
    },
    mutations: { retry: false },
  },
});

export const useMe = () => useQuery({ queryKey: ["me"], queryFn: () => api.get<UserOut>("/api/me") });

export const useProjects = () => useQuery({ queryKey: ["projects"], queryFn: () => api.get<Project[]>("/api/projects") });

export const useProject = (pid: string) =>
  useQuery({ queryKey: ["project", pid], queryFn: () => api.get<Project>(pp(pid)), enabled: !!pid });

export const useCollections = (pid: string) =>
  useQuery({ queryKey: ["collections", pid], queryFn: () => api.get<Collection[]>(pp(pid, "/schema/collections")), enabled: !!pid });

export const useFields = (pid: string, c: string | null | undefined) =>
  useQuery({
    queryKey: ["fields", pid, c],
    queryFn: () => api.get<Field[]>(pp(pid, `/schema/collections/${seg(c!)}/fields`)),
    enabled: !!c,
  });

export const useRelations = (pid: string, cid: string | null | undefined) =>
  useQuery({
    queryKey: ["relations", pid, cid],
    queryFn: () => api.get<RelationField[]>(pp(pid, `/schema/relations/collections/${seg(cid!)}/relations`)),
    enabled: !!cid,
  });

/** Refetches every query of a project whose key starts with one of `prefixes`. */
export function invalidate(...prefixes: string[]): Promise<void> {
  return queryClient.invalidateQueries({ predicate: (q) => prefixes.includes(String(q.queryKey[0])) });
}
