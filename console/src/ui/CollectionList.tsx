// The collection list of the left pane (schema, data, policies, validations, relations,
// evolution): buttons with the display name, the slug and a "system" badge.

import type { Collection } from "../api/types";
import { Badge } from "./bits";

export function CollectionList({ collections, selected, onSelect, label = "Collections" }: {
  collections: Collection[];
  selected: string | null;
  onSelect: (name: string) => void;
  label?: string;
}) {
  return (
    <nav aria-label={label}>
      <ul className="list">
        {collections.map((c) => (
          <li key={c.id}>
            <button type="button" aria-current={c.name === selected ? "true" : undefined} onClick={() => onSelect(c.name)}>
              <span>
                {c.display_name} <code className="muted small">{c.name}</code>
              </span>
              {c.is_system && <Badge>system</Badge>}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
