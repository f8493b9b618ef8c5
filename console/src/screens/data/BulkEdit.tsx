// Bulk edit of one field (§4 item 10): the same value for every selected record, one PATCH each
// in order, with progress and a list of failures.

import { useState } from "react";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type Field } from "../../api/types";
import { Dialog } from "../../ui/Dialog";
import { SelectField } from "../../ui/form";
import { toast } from "../../ui/toast";
import { TypedInput } from "./inputs";

export function BulkEdit({ pid, collection, fields, ids, onClose }: { pid: string; collection: string; fields: Field[]; ids: string[]; onClose: () => void }) {
  const editable = fields.filter((f) => !f.is_system && f.field_type !== "relation");
  const [name, setName] = useState(editable[0]?.name ?? "");
  const [value, setValue] = useState<unknown>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const [failures, setFailures] = useState<string[]>([]);
  const field = editable.find((f) => f.name === name);
  const apply = async () => {
    const bad: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      setProgress(`Updating ${i + 1} of ${ids.length}…`);
      try {
        await api.patch(pp(pid, `/data/${seg(collection)}/${seg(ids[i])}`), { [name]: value === "" ? null : value });
      } catch (e) {
        bad.push(`#${ids[i]}: ${(e as Error).message}`);
      }
    }
    setProgress(null);
    setFailures(bad);
    await invalidate("data", "record");
    toast(`${ids.length - bad.length} of ${ids.length} records updated`, bad.length ? "error" : "ok");
    if (!bad.length) onClose();
  };
  return (
    <Dialog title={`Edit ${ids.length} records`} open onClose={onClose}>
      <form onSubmit={(e) => { e.preventDefault(); void apply(); }}>
        <SelectField label="Field" value={name} onChange={(e) => { setName(e.target.value); setValue(null); }}>
          {editable.map((f) => <option key={f.id} value={f.name}>{f.name} ({f.field_type})</option>)}
        </SelectField>
        {field && <TypedInput label="New value for every selected record" type={field.field_type} value={value} onChange={setValue} />}
        {failures.length > 0 && <ul role="alert">{failures.map((f) => <li key={f}>{f}</li>)}</ul>}
        <div className="actions">
          <span role="status">{progress}</span>
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={!field || !!progress}>Apply to {ids.length} records</button>
        </div>
      </form>
    </Dialog>
  );
}
