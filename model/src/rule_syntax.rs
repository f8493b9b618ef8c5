//! The settings of validation rules that are small languages of their own: regular-expression
//! patterns and strftime date formats (`spec/validations.md`). Both planes read them here, the
//! one same way: the control plane refuses a rule whose setting does not parse, workers compile
//! the same text once per config version.

use chrono::format::{Item, StrftimeItems};
use regex::{Regex, RegexBuilder};

/// Largest compiled size of one pattern, so a hostile pattern cannot claim much memory.
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Why a pattern cannot be used, in the words of the `regex` crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPattern(pub String);

/// Compiles a rule's pattern the way Python's `re.match` applies it: it must match at the start
/// of the text (a prefix match; `$` in the pattern makes it total). `flags` containing `i`
/// ignores case; containing `m`, `^` and `$` also match at line breaks. The syntax is the Rust
/// `regex` crate's: no look-around, no backreferences.
pub fn pattern(pattern: &str, flags: &str) -> Result<Regex, BadPattern> {
    // Alone first: a pattern such as `a)|(b` must not escape the anchoring group.
    build(pattern, flags)?;
    build(&format!(r"\A(?:{pattern})"), flags)
}

fn build(source: &str, flags: &str) -> Result<Regex, BadPattern> {
    RegexBuilder::new(source)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| BadPattern(reason(&e)))
}

/// The one line of a regex error that says what is wrong (its syntax errors draw a diagram).
fn reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(text)
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled pattern would be larger than the limit of {limit} bytes")
        }
        other => other.to_string(),
    }
}

/// The items of a strftime format (`%Y-%m-%d`, `%d/%m/%Y %H:%M`), or `None` when it has a
/// directive chrono does not know.
pub fn date_format(format: &str) -> Option<Vec<Item<'static>>> {
    StrftimeItems::new(format).parse_to_owned().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_at_the_start_only() {
        let p = pattern("[a-z]+", "").unwrap();
        assert!(p.is_match("abc123"));
        assert!(!p.is_match("123abc"));
        let total = pattern("^[a-z]+$", "").unwrap();
        assert!(!total.is_match("abc123"));
        assert!(pattern("ABC", "i").unwrap().is_match("abcdef"));
        assert!(!pattern("ABC", "").unwrap().is_match("abcdef"));
        assert!(pattern("^a$", "m").unwrap().is_match("a\nb"));
        assert!(!pattern("^a$", "").unwrap().is_match("a\nb"));
        // `^` at a later line does not move the start: the match still begins at 0.
        assert!(!pattern("^b", "m").unwrap().is_match("a\nb"));
    }

    #[test]
    fn a_pattern_cannot_escape_its_anchor() {
        assert!(pattern("a)|(b", "").is_err());
        let alternatives = pattern("x|y", "").unwrap();
        assert!(alternatives.is_match("y1") && !alternatives.is_match("1y"));
    }

    #[test]
    fn unsupported_or_huge_patterns_say_why() {
        let e = pattern("(?=a)b", "").unwrap_err();
        assert!(e.0.contains("look-around"), "{e}");
        let e = pattern(r"(a)\1", "").unwrap_err();
        assert!(e.0.contains("backreferences"), "{e}");
        let e = pattern(r"(?:\w{1000}){1000}", "").unwrap_err();
        assert!(e.0.contains("limit"), "{e}");
    }

    #[test]
    fn date_formats_know_strftime_directives() {
        assert!(date_format("%Y-%m-%d").is_some());
        assert!(date_format("%d/%m/%Y %H:%M:%S").is_some());
        assert!(date_format("%Q").is_none());
        assert!(date_format("%").is_none());
    }
}
