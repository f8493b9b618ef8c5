// The add-relation dialog (§3.12), also opened from the schema builder's "relation" type.

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { invalidate, useCollections, useFields } from "../../api/queries";
import { pp, seg, type Collection, type RelationField, type RelationOptions } from "../../api/types";
import { Dialog } from "../../ui/Dialog";
import { Checkbox, FormAlert, SelectField, SubmitButton, TextField, reservedNote, slugProblem, titleFromSlug, useSubmit } from "../../ui/form";
import { toast } from "../../ui/toast";

export function AddRelation({ pid, source, onClose }: { pid: string; source: Collection; onClose: () => void }) {
  const collections = useCollections(pid);
  const options = useQuery({ queryKey: ["relation-options", pid], queryFn: () => api.get<RelationOptions>(pp(pid, "/schema/relations/relation-options")) });
  const [name, setName] = useState("");
  const [display, setDisplay] = useState<string | null>(null);
  const [targetId, setTargetId] = useState("");
  const [onDelete, setOnDelete] = useState("RESTRICT");
  const [displayField, setDisplayField] = useState<string | null>(null);
  const [required, setRequired] = useState(false);
  const s = useSubmit();
  const target = collections.data?.find((c) => c.id === targetId);
  const targetFields = useFields(pid, target?.name);
  const defaultDisplay = target?.name === "_users" ? "email" : targetFields.data?.find((f) => f.field_type === "string")?.name ?? "id";
  const df = displayField ?? defaultDisplay;
  const problem = slugProblem(name);
  const others = (collections.data ?? []).filter((c) => c.id !== source.id);
  return (
    <Dialog title={`Add relation to ${source.name}`} open onClose={onClose} dirty={name !== ""}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        if (!name) return s.setFields({ name: "Enter a name" });
        if (!targetId) return s.setFields({ target_collection_id: "Pick a target collection" });
        if (problem) return;
        const out = await s.run(
          () => api.post<RelationField>(pp(pid, `/schema/relations/collections/${seg(source.id)}/relations`), {
            name, display_name: display ?? titleFromSlug(name), target_collection_id: targetId, relation_type: "many_to_one",
            on_delete: onDelete, display_field: df, is_required: required,
          }),
          (err) => (err.status === 409 || /field name/i.test(err.message) ? { fields: { name: err.message } } : null),
        );
        if (out) {
          toast("Relation added");
          await invalidate("fields", "relations", "reverse-relations");
          onClose();
        }
      }}>
        <FormAlert error={s.error} />
        <TextField label="Name" value={name} onChange={(e) => { setName(e.target.value); s.setFields({}); }} autoFocus autoComplete="off" required
          error={s.fields.name ?? problem ?? reservedNote(name) ?? undefined} hint={name ? <>Column: <code>{name}_id</code></> : "The column is <name>_id"} />
        <TextField label="Display name" value={display ?? titleFromSlug(name)} onChange={(e) => setDisplay(e.target.value)} required />
        <SelectField label="Target collection" value={targetId} onChange={(e) => { setTargetId(e.target.value); setDisplayField(null); }} error={s.fields.target_collection_id} required
          hint={`${source.name} itself is not offered: self-references are not supported`}>
          <option value="">Choose…</option>
          {others.map((c) => <option key={c.id} value={c.id}>{c.display_name} ({c.name})</option>)}
        </SelectField>
        <SelectField label="On delete" value={onDelete} onChange={(e) => setOnDelete(e.target.value)}
          hint={options.data?.on_delete_actions.find((o) => o.value === onDelete)?.description}>
          {(options.data?.on_delete_actions ?? [{ value: "RESTRICT", label: "Restrict", description: "" }]).map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
        </SelectField>
        <SelectField label="Display field" value={df} onChange={(e) => setDisplayField(e.target.value)} disabled={!target} hint="Shown as the label of linked records">
          <option value="id">id</option>
          {(targetFields.data ?? []).map((f) => <option key={f.id} value={f.name}>{f.name}</option>)}
        </SelectField>
        <Checkbox label="Required" checked={required} onChange={(e) => setRequired(e.target.checked)} hint={required ? "Required relations can only be added to empty collections" : undefined} />
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <SubmitButton busy={s.busy}>Add relation</SubmitButton>
        </div>
      </form>
    </Dialog>
  );
}
