//! The console's static files, served from a folder under `/console/` (`spec/console.md` §1).
//! Unknown paths without an extension get `index.html` (client-side routes), which is never
//! cached; paths that leave the folder, or name hidden files, are refused.

use crate::routes::CONSOLE;
use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use std::path::Path;

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Sends the browser to the console's root.
pub fn redirect() -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, CONSOLE)
        .body(Body::empty())
        .expect("static response")
}

/// Serves `path` (which starts with `/console/`) from `dir`.
pub async fn serve(dir: &Path, path: &str) -> Response<Body> {
    let rel = path.strip_prefix(CONSOLE).unwrap_or_default();
    if rel.split('/').any(|s| s == ".." || s.starts_with('.')) || rel.contains('\\') {
        return crate::proxy::error(StatusCode::NOT_FOUND, "Not Found");
    }
    let mut file = dir.join(if rel.is_empty() { "index.html" } else { rel });
    if Path::new(rel).extension().is_none() && !file.is_file() {
        file = dir.join("index.html");
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut res = Response::builder().header(header::CONTENT_TYPE, content_type(&file));
            if file.file_name().is_some_and(|n| n == "index.html") {
                res = res.header(header::CACHE_CONTROL, "no-cache");
            }
            res.body(Body::from(bytes)).expect("static response")
        }
        Err(_) => crate::proxy::error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
