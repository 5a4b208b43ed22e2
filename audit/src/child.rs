//! Helpers the auditor runs in a child process of itself (hidden
//! `__child` subcommand), so that what they change (resource limits) is
//! isolated. (What a child inherits across exec, the crates battery asks
//! the conformance kit, which reads it from `/proc/PID/fd` of an exec'd
//! `sh`.)

/// Runs helper `what` with `args`; returns the exit status.
///
/// * `rlimit`: the receiver side of `kernel/rlimit-nofile`.
pub fn run(what: &str, _args: &[String]) -> i32 {
    match what {
        "rlimit" => crate::kernel::rlimit_child(),
        other => {
            eprintln!("inflight-audit __child: unknown helper {other:?}");
            2
        }
    }
}
