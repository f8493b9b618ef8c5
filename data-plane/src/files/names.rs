//! What an uploaded name may be, and what it becomes: the extension allow-list of
//! `spec/files.md` (judged by the last extension, so `x.txt.exe` is an `exe`), the stored name,
//! the content type, and a `Content-Disposition` that no name can steer.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Extensions an upload may have (lower case), in the contract's order.
pub const ALLOWED: [&str; 14] = [
    "jpg", "jpeg", "png", "gif", "webp", "pdf", "txt", "csv", "json", "xml", "doc", "docx", "xls",
    "xlsx",
];

/// The last extension of a name, lower-cased; empty when the name has no dot.
pub fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_lowercase(),
        None => String::new(),
    }
}

/// `Ok(ext)` for an allowed name, else the contract's message.
pub fn check_extension(name: &str) -> Result<String, String> {
    let ext = extension(name);
    if ALLOWED.contains(&ext.as_str()) {
        Ok(ext)
    } else {
        Err(format!(
            "File extension '{ext}' is not allowed. Allowed: {}",
            ALLOWED.join(", ")
        ))
    }
}

/// The stored name: `<UTC YYYYMMDDHHMMSS>_<16 lowercase hex>.<ext>` (no `.<ext>` when none).
pub fn stored_name(now: chrono::DateTime<chrono::Utc>, ext: &str) -> String {
    let hex: String = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let stamp = now.format("%Y%m%d%H%M%S");
    if ext.is_empty() {
        format!("{stamp}_{hex}")
    } else {
        format!("{stamp}_{hex}.{ext}")
    }
}

/// The part's own type when it sent a usable one, else guessed from the extension, else
/// `application/octet-stream`.
pub fn content_type(sent: Option<&str>, ext: &str) -> String {
    if let Some(t) = sent.map(str::trim).filter(|t| valid_media_type(t)) {
        return t.to_owned();
    }
    mime_guess::from_ext(ext)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// `type/subtype[; params]` of visible ASCII only: anything else could not be sent back as a
/// header.
fn valid_media_type(t: &str) -> bool {
    t.len() <= 255
        && t.split(';').next().is_some_and(|m| m.contains('/'))
        && t.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Characters that never survive into a name we show: controls (newlines included), the
/// Unicode direction overrides and marks that reorder what a reader sees, and path separators.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '/' | '\\')
}

/// The uploaded name as kept: without what [`unsafe_char`] names (a path separator keeps only
/// what follows it), trimmed, at most 255 characters; `unnamed` when nothing is left.
pub fn clean_original(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let kept: String = base
        .chars()
        .filter(|c| !unsafe_char(*c))
        .take(255)
        .collect();
    let kept = kept.trim();
    if kept.is_empty() || kept == "." || kept == ".." {
        "unnamed".into()
    } else {
        kept.to_owned()
    }
}

/// RFC 5987 `attr-char`: what `filename*` may carry unencoded.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266):
/// the quoted fallback holds only letters, digits and `._-()+,` and spaces (anything else is
/// `_`), so quotes, backslashes, semicolons and line breaks can never end the value.
pub fn disposition(original: &str) -> String {
    let name = clean_original(original);
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._-()+,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(&name, ATTR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_extension_decides() {
        assert_eq!(check_extension("Report.PDF"), Ok("pdf".into()));
        assert_eq!(check_extension("notes.txt"), Ok("txt".into()));
        let exe = check_extension("x.txt.exe").unwrap_err();
        assert!(exe.starts_with("File extension 'exe' is not allowed. Allowed: jpg, jpeg"));
        let none = check_extension("README").unwrap_err();
        assert!(none.starts_with("File extension '' is not allowed."));
        assert!(check_extension("archive.").is_err());
    }

    #[test]
    fn stored_names_follow_the_contract() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let n = stored_name(now, "txt");
        assert!(
            n.starts_with("20240101120000_") && n.ends_with(".txt"),
            "{n}"
        );
        assert_eq!(n.len(), "20240101120000_".len() + 16 + 4);
        assert!(!stored_name(now, "").contains('.'));
    }

    #[test]
    fn content_types_come_from_the_part_or_the_extension() {
        assert_eq!(content_type(Some("text/plain"), "txt"), "text/plain");
        assert_eq!(content_type(None, "png"), "image/png");
        assert_eq!(content_type(Some("bad\ntype"), "pdf"), "application/pdf");
        assert_eq!(
            content_type(Some("nonsense"), ""),
            "application/octet-stream"
        );
    }

    #[test]
    fn hostile_names_cannot_steer_the_header() {
        for name in [
            "a\"; filename=evil.html",
            "line\r\nSet-Cookie: x=1.txt",
            "../../etc/passwd",
            "..\\..\\boot.ini",
            "report\u{202e}fdp.exe",
            "\u{2067}x.txt",
        ] {
            let d = disposition(name);
            assert!(d.is_ascii(), "{d}");
            assert!(!d.contains('\r') && !d.contains('\n'), "{d}");
            assert!(!d.contains('/') && !d.contains('\\'), "{d}");
            let quoted = d.split('"').nth(1).unwrap();
            assert_eq!(d.matches('"').count(), 2, "{d}");
            assert!(!quoted.contains(';'), "{d}");
            assert!(!d.contains("%E2%80%AE") && !d.contains("%E2%81%A7"), "{d}");
            axum::http::HeaderValue::from_str(&d).expect("a valid header value");
        }
        assert_eq!(
            disposition("résumé 1.pdf"),
            "attachment; filename=\"r_sum_ 1.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf"
        );
        assert_eq!(clean_original("../../etc/passwd"), "passwd");
        assert_eq!(clean_original("\n"), "unnamed");
        assert_eq!(clean_original("test.txt"), "test.txt");
    }
}
