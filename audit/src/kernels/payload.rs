//! What runs on every kernel: the auditor's `kernel` and `crates`
//! batteries and inflight's test binaries, as steps with a time limit each.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _};

/// The programs a column runs.
#[derive(Clone, Debug)]
pub struct Payload {
    /// The auditor (this executable).
    pub audit: PathBuf,
    /// Test binaries: the row prefix (`creds`) and the executable.
    pub tests: Vec<(String, PathBuf)>,
    /// Known findings passed to the audits (`--expect`).
    pub expect: Option<PathBuf>,
    /// `--timeout` passed to the audits, in seconds.
    pub timeout: f64,
    /// The time limit of one step, in seconds.
    pub step_limit: u64,
}

/// Which program a step runs.
#[derive(Clone, Debug)]
pub enum Program {
    /// The auditor.
    Audit,
    /// Test binary number `i` of [`Payload::tests`].
    Test(usize),
}

/// One step: a program, its arguments, and whether its standard error
/// goes with its output (test binaries) or apart (the auditor's JSON).
#[derive(Clone, Debug)]
pub struct Step {
    /// The step's name (`kernel`, `crates`, `core/creds`).
    pub name: String,
    /// What it runs.
    pub program: Program,
    /// Its arguments; [`EXPECT`] stands for the known-findings file.
    pub args: Vec<String>,
    /// Standard error merged into standard output.
    pub merged: bool,
}

/// Placeholder argument for the known-findings file's path.
pub const EXPECT: &str = "@EXPECT@";

impl Payload {
    /// The steps, in order.
    pub fn steps(&self) -> Vec<Step> {
        let audit = |battery: &str| {
            let mut args = vec![
                battery.to_string(),
                "--format".into(),
                "json".into(),
                "--timeout".into(),
                self.timeout.to_string(),
            ];
            if self.expect.is_some() {
                args.extend(["--expect".to_string(), EXPECT.to_string()]);
            }
            Step {
                name: battery.to_string(),
                program: Program::Audit,
                args,
                merged: false,
            }
        };
        let mut steps = vec![audit("kernel"), audit("crates")];
        for (i, (name, _)) in self.tests.iter().enumerate() {
            steps.push(Step {
                name: format!("core/{name}"),
                program: Program::Test(i),
                args: vec!["--test-threads=1".into(), "--show-output".into()],
                merged: true,
            });
        }
        steps
    }

    /// Checks that every program exists and is statically linked (a guest
    /// has no shared libraries).
    ///
    /// # Errors
    ///
    /// A program is missing, unreadable, or dynamically linked.
    pub fn check_static(&self) -> anyhow::Result<()> {
        let programs = std::iter::once(&self.audit).chain(self.tests.iter().map(|(_, p)| p));
        for p in programs {
            ensure!(
                is_static(p).with_context(|| format!("reading {}", p.display()))?,
                "{} is dynamically linked: a guest kernel has no shared libraries; build it for \
                 x86_64-unknown-linux-musl (see ci/kernels.sh)",
                p.display()
            );
        }
        Ok(())
    }
}

/// A test binary's row prefix from its file name: cargo's `NAME-HASH`
/// gives `NAME`.
pub fn test_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem,
    }
}

/// Whether an ELF executable has no program interpreter (`PT_INTERP`),
/// that is, needs no dynamic loader.
///
/// # Errors
///
/// The file cannot be read or is not a 64-bit little-endian ELF file.
pub fn is_static(path: &Path) -> anyhow::Result<bool> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    ensure!(
        head.len() >= 64 && head[..4] == *b"\x7fELF" && head[4] == 2 && head[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(head[0x20..0x28].try_into()?) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    for i in 0..count {
        let at = phoff + i * size;
        ensure!(
            at + 4 <= head.len(),
            "program headers beyond the first 64 KiB"
        );
        if u32::from_le_bytes(head[at..at + 4].try_into()?) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_cargo_files() {
        assert_eq!(test_name(Path::new("/x/creds-35456bc52d2cad59")), "creds");
        assert_eq!(
            test_name(Path::new("/x/my-test-35456bc52d2cad59")),
            "my-test"
        );
        assert_eq!(test_name(Path::new("/x/plain")), "plain");
        assert_eq!(test_name(Path::new("/x/a-b")), "a-b");
    }

    /// A minimal ELF header with one program header of type `ptype`.
    fn elf(ptype: u32) -> tempfile::NamedTempFile {
        let mut b = vec![0u8; 64 + 56];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&ptype.to_le_bytes());
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b).unwrap();
        f
    }

    #[test]
    fn static_or_not() {
        const PT_LOAD: u32 = 1;
        assert!(is_static(elf(PT_LOAD).path()).unwrap());
        assert!(!is_static(elf(3).path()).unwrap());
        assert!(is_static(Path::new("/proc/self/status")).is_err());
    }
}
