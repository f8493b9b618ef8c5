// Schema diagram (§4 item 10): collections as boxes, relations as arrows, drawn in SVG.

import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { pp, seg, type Collection, type RelationField } from "../../api/types";
import { Skeleton } from "../../ui/bits";

const W = 170, H = 44, GX = 90, GY = 70, COLS = 4;

export function Diagram({ pid, collections }: { pid: string; collections: Collection[] }) {
  const rels = useQuery({
    queryKey: ["relations", pid, "all", collections.map((c) => c.id).join()],
    queryFn: async () => (await Promise.all(collections.map((c) =>
      api.get<RelationField[]>(pp(pid, `/schema/relations/collections/${seg(c.id)}/relations`)).then((list) => list.map((r) => ({ from: c.id, r })))))).flat(),
  });
  if (rels.isPending) return <Skeleton rows={3} />;
  const pos = new Map(collections.map((c, i) => [c.id, { x: 20 + (i % COLS) * (W + GX), y: 20 + Math.floor(i / COLS) * (H + GY) }]));
  const rows = Math.ceil(collections.length / COLS);
  const width = 20 + Math.min(collections.length, COLS) * (W + GX);
  const height = 20 + rows * (H + GY);
  const edges = rels.data ?? [];
  const summary = edges.map(({ from, r }) => `${collections.find((c) => c.id === from)?.name}.${r.name} → ${r.target_collection_name}`).join("; ");
  return (
    <figure className="card diagram">
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`Schema diagram. ${summary || "No relations."}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor" />
          </marker>
        </defs>
        {edges.map(({ from, r }) => {
          const a = pos.get(from), b = pos.get(r.relation_target_collection_id);
          if (!a || !b) return null;
          const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
          const down = y2 > y1 ? 0 : H;
          const d = `M ${x1} ${y1} C ${x1} ${y1 + 40}, ${x2} ${y2 + down - 40 * (down ? -1 : 1)}, ${x2} ${y2 + down}`;
          return (
            <g key={r.id} className="edge">
              <path d={d} fill="none" stroke="currentColor" strokeWidth="1.5" markerEnd="url(#arrow)" />
              <text x={(x1 + x2) / 2 + 4} y={(y1 + y2 + down) / 2} fontSize="11" fill="currentColor">{r.name}</text>
            </g>
          );
        })}
        {collections.map((c) => {
          const p = pos.get(c.id)!;
          return (
            <g key={c.id}>
              <rect x={p.x} y={p.y} width={W} height={H} rx="8" className="box" />
              <text x={p.x + 10} y={p.y + 19} fontSize="13" fontWeight="600" className="box-text">{c.display_name}</text>
              <text x={p.x + 10} y={p.y + 35} fontSize="11" className="box-sub">{c.name}</text>
            </g>
          );
        })}
      </svg>
      <figcaption className="muted small">{summary || "No relations yet."}</figcaption>
    </figure>
  );
}
