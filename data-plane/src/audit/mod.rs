//! The audit log of a project (`spec/audit.md`): listing with filters, and a streamed export.
//! Events are written by the paths that change things (auth events by `auth::store`); this
//! module reads them, as the project's role.

pub mod chain;
pub mod filter;

use crate::db::{self, Pool};
use crate::registry::Project;
use filter::AuditFilter;
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder, Row};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The event as the contract shows it, built by Postgres (the project id from the CTE `p`).
const EVENT_JSON: &str = "json_build_object('id', e.\"id\", 'project_id', (SELECT id FROM p),
    'collection_id', e.\"collection_id\", 'record_id', e.\"record_id\", 'action', e.\"action\",
    'actor_user_id', e.\"actor_user_id\", 'actor_api_key_id', e.\"actor_api_key_id\",
    'actor_app_user_id', e.\"actor_app_user_id\", 'old_data_json', e.\"old_data_json\",
    'new_data_json', e.\"new_data_json\", 'ip_address', e.\"ip_address\",
    'user_agent', e.\"user_agent\", 'created_at', e.\"created_at\")";

/// A page: `{"events", "total", "limit", "offset"}`, newest first (ties: last written first).
pub async fn list(pool: &Pool, project: &Project, f: &AuditFilter) -> Result<Value, sqlx::Error> {
    // The project id is bound once, in a CTE both halves read.
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("WITH p AS (SELECT ");
    qb.push_bind(project.config.project_id);
    qb.push("::uuid AS id) SELECT (SELECT count(*) FROM \"_audit_events\" e");
    f.push_where(&mut qb);
    qb.push("), (SELECT coalesce(json_agg(x.j ORDER BY x.c DESC, x.s DESC), '[]') FROM (SELECT ");
    qb.push(EVENT_JSON);
    qb.push(" AS j, e.\"created_at\" AS c, e.\"seq\" AS s FROM \"_audit_events\" e");
    f.push_where(&mut qb);
    qb.push(" ORDER BY e.\"created_at\" DESC, e.\"seq\" DESC LIMIT ")
        .push_bind(f.limit)
        .push(" OFFSET ")
        .push_bind(f.offset)
        .push(") x)::text");
    let mut tx = db::begin(pool, project).await?;
    let row = qb.build().fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let total: i64 = row.get(0);
    let events: String = row.get(1);
    let events: Value = serde_json::from_str(&events).unwrap_or(Value::Array(Vec::new()));
    Ok(
        serde_json::json!({ "events": events, "total": total, "limit": f.limit, "offset": f.offset }),
    )
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object a line.
    Ndjson,
    /// A header line, then one line an event.
    Csv,
}

/// The CSV columns, in order (the contract's keys).
pub const CSV_COLUMNS: [&str; 13] = [
    "id",
    "project_id",
    "collection_id",
    "record_id",
    "action",
    "actor_user_id",
    "actor_api_key_id",
    "actor_app_user_id",
    "old_data_json",
    "new_data_json",
    "ip_address",
    "user_agent",
    "created_at",
];

/// Streams every matching event (newest first; `limit`/`offset` do not apply) as lines of
/// `format` into a bounded channel: memory stays flat however many there are. The query runs
/// in its own transaction on a task; an error ends the stream early (logged).
pub fn export(
    pool: Pool,
    project: Arc<Project>,
    f: AuditFilter,
    format: Format,
) -> mpsc::Receiver<Result<String, std::io::Error>> {
    let (tx_lines, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let pid = project.config.project_id;
        let result = async {
            let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("WITH p AS (SELECT ");
            qb.push_bind(pid);
            qb.push("::uuid AS id) SELECT ");
            qb.push(EVENT_JSON);
            qb.push("::text FROM \"_audit_events\" e");
            f.push_where(&mut qb);
            qb.push(" ORDER BY e.\"created_at\" DESC, e.\"seq\" DESC");
            let mut tx = db::begin(&pool, &project).await?;
            if format == Format::Csv {
                let _ = tx_lines
                    .send(Ok(csv_line(CSV_COLUMNS.iter().map(|c| (*c).to_owned()))))
                    .await;
            }
            {
                let mut rows = qb.build().fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    let text: String = row.get(0);
                    let line = match format {
                        Format::Ndjson => format!("{text}\n"),
                        Format::Csv => {
                            let event: Value = serde_json::from_str(&text).unwrap_or_default();
                            csv_line(CSV_COLUMNS.iter().map(|c| match &event[*c] {
                                Value::Null => String::new(),
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            }))
                        }
                    };
                    if tx_lines.send(Ok(line)).await.is_err() {
                        // The client went away.
                        break;
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(project.id = %pid, "audit export ended early: {e}");
            let _ = tx_lines
                .send(Err(std::io::Error::other("the export ended early")))
                .await;
        }
    });
    rx
}

/// One CSV record (RFC 4180 quoting), with its line ending.
fn csv_line(fields: impl IntoIterator<Item = String>) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields.into_iter().map(|f| neutralize(&f)))
        .expect("writing to memory");
    String::from_utf8(w.into_inner().expect("flushing to memory")).expect("CSV of UTF-8 is UTF-8")
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
/// leading `'`: exported data is user data.
fn neutralize(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_quote_and_defuse() {
        let line = csv_line([
            "a,b".into(),
            "say \"hi\"".into(),
            "=1+1".into(),
            "x\ny".into(),
        ]);
        assert_eq!(line, "\"a,b\",\"say \"\"hi\"\"\",'=1+1,\"x\ny\"\n");
    }
}
