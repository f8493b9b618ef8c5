//! The console's static files, served from a folder under `/console/` (`spec/console.md` §1).
//! Unknown paths without an extension get `index.html` (client-side routes), which is never
//! cached; paths that leave the folder, or name hidden files, are refused.
//!
//! The console's build puts only content-hashed files under `assets/`, so those are cached for a
//! year as immutable. Next to each text file the build writes a `.br` and a `.gz` copy; when the
//! browser accepts one of these encodings, the precompressed copy is sent (brotli first).

use crate::routes::CONSOLE;
use axum::body::Body;
use axum::http::{header, HeaderMap, Response, StatusCode};
use std::path::{Path, PathBuf};

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

/// Whether a file type is text the build precompresses.
fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("html" | "js" | "mjs" | "css" | "json" | "svg")
    )
}

/// Whether `Accept-Encoding` admits `coding` (a `q=0` entry refuses it; `*` admits it).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    let mut star = false;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if name.eq_ignore_ascii_case(coding) {
                return !refused;
            }
            if name == "*" && !refused {
                star = true;
            }
        }
    }
    star
}

/// The precompressed copy of `file` to send, with its `Content-Encoding`, if any.
fn precompressed(file: &Path, headers: &HeaderMap) -> Option<(PathBuf, &'static str)> {
    if !compressible(file) {
        return None;
    }
    for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
        if !accepts(headers, coding) {
            continue;
        }
        let mut name = file.as_os_str().to_owned();
        name.push(".");
        name.push(ext);
        let candidate = PathBuf::from(name);
        if candidate.is_file() {
            return Some((candidate, coding));
        }
    }
    None
}

/// Sends the browser to the console's root.
pub fn redirect() -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, CONSOLE)
        .body(Body::empty())
        .expect("static response")
}

/// Serves `path` (which starts with `/console/`) from `dir`; `headers` are the request's.
pub async fn serve(dir: &Path, path: &str, headers: &HeaderMap) -> Response<Body> {
    let rel = path.strip_prefix(CONSOLE).unwrap_or_default();
    if rel.split('/').any(|s| s == ".." || s.starts_with('.')) || rel.contains('\\') {
        return crate::proxy::error(StatusCode::NOT_FOUND, "Not Found");
    }
    let mut file = dir.join(if rel.is_empty() { "index.html" } else { rel });
    if Path::new(rel).extension().is_none() && !file.is_file() {
        file = dir.join("index.html");
    }
    let (source, encoding) = match precompressed(&file, headers) {
        Some((p, coding)) => (p, Some(coding)),
        None => (file.clone(), None),
    };
    match tokio::fs::read(&source).await {
        Ok(bytes) => {
            let mut res = Response::builder().header(header::CONTENT_TYPE, content_type(&file));
            if file.file_name().is_some_and(|n| n == "index.html") {
                res = res.header(header::CACHE_CONTROL, "no-cache");
            } else if rel.starts_with("assets/") {
                res = res.header(header::CACHE_CONTROL, "public, max-age=31536000, immutable");
            }
            if compressible(&file) {
                res = res.header(header::VARY, "Accept-Encoding");
            }
            if let Some(coding) = encoding {
                res = res.header(header::CONTENT_ENCODING, coding);
            }
            res.body(Body::from(bytes)).expect("static response")
        }
        Err(_) => crate::proxy::error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use http_body_util::BodyExt;

    /// A console folder: index.html, a hashed script with .br and .gz copies, a plain file.
    fn folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("router-console-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<html>index</html>").unwrap();
        std::fs::write(dir.join("assets/index-AbC123_x.js"), "plain js").unwrap();
        std::fs::write(dir.join("assets/index-AbC123_x.js.br"), "brotli js").unwrap();
        std::fs::write(dir.join("assets/index-AbC123_x.js.gz"), "gzip js").unwrap();
        std::fs::write(dir.join("assets/logo-Zz9.png"), "png").unwrap();
        dir
    }

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    async fn get(dir: &Path, path: &str, headers: &HeaderMap) -> (Response<()>, String) {
        let res = serve(dir, path, headers).await;
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(parts, ()),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn header_of(res: &Response<()>, name: header::HeaderName) -> Option<&str> {
        res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_and_index_is_not_cached() {
        let dir = folder("cache");
        let (res, body) = get(&dir, "/console/assets/index-AbC123_x.js", &HeaderMap::new()).await;
        assert_eq!(body, "plain js");
        assert_eq!(
            header_of(&res, header::CACHE_CONTROL),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header_of(&res, header::CONTENT_ENCODING), None);
        assert_eq!(header_of(&res, header::VARY), Some("Accept-Encoding"));
        for path in ["/console/", "/console/projects/x/data"] {
            let (res, body) = get(&dir, path, &accept("gzip, br")).await;
            assert_eq!(body, "<html>index</html>", "{path}");
            assert_eq!(header_of(&res, header::CACHE_CONTROL), Some("no-cache"));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn precompressed_copies_follow_accept_encoding() {
        let dir = folder("encoding");
        let js = "/console/assets/index-AbC123_x.js";
        let cases = [
            ("gzip, deflate, br", Some("br"), "brotli js"),
            ("gzip", Some("gzip"), "gzip js"),
            ("br;q=0, gzip;q=0.5", Some("gzip"), "gzip js"),
            ("*", Some("br"), "brotli js"),
            ("identity", None, "plain js"),
            ("br;q=0, gzip;q=0", None, "plain js"),
        ];
        for (accepted, coding, body_text) in cases {
            let (res, body) = get(&dir, js, &accept(accepted)).await;
            assert_eq!(
                header_of(&res, header::CONTENT_ENCODING),
                coding,
                "{accepted}"
            );
            assert_eq!(body, body_text, "{accepted}");
            assert_eq!(
                header_of(&res, header::CONTENT_TYPE),
                Some("text/javascript; charset=utf-8")
            );
        }
        // Binary files have no compressed copies and no Vary.
        let (res, body) = get(&dir, "/console/assets/logo-Zz9.png", &accept("br")).await;
        assert_eq!(body, "png");
        assert_eq!(header_of(&res, header::CONTENT_ENCODING), None);
        assert_eq!(header_of(&res, header::VARY), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn paths_leaving_the_folder_are_refused() {
        let dir = folder("escape");
        for path in [
            "/console/../secret",
            "/console/.env",
            "/console/assets/..\\x",
        ] {
            let (res, _) = get(&dir, path, &HeaderMap::new()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let (res, _) = get(&dir, "/console/assets/missing.js", &HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
