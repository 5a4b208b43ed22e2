//! `--case GLOB` selection.

use anyhow::Context as _;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The cases `--case` selects: every name matching one of the globs (`*`
/// matches across `/`), and, for a glob without wildcards, every name under
/// it (`kernel` selects `kernel/...`). No glob selects everything.
#[derive(Clone, Debug)]
pub struct Selection {
    set: Option<GlobSet>,
}

/// Characters that make a `--case` pattern a glob rather than a name.
const WILDCARDS: [char; 5] = ['*', '?', '[', '{', '\\'];

impl Selection {
    /// Compiles the `--case` globs.
    ///
    /// # Errors
    ///
    /// A glob is malformed (an unclosed `[` or `{`, ...).
    pub fn new(globs: &[String]) -> anyhow::Result<Selection> {
        if globs.is_empty() {
            return Ok(Selection { set: None });
        }
        let mut set = GlobSetBuilder::new();
        for g in globs {
            let mut patterns = vec![g.clone()];
            if !g.contains(WILDCARDS) {
                patterns.push(format!("{g}/*"));
            }
            for p in patterns {
                let glob = GlobBuilder::new(&p)
                    .literal_separator(false)
                    .build()
                    .with_context(|| format!("--case {g:?}"))?;
                set.add(glob);
            }
        }
        let set = set.build().context("--case")?;
        Ok(Selection { set: Some(set) })
    }

    /// Whether case `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.set.as_ref().is_none_or(|s| s.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(globs: &[&str]) -> Selection {
        let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
        Selection::new(&globs).unwrap()
    }

    #[test]
    fn globs() {
        assert!(sel(&["kernel/*"]).selects("kernel/scm-max-fd/stream"));
        assert!(sel(&["*stream"]).selects("program/stream"));
        assert!(sel(&["program/?tream/*"]).selects("program/stream/fds-1"));
        assert!(!sel(&["kernel/*/dgram"]).selects("kernel/x/stream"));
        assert!(!sel(&["program/*"]).selects("programs/stream"));
        assert!(sel(&["program"]).selects("program/stream"));
        assert!(sel(&["program"]).selects("program"));
        assert!(!sel(&["progra"]).selects("program/stream"));
        assert!(!sel(&["program/s"]).selects("program/stream"));
        assert!(sel(&["nope", "kernel/scm-max-fd"]).selects("kernel/scm-max-fd/253/dgram"));
        assert!(sel(&[]).selects("anything"));
        assert!(Selection::new(&["kernel/[".to_string()]).is_err());
    }
}
