//! How answers are printed: JSON for scripts, or aligned columns for people. Commands turn each
//! answer into JSON objects first, so both forms show the same data.

use serde_json::Value;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// The answer as JSON.
    Json,
}

/// Prints rows (JSON objects): a JSON array, or a table of `columns` (object keys, shown in
/// upper case as headers).
pub fn list(format: Format, columns: &[&str], rows: &[Value]) {
    match format {
        Format::Json => json(&Value::Array(rows.to_vec())),
        Format::Table => {
            let headers = columns.iter().map(|c| c.to_uppercase()).collect();
            let cells = rows
                .iter()
                .map(|row| columns.iter().map(|c| cell(&row[*c])).collect())
                .collect();
            print!("{}", table(headers, cells));
        }
    }
}

/// Prints one object: JSON, or one `key  value` line per key.
pub fn record(format: Format, value: &Value) {
    match format {
        Format::Json => json(value),
        Format::Table => {
            let rows = value
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| vec![k.clone(), cell(v)])
                .collect();
            print!("{}", aligned(rows));
        }
    }
}

/// Prints a value as indented JSON.
pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON serializes")
    );
}

/// A value as one table cell: text bare, nothing as `-`, lists comma-separated.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A header line and rows, each column as wide as its widest cell.
pub fn table(headers: Vec<String>, rows: Vec<Vec<String>>) -> String {
    aligned(std::iter::once(headers).chain(rows).collect())
}

fn aligned(rows: Vec<Vec<String>>) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_cells_read_plainly() {
        let rows = vec![
            vec!["1".into(), "Blog".into(), cell(&json!(true))],
            vec!["22".into(), "Ünïcode shop".into(), cell(&json!(null))],
        ];
        let headers = vec!["ID".into(), "NAME".into(), "ACTIVE".into()];
        assert_eq!(
            table(headers, rows),
            "ID  NAME          ACTIVE\n1   Blog          yes\n22  Ünïcode shop  -\n"
        );
        assert_eq!(cell(&json!(["a", "b"])), "a,b");
        assert_eq!(cell(&json!([])), "-");
        assert_eq!(cell(&json!(3)), "3");
    }
}
