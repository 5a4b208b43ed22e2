//! Known findings and expected skips: the `--expect` and `--expect-skips`
//! files, strict in both directions.
//!
//! Both files list one case name per line, then a tab and a text (`#`
//! starts a comment line). In the `--expect` file the text is optional: a
//! listed case must fail with a detail containing it, and is then `KNOWN`.
//! In the `--expect-skips` file it is required, the reason: a listed case
//! must be skipped with a detail containing it; with the file given, any
//! other skip fails the run. A listed case that passes, fails otherwise or
//! (in the `--expect` file) skips fails the run, and so does a listed name
//! that names no case of the auditor.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure, Context as _};

use crate::runner::{Outcome, Status};

/// One listed case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// The text the detail must contain (may be empty for `--expect`).
    needle: String,
    /// Where it is listed: `FILE:LINE`.
    at: String,
}

/// Which file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Known,
    Skips,
}

impl List {
    fn flag(self) -> &'static str {
        match self {
            List::Known => "--expect",
            List::Skips => "--expect-skips",
        }
    }
}

/// The known findings and expected skips of a run.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    known: BTreeMap<String, Entry>,
    /// `None` without `--expect-skips`: skips are then not judged.
    skips: Option<BTreeMap<String, Entry>>,
}

impl Expectations {
    /// Reads the `--expect` file and the `--expect-skips` file, either
    /// optional.
    ///
    /// # Errors
    ///
    /// A file cannot be read, has a malformed line (an `--expect-skips`
    /// entry without its reason), lists a name twice, or both list one.
    pub fn read(expect: Option<&str>, skips: Option<&str>) -> anyhow::Result<Expectations> {
        let load = |path: &str, list| -> anyhow::Result<BTreeMap<String, Entry>> {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            parse(&text, path, list)
        };
        let known = expect.map(|p| load(p, List::Known)).transpose()?;
        let skips = skips.map(|p| load(p, List::Skips)).transpose()?;
        let e = Expectations {
            known: known.unwrap_or_default(),
            skips,
        };
        if let Some(skips) = &e.skips {
            for (name, s) in skips {
                if let Some(k) = e.known.get(name) {
                    bail!(
                        "{name} is listed both as a known finding ({}) and as an expected skip ({})",
                        k.at,
                        s.at
                    );
                }
            }
        }
        Ok(e)
    }

    /// Checks that every listed name is a case of the auditor (`all`: every
    /// case of every battery). Cases of other batteries than the run's are
    /// allowed (one file can serve several runs); names of no case are not.
    ///
    /// # Errors
    ///
    /// Every listed name that names no case, with its file and line.
    pub fn check_names(&self, all: &BTreeSet<String>) -> anyhow::Result<()> {
        let lists = [
            (List::Known, Some(&self.known)),
            (List::Skips, self.skips.as_ref()),
        ];
        let unknown: Vec<String> = lists
            .into_iter()
            .filter_map(|(list, entries)| Some((list, entries?)))
            .flat_map(|(list, entries)| {
                entries
                    .iter()
                    .filter(|(name, _)| !all.contains(*name))
                    .map(move |(name, e)| format!("{}: {name} ({} file)", e.at, list.flag()))
            })
            .collect();
        ensure!(
            unknown.is_empty(),
            "listed case(s) that name no case of the auditor (misspelt, renamed or removed): {}",
            unknown.join("; ")
        );
        Ok(())
    }

    /// Whether case `name` is listed as a known finding.
    pub fn lists(&self, name: &str) -> bool {
        self.known.contains_key(name)
    }

    /// The outcome of case `name` once the lists are applied.
    pub fn apply(&self, name: &str, outcome: Outcome) -> Outcome {
        if let Some(entry) = self.known.get(name) {
            return known(entry, outcome);
        }
        match &self.skips {
            Some(skips) => match skips.get(name) {
                Some(entry) => expected_skip(entry, outcome),
                None if outcome.status == Status::Skip => Outcome::fail(format!(
                    "skipped ({}), but the --expect-skips file does not list it: an unexpected skip",
                    outcome.detail
                )),
                None => outcome,
            },
            None => outcome,
        }
    }
}

/// A case listed in the `--expect` file.
fn known(entry: &Entry, outcome: Outcome) -> Outcome {
    let Outcome { status, detail } = outcome;
    let needle = &entry.needle;
    match status {
        Status::Fail | Status::Warn if detail.contains(needle.as_str()) => Outcome {
            status: Status::Known,
            detail,
        },
        // A warning that does not match stays a warning: it never failed the run.
        Status::Warn => Outcome { status, detail },
        Status::Fail => Outcome::fail(format!(
            "{detail} [the --expect file ({}) expects a failure mentioning {needle:?}]",
            entry.at
        )),
        Status::Pass => Outcome::fail(format!(
            "listed as a known finding in the --expect file ({}) but passed now ({detail}): update the file",
            entry.at
        )),
        Status::Skip => Outcome::fail(format!(
            "listed as a known finding in the --expect file ({}) but skipped now ({detail}): the finding is no longer checked",
            entry.at
        )),
        Status::Known => Outcome { status, detail },
    }
}

/// A case listed in the `--expect-skips` file.
fn expected_skip(entry: &Entry, outcome: Outcome) -> Outcome {
    let Outcome { status, detail } = outcome;
    let needle = &entry.needle;
    match status {
        Status::Skip if detail.contains(needle.as_str()) => Outcome { status, detail },
        Status::Skip => Outcome::fail(format!(
            "skipped ({detail}), but the --expect-skips file ({}) expects the reason {needle:?}",
            entry.at
        )),
        Status::Pass => Outcome::fail(format!(
            "listed as an expected skip in the --expect-skips file ({}) but ran and passed ({detail}): update the file",
            entry.at
        )),
        Status::Fail | Status::Warn | Status::Known => Outcome::fail(format!(
            "{detail} [listed as an expected skip in the --expect-skips file ({}), but it ran]",
            entry.at
        )),
    }
}

/// Parses a list file: `name<TAB>text` lines, `#` comments, blank lines.
fn parse(text: &str, path: &str, list: List) -> anyhow::Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{path}:{}", i + 1);
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (name, needle) = line.split_once('\t').unwrap_or((line, ""));
        let (name, needle) = (name.trim().to_string(), needle.trim().to_string());
        ensure!(
            !name.contains(char::is_whitespace),
            "{at}: {name:?} is not a case name (separate the name from its text with a tab)"
        );
        ensure!(
            list == List::Known || !needle.is_empty(),
            "{at}: {name} has no reason: an --expect-skips entry is the case name, a tab, and a text the skip's reason must contain"
        );
        if let Some(first) = out.insert(
            name.clone(),
            Entry {
                needle,
                at: at.clone(),
            },
        ) {
            bail!("{at}: {name} is listed twice (first at {})", first.at);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(known: &str, skips: Option<&str>) -> Expectations {
        Expectations {
            known: parse(known, "k", List::Known).unwrap(),
            skips: skips.map(|s| parse(s, "s", List::Skips).unwrap()),
        }
    }

    #[test]
    fn known_findings() {
        let e = lists("# comment\n\ncrates/x/a\tleaked\ncrates/x/b\n", None);
        let known = e.apply("crates/x/a", Outcome::fail("leaked 2"));
        assert_eq!(known.status, Status::Known);
        let other = e.apply("crates/x/a", Outcome::fail("payload lost"));
        assert_eq!(other.status, Status::Fail);
        assert!(other
            .detail
            .contains("(k:3) expects a failure mentioning \"leaked\""));
        let any = e.apply("crates/x/b", Outcome::fail("whatever"));
        assert_eq!(any.status, Status::Known);
        let stale = e.apply("crates/x/b", Outcome::pass("fine"));
        assert_eq!(stale.status, Status::Fail);
        assert!(stale.detail.contains("update the file"));
        let skip = e.apply("crates/x/b", Outcome::skip("no kcmp"));
        assert_eq!(skip.status, Status::Fail);
        assert!(skip
            .detail
            .contains("skipped now (no kcmp): the finding is no longer checked"));
        let unlisted = e.apply("crates/x/c", Outcome::fail("boom"));
        assert_eq!(
            (unlisted.status, unlisted.detail.as_str()),
            (Status::Fail, "boom")
        );
        // Without --expect-skips, skips are not judged.
        assert_eq!(
            e.apply("crates/x/c", Outcome::skip("why")).status,
            Status::Skip
        );
    }

    #[test]
    fn expected_skips() {
        let e = lists("", Some("kernel/a\tlacks SO_PASSRIGHTS\n"));
        let ok = e.apply(
            "kernel/a",
            Outcome::skip("the kernel lacks SO_PASSRIGHTS: ..."),
        );
        assert_eq!(ok.status, Status::Skip);
        let why = e.apply("kernel/a", Outcome::skip("no kcmp"));
        assert_eq!(why.status, Status::Fail);
        assert!(why
            .detail
            .contains("expects the reason \"lacks SO_PASSRIGHTS\""));
        let ran = e.apply("kernel/a", Outcome::pass("fine"));
        assert_eq!(ran.status, Status::Fail);
        assert!(ran
            .detail
            .contains("ran and passed (fine): update the file"));
        let failed = e.apply("kernel/a", Outcome::fail("boom"));
        assert!(failed
            .detail
            .starts_with("boom [listed as an expected skip"));
        let surprise = e.apply("kernel/b", Outcome::skip("no pidfd"));
        assert_eq!(surprise.status, Status::Fail);
        assert!(surprise
            .detail
            .contains("skipped (no pidfd), but the --expect-skips file does not list it"));
        assert_eq!(e.apply("kernel/b", Outcome::pass("p")).status, Status::Pass);
    }

    #[test]
    fn malformed_and_unknown_names() {
        assert!(parse("kernel/a\n", "s", List::Skips)
            .unwrap_err()
            .to_string()
            .contains("s:1: kernel/a has no reason"));
        assert!(parse("a\tx\nb\ty\na\tz\n", "k", List::Known)
            .unwrap_err()
            .to_string()
            .contains("k:3: a is listed twice (first at k:1)"));
        assert!(parse("kernel/a some text\n", "k", List::Known).is_err());
        let e = lists(
            "crates/x/a\tleaked\ncrates/typo\n",
            Some("kernel/gone\twhy\n"),
        );
        let all: BTreeSet<String> = ["crates/x/a".to_string()].into();
        let err = e.check_names(&all).unwrap_err().to_string();
        assert!(err.contains("k:2: crates/typo (--expect file)"), "{err}");
        assert!(
            err.contains("s:1: kernel/gone (--expect-skips file)"),
            "{err}"
        );
        assert!(!err.contains("crates/x/a"), "{err}");
    }
}
