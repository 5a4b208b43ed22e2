//! A kernel under QEMU: an initramfs holding busybox, the payload and an
//! `/init` that runs the steps and sends each one's output, framed and in
//! base64, over a second serial port; the first is the console, kept as
//! evidence. A guest that outlives its time limit is killed.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};

use super::collect::{cells, StepOutput};
use super::frames::{parse, Frames};
use super::model::{Column, ColumnFailure};
use super::payload::{Payload, Program, Step, EXPECT};

/// How guests are started.
#[derive(Clone, Debug)]
pub struct Qemu {
    /// The `qemu-system-x86_64` to run.
    pub program: PathBuf,
    /// A statically linked busybox.
    pub busybox: PathBuf,
    /// Guest memory, MiB.
    pub memory: u32,
    /// The time limit of one guest.
    pub limit: Duration,
    /// Where to keep each guest's console and data logs (a temporary
    /// directory when `None`).
    pub logs: Option<PathBuf>,
}

const AUDIT: &str = "/bin/inflight-audit";
const EXPECT_FILE: &str = "/etc/inflight/expect.txt";

fn guest_program(p: &Program, payload: &Payload) -> String {
    match p {
        Program::Audit => AUDIT.into(),
        Program::Test(i) => format!("/tests/{}", payload.tests[*i].0),
    }
}

/// `s` quoted for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The guest's `/init`.
fn init_script(payload: &Payload, steps: &[Step]) -> String {
    let mut s = String::from(include_str!("init.sh"));
    for step in steps {
        let mut argv = vec![guest_program(&step.program, payload)];
        argv.extend(step.args.iter().map(|a| {
            if a == EXPECT {
                EXPECT_FILE.to_string()
            } else {
                a.clone()
            }
        }));
        let argv: Vec<String> = argv.iter().map(|a| quote(a)).collect();
        let _ = writeln!(
            s,
            "step {} {} {} {}",
            quote(&step.name),
            payload.step_limit,
            u8::from(step.merged),
            argv.join(" ")
        );
    }
    s.push_str("finish\n");
    s
}

/// Writes the initramfs (an uncompressed `newc` cpio archive, which every
/// kernel with initramfs support unpacks).
fn write_initramfs(path: &Path, payload: &Payload, busybox: &Path) -> anyhow::Result<()> {
    let out =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    let mut files: Vec<(String, u32, Vec<u8>)> = Vec::new();
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    for d in [
        "bin",
        "dev",
        "etc",
        "etc/inflight",
        "proc",
        "sys",
        "tmp",
        "root",
        "tests",
    ] {
        files.push((d.into(), 0o040_755, Vec::new()));
    }
    let steps = payload.steps();
    files.push((
        "init".into(),
        0o100_755,
        init_script(payload, &steps).into_bytes(),
    ));
    files.push(("bin/busybox".into(), 0o100_755, read(busybox)?));
    files.push((
        "bin/inflight-audit".into(),
        0o100_755,
        read(&payload.audit)?,
    ));
    for (name, p) in &payload.tests {
        files.push((format!("tests/{name}"), 0o100_755, read(p)?));
    }
    if let Some(e) = &payload.expect {
        files.push(("etc/inflight/expect.txt".into(), 0o100_644, read(e)?));
    }
    let mut w = out;
    for (ino, (name, mode, data)) in files.into_iter().enumerate() {
        let mut f = cpio::NewcBuilder::new(&name)
            .ino(ino as u32 + 1)
            .mode(mode)
            .nlink(1)
            .write(w, u32::try_from(data.len()).context("file over 4 GiB")?);
        f.write_all(&data)?;
        w = f.finish()?;
    }
    // The console, so that /init has standard streams before /dev is mounted.
    let console = cpio::NewcBuilder::new("dev/console")
        .ino(10_000)
        .mode(0o020_600)
        .nlink(1)
        .rdev_major(5)
        .rdev_minor(1);
    let w = console.write(w, 0).finish()?;
    cpio::newc::trailer(w)?.flush()?;
    Ok(())
}

/// The lines of a console log, without terminal escapes and blank lines.
fn console_lines(log: &Path) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    let clean = text
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    clean
}

/// A prepared guest image, shared by every kernel.
pub struct Image {
    dir: tempfile::TempDir,
    initramfs: PathBuf,
}

impl Image {
    /// Packs the payload.
    ///
    /// # Errors
    ///
    /// A program cannot be read, or the archive cannot be written.
    pub fn build(payload: &Payload, qemu: &Qemu) -> anyhow::Result<Image> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let initramfs = dir.path().join("initramfs.cpio");
        write_initramfs(&initramfs, payload, &qemu.busybox)?;
        Ok(Image { dir, initramfs })
    }
}

/// Boots `kernel` and collects its column.
///
/// # Errors
///
/// QEMU cannot be started (a guest that fails is a failed column, not an
/// error).
pub fn run(label: &str, kernel: &Path, image: &Image, qemu: &Qemu) -> anyhow::Result<Column> {
    let logs = qemu
        .logs
        .clone()
        .unwrap_or_else(|| image.dir.path().to_path_buf());
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let console = logs.join(format!("{label}.console.log"));
    let data = logs.join(format!("{label}.data.log"));
    let t0 = Instant::now();
    let mut child = Command::new(&qemu.program)
        .args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m"])
        .arg(qemu.memory.to_string())
        .args(["-nodefaults", "-display", "none", "-no-reboot", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(&image.initramfs)
        .args(["-append", "console=ttyS0 panic=-1"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", data.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", qemu.program.display()))?;
    let timed_out = loop {
        if child.try_wait()?.is_some() {
            break false;
        }
        if t0.elapsed() > qemu.limit {
            let _ = child.kill();
            break true;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output()?;
    let seconds = t0.elapsed().as_secs_f64();
    let frames = parse(&String::from_utf8_lossy(
        &std::fs::read(&data).unwrap_or_default(),
    ));
    let lines = console_lines(&console);
    let failure = failure(
        timed_out,
        qemu.limit,
        &frames,
        &lines,
        &out.stderr,
        out.status,
    );
    let tail = lines[lines.len().saturating_sub(30)..].to_vec();
    let Frames { release, steps, .. } = frames;
    Ok(Column {
        label: label.to_string(),
        release: release.unwrap_or_else(|| "unknown".into()),
        // The image's file name: an absolute path would tie the report to
        // the machine that ran it.
        source: super::file_name(kernel),
        seconds,
        failure: failure.map(|reason| ColumnFailure {
            reason,
            console_tail: tail,
        }),
        cells: steps.iter().flat_map(cells).collect(),
    })
}

/// Why a guest's column failed, if it did.
fn failure(
    timed_out: bool,
    limit: Duration,
    frames: &Frames,
    console: &[String],
    stderr: &[u8],
    status: std::process::ExitStatus,
) -> Option<String> {
    let panic = console.iter().find(|l| l.contains("Kernel panic"));
    let unpacking = console
        .iter()
        .find(|l| l.contains("Initramfs unpacking failed"));
    if let Some(u) = unpacking {
        Some(format!(
            "{} (the guest's memory is too small for the programs: raise --memory)",
            u.trim()
        ))
    } else if timed_out {
        Some(format!(
            "the guest ran past its time limit of {limit:?} and was killed{}",
            step_hint(frames)
        ))
    } else if let Some(p) = panic {
        Some(format!("kernel panic: {}", p.trim()))
    } else if !frames.done {
        let qemu = String::from_utf8_lossy(stderr);
        Some(format!(
            "the guest stopped before finishing{} (QEMU {status}{})",
            step_hint(frames),
            if qemu.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", qemu.trim())
            }
        ))
    } else {
        None
    }
}

fn step_hint(frames: &Frames) -> String {
    match &frames.started {
        Some(s) => format!(" during step {s}"),
        None => String::new(),
    }
}

/// A step's output from its frames.
pub fn step_output(name: &str, out: Vec<u8>, err: Option<Vec<u8>>, rc: Option<i32>) -> StepOutput {
    StepOutput {
        name: name.to_string(),
        // busybox `timeout -s KILL` leaves 137 (killed) behind.
        status: rc.filter(|&c| c != 137),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: err
            .map(|e| String::from_utf8_lossy(&e).into_owned())
            .unwrap_or_default(),
    }
}

/// `anyhow` error for a kernel image that cannot be used.
pub fn check_kernel(path: &Path) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("kernel image {}", path.display()))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(anyhow!("kernel image {} is not a file", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn why_a_column_failed() {
        use std::os::unix::process::ExitStatusExt as _;
        let ok = std::process::ExitStatus::from_raw(0);
        let limit = Duration::from_secs(9);
        let lines = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let done = Frames {
            done: true,
            ..Frames::default()
        };
        let mid = Frames {
            started: Some("core/creds".into()),
            ..Frames::default()
        };
        assert_eq!(failure(false, limit, &done, &[], b"", ok), None);
        let hung = failure(true, limit, &mid, &[], b"", ok).unwrap();
        assert!(hung.contains("time limit of 9s") && hung.contains("during step core/creds"));
        let panic = lines(&["[ 1.0] Kernel panic - not syncing: VFS", "x"]);
        let why = failure(false, limit, &mid, &panic, b"", ok).unwrap();
        assert_eq!(why, "kernel panic: [ 1.0] Kernel panic - not syncing: VFS");
        let small = lines(&["Initramfs unpacking failed: write error"]);
        let why = failure(false, limit, &mid, &small, b"", ok).unwrap();
        assert!(why.contains("raise --memory"), "{why}");
        let why = failure(false, limit, &mid, &[], b"qemu: could not load kernel", ok).unwrap();
        assert!(
            why.contains("stopped before finishing during step core/creds")
                && why.contains("could not load kernel"),
            "{why}"
        );
    }

    #[test]
    fn script_runs_every_step() {
        let payload = Payload {
            audit: "/x/audit".into(),
            tests: vec![("creds".into(), "/x/creds-0".into())],
            expect: Some("/x/e.txt".into()),
            timeout: 10.0,
            step_limit: 60,
        };
        let s = init_script(&payload, &payload.steps());
        assert!(s.contains(
            "step 'kernel' 60 0 '/bin/inflight-audit' 'kernel' '--format' 'json' '--timeout' '10' '--expect' '/etc/inflight/expect.txt'"
        ), "{s}");
        assert!(
            s.contains("step 'core/creds' 60 1 '/tests/creds' '--test-threads=1' '--show-output'")
        );
        assert!(s.ends_with("finish\n"));
    }
}
