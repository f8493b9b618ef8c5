// The one table (§2.5): sticky header, sortable headers (asc → desc → none, aria-sort, shift-click
// appends), row click opens detail, optional selection, and a pager with page size and "x–y of N".

import type { ReactNode, MouseEvent } from "react";

export interface Column<R> {
  key: string;
  label: ReactNode;
  sortable?: boolean;
  render: (row: R) => ReactNode;
  className?: string;
}

/** Parses `-views,title` into keys with directions. */
export function parseSort(sort: string): { key: string; desc: boolean }[] {
  return sort.split(",").map((s) => s.trim()).filter(Boolean).map((s) => (s.startsWith("-") ? { key: s.slice(1), desc: true } : { key: s, desc: false }));
}

/** The next sort after a header click: asc → desc → none; `append` keeps the other keys. */
export function nextSort(sort: string, key: string, append: boolean): string {
  const keys = parseSort(sort);
  const cur = keys.find((k) => k.key === key);
  const self = !cur ? { key, desc: false } : !cur.desc ? { key, desc: true } : null;
  const fmt = (ks: ({ key: string; desc: boolean } | null)[]) =>
    ks.filter((k): k is { key: string; desc: boolean } => !!k).map((k) => (k.desc ? "-" : "") + k.key).join(",");
  if (!append) return fmt([self]);
  if (!cur) return fmt([...keys, self]);
  return fmt(keys.map((k) => (k.key === key ? self : k)));
}

export interface Paging {
  offset: number;
  limit: number;
  /** Rows on this page. */
  count: number;
  /** Total, when the API gives one. */
  total?: number;
  sizes?: number[];
  onPage: (offset: number) => void;
  onSize?: (limit: number) => void;
}

export function Table<R>({
  label,
  columns,
  rows,
  rowKey,
  sort,
  onSort,
  onRowClick,
  rowLabel,
  selected,
  onSelect,
  paging,
  busy,
  highlight,
}: {
  label: string;
  columns: Column<R>[];
  rows: R[];
  rowKey: (r: R) => string;
  sort?: string;
  onSort?: (sort: string) => void;
  onRowClick?: (r: R) => void;
  rowLabel?: (r: R) => string;
  selected?: Set<string>;
  onSelect?: (keys: Set<string>) => void;
  paging?: Paging;
  busy?: boolean;
  highlight?: string | null;
}) {
  const sorts = parseSort(sort ?? "");
  const allSel = !!selected && rows.length > 0 && rows.every((r) => selected.has(rowKey(r)));
  const header = (c: Column<R>) => {
    const s = sorts.find((k) => k.key === c.key);
    const aria = s ? (s.desc ? "descending" : "ascending") : c.sortable ? "none" : undefined;
    if (!c.sortable || !onSort) return <th key={c.key} scope="col" className={c.className}>{c.label}</th>;
    return (
      <th key={c.key} scope="col" aria-sort={aria} className={c.className}>
        <button
          type="button"
          className="sort"
          onClick={(e: MouseEvent) => onSort(nextSort(sort ?? "", c.key, e.shiftKey))}
        >
          {c.label}
          <span aria-hidden="true" className="sort-mark">{s ? (s.desc ? "▼" : "▲") : ""}</span>
        </button>
      </th>
    );
  };
  return (
    <div className={busy ? "table-wrap busy" : "table-wrap"}>
      {busy && <span className="spinner table-spinner" aria-label="Loading" />}
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`${label}, scrollable`}>
        <table aria-label={label}>
          <thead>
            <tr>
              {onSelect && selected && (
                <th scope="col" className="sel">
                  <input
                    type="checkbox"
                    aria-label="Select all rows on this page"
                    checked={allSel}
                    onChange={() => onSelect(allSel ? new Set() : new Set(rows.map(rowKey)))}
                  />
                </th>
              )}
              {columns.map(header)}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const k = rowKey(r);
              return (
                <tr
                  key={k}
                  className={(onRowClick ? "clickable" : "") + (highlight === k ? " highlight" : "")}
                  onClick={onRowClick ? (e) => {
                    const t = e.target as HTMLElement;
                    if (t.closest("button, a, input, select, label")) return;
                    onRowClick(r);
                  } : undefined}
                >
                  {onSelect && selected && (
                    <td className="sel">
                      <input
                        type="checkbox"
                        aria-label={`Select ${rowLabel ? rowLabel(r) : k}`}
                        checked={selected.has(k)}
                        onChange={() => {
                          const n = new Set(selected);
                          if (n.has(k)) n.delete(k);
                          else n.add(k);
                          onSelect(n);
                        }}
                      />
                    </td>
                  )}
                  {columns.map((c) => <td key={c.key} className={c.className}>{c.render(r)}</td>)}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {paging && <Pager {...paging} />}
    </div>
  );
}

export function Pager({ offset, limit, count, total, sizes, onPage, onSize }: Paging) {
  const from = count ? offset + 1 : 0;
  const to = offset + count;
  const hasNext = total !== undefined ? to < total : count === limit;
  const last = total !== undefined && total > 0 ? Math.floor((total - 1) / limit) * limit : null;
  return (
    <nav className="pager" aria-label="Pagination">
      {onSize && (
        <label>
          Rows per page{" "}
          <select value={limit} onChange={(e) => onSize(Number(e.target.value))}>
            {(sizes ?? [25, 50, 100, 500]).map((s) => <option key={s} value={s}>{s}</option>)}
            {!(sizes ?? [25, 50, 100, 500]).includes(limit) && <option value={limit}>{limit}</option>}
          </select>
        </label>
      )}
      <span className="range" data-testid="page-range">
        {from}–{to}{total !== undefined ? ` of ${total}` : ""}
      </span>
      <button type="button" aria-label="First page" disabled={offset === 0} onClick={() => onPage(0)}>«</button>
      <button type="button" aria-label="Previous page" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - limit))}>‹</button>
      <button type="button" aria-label="Next page" disabled={!hasNext} onClick={() => onPage(offset + limit)}>›</button>
      {total !== undefined && (
        <button type="button" aria-label="Last page" disabled={!hasNext} onClick={() => onPage(last ?? 0)}>»</button>
      )}
    </nav>
  );
}

/** Client-side sort of full arrays ("other lists" of §2.5). */
export function sortRows<R>(rows: R[], sort: string, get: (r: R, key: string) => unknown): R[] {
  const keys = parseSort(sort);
  if (!keys.length) return rows;
  return [...rows].sort((a, b) => {
    for (const k of keys) {
      const x = get(a, k.key);
      const y = get(b, k.key);
      const c = x === y ? 0 : x === null || x === undefined ? -1 : y === null || y === undefined ? 1 : x < y ? -1 : 1;
      if (c) return k.desc ? -c : c;
    }
    return 0;
  });
}
