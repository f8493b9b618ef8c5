//! Relation expansion (`?expand=author,comments_via_post.author`): every path resolves against the
//! compiled relations; the related records are selected by correlated subqueries inside the one
//! statement of the read, so a page with expansions is still one round trip (no N+1).
//!
//! - a many-to-one field `author` adds the key `author`: the target record or `null`;
//! - a reverse relation `<source>_via_<field>` adds a list of the source records pointing here
//!   (at most [`MANY_LIMIT`], by id).
//!
//! Unknown names are ignored (spec/data.md); depth and breadth are capped with a clear 400.

use super::filter::{push_pred_where, Pred, Where};
use super::PushIdent;
use crate::http::error::ApiError;
use crate::registry::{Collection, Project};
use model::sql::Ident;
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

/// Deepest nesting of an expansion path.
pub const MAX_DEPTH: usize = 3;
/// Most expansion paths in one request.
pub const MAX_PATHS: usize = 10;
/// Most records a reverse expansion lists.
pub const MANY_LIMIT: i64 = 100;

/// How a node reaches its records.
#[derive(Debug)]
pub enum Link {
    /// This row's key column points at one target record.
    One {
        /// Quoted key column of the parent row.
        column: Ident,
    },
    /// Rows of the source whose key column points at this row.
    Many {
        /// Quoted key column in the source.
        column: Ident,
    },
}

/// One expansion: its response key, the collection it reads and what it expands in turn.
#[derive(Debug)]
pub struct Node {
    /// The key added to the record (from the config, quoted).
    pub key: Ident,
    /// How the related records are found.
    pub link: Link,
    /// The collection of the related records.
    pub collection: Arc<Collection>,
    /// Nested expansions.
    pub children: Vec<Node>,
    /// The related records the caller may read (their collection's `read` rule); the others
    /// expand as if absent.
    pub rule: Pred,
}

/// Sets every node's rule: `rule(collection)` for the records it expands.
pub fn guard(nodes: &mut [Node], rule: &impl Fn(&Collection) -> Pred) {
    for n in nodes {
        n.rule = rule(&n.collection);
        guard(&mut n.children, rule);
    }
}

/// Plans `expand`: comma-separated paths of dot-separated names.
pub fn plan(project: &Project, root: &Arc<Collection>, raw: &str) -> Result<Vec<Node>, ApiError> {
    let paths: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if paths.len() > MAX_PATHS {
        return Err(ApiError::BadRequest(format!(
            "Too many expand paths (at most {MAX_PATHS})"
        )));
    }
    let mut roots = Vec::new();
    for path in paths {
        let names: Vec<&str> = path.split('.').collect();
        if names.len() > MAX_DEPTH {
            return Err(ApiError::BadRequest(format!(
                "Expand path '{path}' is nested too deeply (at most {MAX_DEPTH} levels)"
            )));
        }
        insert(project, root, &mut roots, &names);
    }
    Ok(roots)
}

/// Adds one path under `nodes` (merging with what is there); unknown names end the path.
fn insert(project: &Project, parent: &Arc<Collection>, nodes: &mut Vec<Node>, names: &[&str]) {
    let Some((name, rest)) = names.split_first() else {
        return;
    };
    if let Some(i) = nodes.iter().position(|n| n.key.name() == *name) {
        let coll = nodes[i].collection.clone();
        insert(project, &coll, &mut nodes[i].children, rest);
        return;
    }
    let Some(node) = resolve(project, parent, name) else {
        return;
    };
    nodes.push(node);
    let last = nodes.len() - 1;
    let coll = nodes[last].collection.clone();
    insert(project, &coll, &mut nodes[last].children, rest);
}

fn resolve(project: &Project, parent: &Collection, name: &str) -> Option<Node> {
    if let Some(r) = parent.relations.get(name) {
        return Some(Node {
            key: r.key.clone(),
            link: Link::One {
                column: r.column.clone(),
            },
            collection: project.by_id.get(&r.target)?.clone(),
            children: Vec::new(),
            rule: Pred::Const(false),
        });
    }
    let rev = project
        .reverse
        .get(&parent.config.id)?
        .iter()
        .find(|r| r.key == name)?;
    // A key that is also a column of the record would be ambiguous: the column wins.
    if parent.columns.contains_key(name) {
        return None;
    }
    Some(Node {
        key: rev.key_ident.clone(),
        link: Link::Many {
            column: rev.column.clone(),
        },
        collection: project.by_id.get(&rev.source)?.clone(),
        children: Vec::new(),
        rule: Pred::Const(false),
    })
}

/// Pushes `<select list>[, <expansion> AS "key"…] FROM <table> t<depth>`.
pub fn push_select(
    qb: &mut QueryBuilder<'_, Postgres>,
    c: &Collection,
    nodes: &[Node],
    depth: usize,
) {
    push_columns(qb, c, nodes, depth);
    qb.push(" FROM ")
        .push_ident(&c.table)
        .push(format_args!(" t{depth}"));
}

/// Pushes `<select list>[, <expansion> AS "key"…]` over the row `t<depth>`.
pub fn push_columns(
    qb: &mut QueryBuilder<'_, Postgres>,
    c: &Collection,
    nodes: &[Node],
    depth: usize,
) {
    qb.push_idents(&c.select_list);
    for n in nodes {
        qb.push(", ");
        push_node(qb, n, depth);
        qb.push(" AS ").push_ident(&n.key);
    }
}

fn push_node(qb: &mut QueryBuilder<'_, Postgres>, n: &Node, depth: usize) {
    let inner = depth + 1;
    // Records the caller may not read are never selected: the expansion is null or shorter.
    let mut w = Where::default();
    match &n.link {
        Link::One { column } => {
            qb.push(format_args!("(SELECT row_to_json(_e{inner}) FROM (SELECT "));
            push_select(qb, &n.collection, &n.children, inner);
            w.next(qb);
            qb.push(format_args!("t{inner}.\"id\" = t{depth}."))
                .push_ident(column);
            push_pred_where(qb, &mut w, &n.rule);
            qb.push(format_args!(") _e{inner})"));
        }
        Link::Many { column } => {
            qb.push(format_args!(
                "(SELECT COALESCE(json_agg(_e{inner} ORDER BY _e{inner}.\"id\"), '[]'::json) FROM (SELECT "
            ));
            push_select(qb, &n.collection, &n.children, inner);
            w.next(qb);
            qb.push(format_args!("t{inner}."))
                .push_ident(column)
                .push(format_args!(" = t{depth}.\"id\""));
            push_pred_where(qb, &mut w, &n.rule);
            qb.push(format_args!(
                " ORDER BY t{inner}.\"id\" LIMIT {MANY_LIMIT}) _e{inner})"
            ));
        }
    }
}
