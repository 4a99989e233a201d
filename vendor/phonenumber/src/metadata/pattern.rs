// Added for Clinicflow (2026): see README.md, "This copy".

use std::fmt;
use std::ops::Deref;

use once_cell::sync::OnceCell;
use regex_lite::{Regex, RegexBuilder};

/// A pattern of a numbering plan, read ignoring whitespace and compiled
/// with `regex-lite` at its first use.
///
/// The plans' patterns are ASCII: digits, classes and counts of them. They
/// only ever meet a number's digits once normalized to ASCII, where
/// `regex-lite` (whose `\d` is ASCII) matches exactly what `regex` does,
/// and it compiles them about ten times faster than `regex`, which builds
/// a literal prefilter and lazy-DFA tables that a ten-digit number never
/// repays. Upstream held them in `regex-cache`'s `CachedRegex` over `regex`.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    compiled: OnceCell<Regex>,
}

impl Pattern {
    /// The pattern `source`, checked now.
    pub fn new(source: &str) -> Result<Pattern, regex_lite::Error> {
        let compiled = build(source)?;
        Ok(Pattern {
            source: source.to_owned(),
            compiled: OnceCell::with_value(compiled),
        })
    }

    /// The pattern `source`, known to be valid (checked through `new`
    /// elsewhere), compiled at its first use.
    pub fn trusted(source: String) -> Pattern {
        Pattern {
            source,
            compiled: OnceCell::new(),
        }
    }

    /// The pattern as the metadata writes it.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

fn build(source: &str) -> Result<Regex, regex_lite::Error> {
    RegexBuilder::new(source).ignore_whitespace(true).build()
}

impl Deref for Pattern {
    type Target = Regex;

    fn deref(&self) -> &Regex {
        self.compiled.get_or_init(|| match build(&self.source) {
            Ok(regex) => regex,
            Err(e) => panic!("a trusted pattern did not compile: {e}"),
        })
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}
