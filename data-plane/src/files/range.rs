//! The `Range` header of a download (RFC 9110 §14): one byte range is served as `206`; several
//! ranges, other units or a malformed header are ignored (the whole file, `200`), as the RFC
//! allows; a range that starts past the end is `416`.

/// What to send of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Want {
    /// The whole file.
    All,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// Nothing of it can be served (`416`).
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Want {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Want::All;
    };
    if spec.contains(',') {
        return Want::All;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Want::All;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // `bytes=-n`: the last n bytes.
        (true, false) => match num(last) {
            Some(0) => Want::Unsatisfiable,
            Some(_) if size == 0 => Want::Unsatisfiable,
            Some(n) => Want::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => Want::All,
        },
        // `bytes=a-`: from a to the end.
        (false, true) => match num(first) {
            Some(a) if a >= size => Want::Unsatisfiable,
            Some(a) => Want::Part {
                start: a,
                end: size - 1,
            },
            None => Want::All,
        },
        // `bytes=a-b`.
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a > b => Want::All,
            (Some(a), Some(_)) if a >= size => Want::Unsatisfiable,
            (Some(a), Some(b)) => Want::Part {
                start: a,
                end: b.min(size - 1),
            },
            _ => Want::All,
        },
        (true, true) => Want::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_of_every_form() {
        let size = 1000;
        assert_eq!(parse(None, size), Want::All);
        assert_eq!(
            parse(Some("bytes=0-99"), size),
            Want::Part { start: 0, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=900-"), size),
            Want::Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            parse(Some("bytes=-10"), size),
            Want::Part {
                start: 990,
                end: 999
            }
        );
        assert_eq!(
            parse(Some("bytes=-5000"), size),
            Want::Part { start: 0, end: 999 }
        );
        assert_eq!(
            parse(Some("bytes=990-5000"), size),
            Want::Part {
                start: 990,
                end: 999
            }
        );
        // Multi-GB offsets are plain u64 arithmetic.
        let big = 6 * 1024 * 1024 * 1024u64;
        assert_eq!(
            parse(Some("bytes=5368709120-"), big),
            Want::Part {
                start: 5_368_709_120,
                end: big - 1
            }
        );
    }

    #[test]
    fn what_is_ignored_and_what_cannot_be_served() {
        for ignored in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=x-y",
            "bytes=5-1",
            "bytes=-",
            "bytes",
        ] {
            assert_eq!(parse(Some(ignored), 100), Want::All, "{ignored}");
        }
        assert_eq!(parse(Some("bytes=100-"), 100), Want::Unsatisfiable);
        assert_eq!(parse(Some("bytes=200-300"), 100), Want::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), Want::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Want::Unsatisfiable);
    }
}
