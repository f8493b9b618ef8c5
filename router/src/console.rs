//! The console's static files, served from a folder. Unknown paths without an extension get
//! `index.html` (client-side routes); paths that leave the folder are refused.

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

/// Serves `path` from `dir`.
pub async fn serve(dir: &Path, path: &str) -> Response<Body> {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|s| s == ".." || s.starts_with('.')) || rel.contains('\\') {
        return crate::proxy::error(StatusCode::NOT_FOUND, "Not Found");
    }
    let mut file = dir.join(if rel.is_empty() { "index.html" } else { rel });
    if Path::new(rel).extension().is_none() && !file.is_file() {
        file = dir.join("index.html");
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_TYPE, content_type(&file))
            .body(Body::from(bytes))
            .expect("static response"),
        Err(_) => crate::proxy::error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
