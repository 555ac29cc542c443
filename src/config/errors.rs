//! Configuration problems: every one is collected, never the first alone, so an operator
//! whose pod crash-loops sees all of them in the first log rather than one per restart.

use std::collections::BTreeSet;
use std::fmt;

use super::layers::Tree;

/// Every problem found in a configuration, so an operator fixes them in one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Problems as they are found, with the keys they already name: a later check stays
/// quiet about those, so that no key is reported twice (a bad value is not also "not
/// set", nor its file "unreadable").
#[derive(Debug, Default)]
pub(super) struct Problems {
    /// One line each, in the order found.
    pub(super) lines: Vec<String>,
    /// Dotted keys some line names.
    pub(super) keys: BTreeSet<String>,
}

impl Problems {
    /// A problem with one key's value, pointing at the file or variable that set it.
    pub(super) fn value(&mut self, tree: &Tree, path: &str, problem: String) {
        let line = match tree.origin(path) {
            Some(o) => format!("{path}: {problem} ({})", o.describe()),
            None => format!("{path}: {problem}"),
        };
        self.about(&[path], line);
    }

    /// A problem that names `keys`, already worded.
    pub(super) fn about(&mut self, keys: &[&str], line: String) {
        self.lines.push(line);
        self.keys.extend(keys.iter().map(|k| k.to_string()));
    }

    /// Whether a problem already names `key`.
    pub(super) fn names(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
}
