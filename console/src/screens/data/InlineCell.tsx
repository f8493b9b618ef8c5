// Inline cell editing (§4 item 1), on when the explorer's "Edit cells" mode is: a cell is a
// button; it opens a typed input; Enter saves the one key with PATCH, Esc cancels.

import { useState } from "react";
import { api } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type Field } from "../../api/types";
import { Value } from "../../ui/bits";
import { toastError, toast } from "../../ui/toast";
import { convert } from "./ImportDialog";
import { typeProblem } from "./RecordDrawer";

export function InlineCell({ pid, collection, id, field, value }: { pid: string; collection: string; id: string; field: Field; value: unknown }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  if (!editing) {
    return (
      <button type="button" className="cell-edit" aria-label={`Edit ${field.name} of record ${id}`}
        onClick={() => { setText(value === null || value === undefined ? "" : String(value)); setProblem(null); setEditing(true); }}>
        <Value v={value} />
      </button>
    );
  }
  const save = async () => {
    const v = text === "" ? null : field.field_type === "string" || field.field_type === "text" ? text : convert(field.field_type, text);
    const p = typeProblem(field.field_type, v);
    if (p) return setProblem(`${field.name} ${p}`);
    setBusy(true);
    try {
      await api.patch(pp(pid, `/data/${seg(collection)}/${seg(id)}`), { [field.name]: v });
      toast("Record saved");
      setEditing(false);
      await invalidate("data", "record");
    } catch (e) {
      toastError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="row">
      <input aria-label={`New ${field.name} of record ${id}`} value={text} autoFocus disabled={busy} aria-invalid={problem ? true : undefined}
        title={problem ?? undefined}
        type={field.field_type === "int" || field.field_type === "float" ? "number" : field.field_type === "date" ? "date" : "text"}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") { e.preventDefault(); void save(); }
          if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); setEditing(false); }
        }} />
      {problem && <span className="field-error" role="alert">{problem}</span>}
    </span>
  );
}
