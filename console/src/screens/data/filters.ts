// Filters of the data explorer (§3.6): the operators per column type, and the mapping between
// the URL's `column__op=value` keys and filter rows. Keys are built only from known columns.

export const OPS_ANY = ["eq", "neq", "in", "notin", "isnull", "isnotnull"] as const;
export const OPS_TEXT = ["contains", "ilike", "startswith", "endswith", "like"] as const;
export const OPS_ORDER = ["gt", "gte", "lt", "lte"] as const;
export const ALL_OPS = [...OPS_ANY, ...OPS_TEXT, ...OPS_ORDER];

export const OP_LABELS: Record<string, string> = {
  eq: "equals", neq: "not equal", in: "in list", notin: "not in list", isnull: "is null", isnotnull: "is not null",
  contains: "contains", ilike: "contains, any case", startswith: "starts with", endswith: "ends with", like: "like (% _ pattern)",
  gt: ">", gte: "≥", lt: "<", lte: "≤",
};

/** Operators offered for a column type. */
export function opsFor(type: string): string[] {
  if (type === "bool") return ["eq", "neq", "isnull", "isnotnull"];
  const out: string[] = [...OPS_ANY];
  if (["string", "text", "uuid"].includes(type)) out.push(...OPS_TEXT);
  if (["int", "float", "date", "datetime", "relation", "id", "timestamp"].includes(type)) out.push(...OPS_ORDER);
  return out;
}

/** Operators that take no value (they send `true`). */
export const NO_VALUE = new Set(["isnull", "isnotnull"]);

export interface FilterRow { column: string; op: string; value: string }

/** Query keys that are screen state, not filters. */
export const STATE_KEYS = new Set(["c", "sort", "page", "size", "record", "cols", "q"]);

/** Reads filter rows from the URL, keeping only known columns. */
export function readFilters(search: URLSearchParams, columns: Set<string>): FilterRow[] {
  const out: FilterRow[] = [];
  for (const [k, value] of search.entries()) {
    if (STATE_KEYS.has(k)) continue;
    const i = k.lastIndexOf("__");
    const [column, op] = i > 0 && ALL_OPS.includes(k.slice(i + 2) as never) ? [k.slice(0, i), k.slice(i + 2)] : [k, "eq"];
    if (columns.has(column)) out.push({ column, op, value });
  }
  return out;
}

/** The query key of a filter row: `column` for eq, else `column__op`. */
export function filterKey(f: FilterRow): string {
  return f.op === "eq" ? f.column : `${f.column}__${f.op}`;
}

/** Writes filter rows into a copy of `search` (removing the old filter keys). */
export function writeFilters(search: URLSearchParams, rows: FilterRow[]): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of search.entries()) if (STATE_KEYS.has(k)) out.set(k, v);
  for (const f of rows) out.set(filterKey(f), NO_VALUE.has(f.op) ? "true" : f.value);
  out.delete("page");
  return out;
}

/** The API query of the filters. */
export function filterQuery(rows: FilterRow[]): Record<string, string> {
  const q: Record<string, string> = {};
  for (const f of rows) q[filterKey(f)] = NO_VALUE.has(f.op) ? "true" : f.value;
  return q;
}
