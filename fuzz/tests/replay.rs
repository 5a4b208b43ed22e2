//! Replays every committed seed (`seeds/<target>/`) and every fixed crash
//! input (`regressions/<target>/`) through the same function the fuzz
//! binary calls: on stable, without cargo-fuzz or libFuzzer.

use std::path::{Path, PathBuf};

use inflight_testkit::serial;

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
    let (_, body) = inflight_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    // The live targets take the test kit's lock and check the descriptor
    // table around each input: this test reads its files under the same
    // lock, so that no guard sees them come and go, and calls the target
    // without it.
    let (seeds, regressions, files) = {
        let _serial = serial();
        let seeds = inputs(target, "seeds");
        let regressions = inputs(target, "regressions");
        let files: Vec<(PathBuf, Vec<u8>)> = seeds
            .iter()
            .chain(&regressions)
            .map(|p| (p.clone(), std::fs::read(p).expect("read input")))
            .collect();
        (seeds, regressions, files)
    };
    assert!(
        !seeds.is_empty(),
        "{target}: no committed seeds in fuzz/seeds/{target}/"
    );
    let mut failed = Vec::new();
    for (path, data) in &files {
        if std::panic::catch_unwind(|| body(data)).is_err() {
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
    let _serial = serial();
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
