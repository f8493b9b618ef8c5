// Relations (§3.12): outgoing relations of a collection, incoming ones, and the add dialog.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { useCollections, useRelations } from "../../api/queries";
import { pp, seg, type ReverseRelation } from "../../api/types";
import { Link, setQuery, useLocation } from "../../lib/router";
import { Badge, Empty, ErrorState, Skeleton } from "../../ui/bits";
import { CollectionList } from "../../ui/CollectionList";
import { Table } from "../../ui/Table";
import { AddRelation } from "./AddRelation";
import { Diagram } from "./Diagram";

export default function Relations({ pid }: { pid: string }) {
  const { search } = useLocation();
  const c = search.get("c");
  const collections = useCollections(pid);
  const current = collections.data?.find((x) => x.name === c) ?? null;
  const out = useRelations(pid, current?.id);
  const incoming = useQuery({
    queryKey: ["reverse-relations", pid, current?.id],
    queryFn: () => api.get<ReverseRelation[]>(pp(pid, `/schema/relations/collections/${seg(current!.id)}/reverse-relations`)),
    enabled: !!current,
  });
  const [adding, setAdding] = useState(false);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Relations</h1>
        <Badge tone="warn">on delete is enforced by the server's foreign keys</Badge>
      </div>
      <div className="split">
        {collections.isPending ? <Skeleton /> : collections.error ? <ErrorState error={collections.error} /> : (
          <CollectionList collections={collections.data} selected={c} onSelect={(n) => setQuery({ c: n })} />
        )}
        <section aria-label="Relations of the collection" className="page">
          {!current ? <Empty title="Select a collection" /> : (
            <>
              <div className="page-head">
                <h2>Outgoing from {current.name}</h2>
                <div className="actions"><button type="button" className="primary" onClick={() => setAdding(true)}>Add relation</button></div>
              </div>
              {out.isPending ? <Skeleton /> : out.error ? <ErrorState error={out.error} /> : out.data.length === 0 ? <Empty title="No relations yet" /> : (
                <Table label={`Relations of ${current.name}`} rows={out.data} rowKey={(r) => r.id} columns={[
                  { key: "name", label: "Name", render: (r) => <><code>{r.name}</code> → {r.target_collection_name}</> },
                  { key: "col", label: "Column", render: (r) => <code>{r.sql_column_name}</code> },
                  { key: "del", label: "On delete", render: (r) => r.relation_on_delete },
                  { key: "req", label: "Required", render: (r) => (r.is_required ? "✓" : "") },
                  { key: "df", label: "Display field", render: (r) => r.relation_display_field ?? <span className="muted">—</span> },
                ]} />
              )}
              <p className="muted small">To remove a relation, delete its field in <Link to={`/projects/${pid}/schema-evolution?c=${current.name}`}>Schema evolution</Link>.</p>
              <h2>Incoming</h2>
              {incoming.isPending ? <Skeleton /> : incoming.error ? <ErrorState error={incoming.error} /> : incoming.data.length === 0 ? <Empty title="No collection links here" /> : (
                <ul>{incoming.data.map((r) => <li key={r.id}><code>{r.source_collection_name}.{r.name}</code> ({r.sql_column_name})</li>)}</ul>
              )}
            </>
          )}
        </section>
      </div>
      {collections.data && (
        <details>
          <summary>Schema diagram</summary>
          <Diagram pid={pid} collections={collections.data} />
        </details>
      )}
      {adding && current && <AddRelation pid={pid} source={current} onClose={() => setAdding(false)} />}
    </div>
  );
}
