// Types of the REST contract (spec/*.md), as the console reads them.

export interface UserOut { id: string; email: string }
export interface Project { id: string; name: string }

export interface ApiKey { id: string; name: string; prefix: string; revoked: boolean; created_at: string }
export interface ApiKeyCreated { id: string; name: string; prefix: string; api_key: string }

export interface Collection {
  id: string; name: string; display_name: string; sql_table_name: string;
  is_active: boolean; is_system: boolean; created_at: string; updated_at: string;
}

export type FieldType = "string" | "int" | "float" | "bool" | "date" | "datetime" | "uuid" | "relation" | "text";

export interface Field {
  id: string; name: string; display_name: string; field_type: FieldType; sql_column_name: string;
  is_required: boolean; is_unique: boolean; is_indexed: boolean; default_value: string | null;
  is_system: boolean; is_hidden: boolean; relation_target_collection_id: string | null;
  relation_type: string | null; relation_on_delete: string | null; created_at: string; updated_at: string;
}

export interface RelationField {
  id: string; name: string; display_name: string; field_type: "relation"; sql_column_name: string;
  is_required: boolean; relation_target_collection_id: string; relation_type: string;
  relation_on_delete: string; relation_display_field: string | null; target_collection_name: string;
  created_at: string; updated_at: string;
}

export interface ReverseRelation {
  id: string; name: string; display_name: string; source_collection_id: string;
  source_collection_name: string; relation_type: string; sql_column_name: string;
}

export interface RelationOptions {
  relation_types: { value: string; label: string; description: string }[];
  on_delete_actions: { value: string; label: string; description: string }[];
}

export type DataRecord = Record<string, unknown> & { id: number | string };
export interface RecordPage { records: DataRecord[]; total: number; limit: number; offset: number }

export interface AppUser { id: string; email: string; is_email_verified: boolean; is_disabled: boolean; created_at: string }

export interface AuthSettings {
  enable_email_password: boolean; enable_magic_link: boolean; enable_otp: boolean;
  enable_oauth_google: boolean; enable_oauth_github: boolean; access_ttl_minutes: number;
  refresh_ttl_days: number; session_mode: string; allow_public_signup: boolean;
  require_email_verification: boolean;
}

export interface AuthMetaEndpoint {
  name: string; method: string; url: string; description: string; auth_required: boolean; request_body?: unknown;
}
export interface AuthMeta {
  project_id: string; project_name: string; providers: Record<string, boolean>;
  settings: Record<string, unknown>; auth: Record<string, string>; endpoints: AuthMetaEndpoint[];
  examples: { curl: Record<string, string>; fetch: Record<string, string> };
  error_codes: Record<string, string>;
}

export interface Role {
  id: string; project_id: string; name: string; display_name: string; description: string | null;
  is_default: boolean; is_system: boolean; created_at: string; updated_at: string;
}
export interface UserRoles { app_user_id: string; roles: Role[] }

export type PolicyAction = "create" | "read" | "update" | "delete" | "list";
export interface Policy {
  id: string; collection_id: string; name: string; action: PolicyAction; effect: "allow" | "deny";
  condition_json: string | null; is_active: boolean; priority: number; allowed_principals: string | null;
  require_email_verified: boolean; allowed_roles: string | null; created_at: string; updated_at: string;
}

export interface RuleType { type: string; applies_to: string[]; config_schema: Record<string, string> }
export interface Rule {
  id: string; field_id: string; rule_type: string; config: Record<string, unknown> | null;
  error_message: string | null; priority: number; is_active: boolean; created_at: string; updated_at: string;
}

export interface FilterDef { field: string; operator: string; value: unknown; is_param: boolean; param_name: string | null }
export interface SortDef {
  field: string; desc: boolean; is_param: boolean; param_name: string | null;
  desc_is_param: boolean; desc_param_name: string | null;
}
export interface ParamSpec { type: string; required?: boolean; description?: string; example?: unknown }
export interface View {
  id: string; name: string; display_name: string; description: string | null; base_collection_id: string;
  projection: string[] | null; filters: FilterDef[] | null; sorts: SortDef[] | null; joins: unknown[] | null;
  params_schema: Record<string, ParamSpec> | null; default_limit: number; max_limit: number;
  version: number; is_active: boolean; created_at: string; updated_at: string;
}
export interface ViewVersion {
  id: string; view_id: string; version: number; projection: string[] | null; filters: FilterDef[] | null;
  sorts: SortDef[] | null; joins: unknown[] | null; params_schema: Record<string, ParamSpec> | null;
  created_at: string; created_by_user_id: string | null;
}
export interface ViewResult {
  data: Record<string, unknown>[]; total: number; limit: number; offset: number; view_name: string; view_version: number;
}
export interface ViewMeta {
  view_name: string; endpoint: { url: string; method: string; auth: string[] };
  request: { body: Record<string, unknown> };
  response: { fields: { name: string; type: string; display_name: string }[] };
  examples: { curl: string; fetch: string };
}
export interface Operator { value: string; label: string; types: string[] }

export interface PreviewOut { operation: string; collection: string; steps: string[]; warnings: string[] }
export interface Aliases {
  collection_aliases: { old_name: string; collection_id: string; expires_at: string }[];
  field_aliases: { old_name: string; field_id: string; collection_id: string; expires_at: string }[];
}
export interface SafeConversion { from: string; to: string; description: string }

export interface FileOut {
  id: string; filename: string; original_filename: string; content_type: string; size_bytes: number;
  bucket: string | null; is_public: boolean; created_at: string; download_url?: string;
}
export interface FileStats { file_count: number; total_bytes: number; total_mb: number }

export interface AuditEvent {
  id: string; project_id: string; collection_id: string | null; record_id: string | null; action: string;
  actor_user_id: string | null; actor_api_key_id: string | null; actor_app_user_id: string | null;
  old_data_json: string | null; new_data_json: string | null; ip_address: string | null;
  user_agent: string | null; created_at: string;
}
export interface AuditPage { events: AuditEvent[]; total: number; limit: number; offset: number }
export interface SchemaOp {
  id: string; project_id: string; collection_id: string | null; op_type: string; payload_json: string;
  status: string; error: string | null; actor_user_id: string | null; created_at: string;
}

export interface Webhook {
  id: string; project_id: string; name: string; url: string; events: string[]; is_active: boolean;
  created_at: string; updated_at: string; secret?: string;
}
export interface Delivery {
  id: string; event_type: string; status: string; attempts: number; response_status: number | null;
  error: string | null; created_at: string; delivered_at: string | null;
}

export type Step = Record<string, unknown> & { action: string };
export interface Workflow {
  id: string; project_id: string; name: string; description: string | null; trigger_type: string;
  trigger_config: Record<string, unknown>; steps: Step[]; is_active: boolean; created_at: string; updated_at: string;
}
export type RunStatus = "pending" | "running" | "waiting" | "completed" | "failed";
export interface WorkflowRun {
  id: string; workflow_id: string; status: RunStatus; depth: number; trigger: Record<string, unknown> | null;
  next_step: number; steps_run: number; error: string | null; created_at: string; started_at: string | null;
  finished_at: string | null; resumes_at: string | null;
}
export interface RunPage { runs: WorkflowRun[]; total: number; limit: number; offset: number }
export interface RunStep {
  step_index: number; name: string | null; action: string; status: "running" | "completed" | "failed" | "retrying";
  input: unknown; output: unknown; error: string | null; attempts: number; started_at: string;
  finished_at: string | null; duration_ms: number | null;
}
export type RunDetail = WorkflowRun & { steps: RunStep[] };

/** `/api/projects/{pid}` followed by `rest`. */
export const pp = (pid: string, rest = "") => `/api/projects/${pid}${rest}`;
/** A path segment, escaped. */
export const seg = (s: string | number) => encodeURIComponent(String(s));
