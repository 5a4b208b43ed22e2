//! Replays every committed seed (`seeds/<target>/`) and every fixed crash
//! input (`regressions/<target>/`) through the same function the fuzz
//! binary calls: on stable, without cargo-fuzz or libFuzzer.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The live targets check the descriptor table around each input: nothing
/// else in this binary may open or close descriptors meanwhile (reading the
/// next input file included), so every test holds this lock throughout.
static SERIAL: Mutex<()> = Mutex::new(());

fn inputs(target: &str, kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_, body) = inflight_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    let seeds = inputs(target, "seeds");
    assert!(
        !seeds.is_empty(),
        "{target}: no committed seeds in fuzz/seeds/{target}/"
    );
    let regressions = inputs(target, "regressions");
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("read input");
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: inputs that crash: {failed:#?}"
    );
    eprintln!(
        "{target}: replayed {} seeds and {} regressions",
        seeds.len(),
        regressions.len()
    );
}

#[test]
fn decode_cmsg() {
    replay("decode_cmsg");
}

#[test]
fn decode_differential() {
    replay("decode_differential");
}

#[test]
fn encode_roundtrip() {
    replay("encode_roundtrip");
}

#[test]
fn live_transfer() {
    replay("live_transfer");
}

#[test]
fn hostile_peer() {
    replay("hostile_peer");
}

/// Every target has a fuzz binary, and every binary a target: the list the
/// replay walks is the list the fuzzer runs.
#[test]
fn targets_match_the_manifest() {
    // Reading the manifest opens a descriptor: not while a live target
    // compares descriptor tables.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("read Cargo.toml");
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "inflight-fuzz")
        .collect();
    let names: Vec<&str> = inflight_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(bins, names);
}
