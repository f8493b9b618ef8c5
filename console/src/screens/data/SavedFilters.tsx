// Saved filters per collection (§4 item 9): named filter-and-sort sets kept in localStorage, on
// top of the shareable URL.

import { useState } from "react";
import { replaceQuery } from "../../lib/router";
import { STATE_KEYS } from "./filters";

interface Saved { name: string; query: string }

const key = (pid: string, c: string) => `backendify.savedFilters.${pid}.${c}`;

function load(pid: string, c: string): Saved[] {
  try {
    const v = JSON.parse(localStorage.getItem(key(pid, c)) ?? "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/** The filter and sort keys of the current URL, as a query string. */
function currentQuery(search: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const [k, v] of search.entries()) if (!STATE_KEYS.has(k) || k === "sort") out.append(k, v);
  return out.toString();
}

export function SavedFilters({ pid, collection, search }: { pid: string; collection: string; search: URLSearchParams }) {
  const [list, setList] = useState<Saved[]>(() => load(pid, collection));
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState("");
  const store = (l: Saved[]) => {
    setList(l);
    localStorage.setItem(key(pid, collection), JSON.stringify(l));
  };
  const query = currentQuery(search);
  const apply = (q: string) => {
    const next = new URLSearchParams(q);
    next.set("c", collection);
    replaceQuery(next);
  };
  return (
    <div className="row" role="group" aria-label="Saved filters">
      {list.length > 0 && (
        <label className="field">
          <span>Apply a saved filter</span>
          <select value="" onChange={(e) => e.target.value && apply(e.target.value)}>
            <option value="">Apply…</option>
            {list.map((s) => <option key={s.name} value={s.query}>{s.name}</option>)}
          </select>
        </label>
      )}
      {naming ? (
        <form className="row" onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return;
          store([...list.filter((s) => s.name !== name.trim()), { name: name.trim(), query }]);
          setNaming(false);
          setName("");
        }}>
          <label className="field"><span>Name of this filter</span><input value={name} onChange={(e) => setName(e.target.value)} autoFocus /></label>
          <button type="submit">Save</button>
          <button type="button" onClick={() => setNaming(false)}>Cancel</button>
        </form>
      ) : (
        <button type="button" disabled={!query} onClick={() => setNaming(true)}>Save filter</button>
      )}
      {list.length > 0 && (
        <label className="field">
          <span>Forget a saved filter</span>
          <select value="" onChange={(e) => e.target.value && store(list.filter((s) => s.name !== e.target.value))}>
            <option value="">Choose…</option>
            {list.map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
          </select>
        </label>
      )}
    </div>
  );
}
