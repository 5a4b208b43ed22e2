//! Known findings: the `--expect` file.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::runner::{Outcome, Status};

/// Known findings from an `--expect` file: case name to the text its
/// failure's detail must contain (empty: any failure).
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    known: BTreeMap<String, String>,
}

impl Expectations {
    /// Reads an `--expect` file: one case name per line, optionally followed
    /// by a tab and a text the failure's detail must contain; `#` comments.
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn read(path: &str) -> anyhow::Result<Expectations> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        Ok(Expectations::parse(&text))
    }

    fn parse(text: &str) -> Expectations {
        let mut known = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (name, needle) = line.split_once('\t').unwrap_or((line, ""));
            known.insert(name.trim().to_string(), needle.trim().to_string());
        }
        Expectations { known }
    }

    /// Whether case `name` is listed.
    pub fn lists(&self, name: &str) -> bool {
        self.known.contains_key(name)
    }

    /// The outcome of case `name` once the known findings are applied: a
    /// listed failure that mentions its text becomes [`Status::Known`]; a
    /// listed failure that does not says what was expected; a listed case
    /// that passes fails (the file is out of date).
    pub fn apply(&self, name: &str, outcome: Outcome) -> Outcome {
        let Some(needle) = self.known.get(name) else {
            return outcome;
        };
        let Outcome { status, detail } = outcome;
        match status {
            Status::Fail if detail.contains(needle.as_str()) => Outcome {
                status: Status::Known,
                detail,
            },
            Status::Fail => Outcome::fail(format!(
                "{detail} [the --expect file expects a failure mentioning {needle:?}]"
            )),
            Status::Pass => Outcome::fail(format!(
                "listed as a known finding in the --expect file but passed now ({detail}): update the file"
            )),
            _ => Outcome { status, detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_findings() {
        let e = Expectations::parse("# comment\n\ncrates/x/a\tleaked\ncrates/x/b\n");
        let known = e.apply("crates/x/a", Outcome::fail("leaked 2"));
        assert_eq!(known.status, Status::Known);
        let other = e.apply("crates/x/a", Outcome::fail("payload lost"));
        assert_eq!(other.status, Status::Fail);
        assert!(other
            .detail
            .contains("expects a failure mentioning \"leaked\""));
        let any = e.apply("crates/x/b", Outcome::fail("whatever"));
        assert_eq!(any.status, Status::Known);
        let stale = e.apply("crates/x/b", Outcome::pass("fine"));
        assert_eq!(stale.status, Status::Fail);
        assert!(stale.detail.contains("update the file"));
        let skip = e.apply("crates/x/b", Outcome::skip("no kcmp"));
        assert_eq!(skip.status, Status::Skip);
        let unlisted = e.apply("crates/x/c", Outcome::fail("boom"));
        assert_eq!(
            (unlisted.status, unlisted.detail.as_str()),
            (Status::Fail, "boom")
        );
    }
}
