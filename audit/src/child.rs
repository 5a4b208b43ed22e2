//! Helpers the auditor runs in a child process of itself (hidden
//! `__child` subcommand), so that what they change (resource limits) or
//! inherit (descriptors across exec) is isolated.

/// Runs helper `what` with `args`; returns the exit status.
///
/// * `rlimit`: the receiver side of `kernel/rlimit-nofile`.
/// * `fd-probe N...`: prints, for each descriptor number, whether it is open
///   in this freshly exec'd process and what it refers to.
pub fn run(what: &str, args: &[String]) -> i32 {
    match what {
        "rlimit" => crate::kernel::rlimit_child(),
        "fd-probe" => {
            for a in args {
                match std::fs::read_link(format!("/proc/self/fd/{a}")) {
                    Ok(t) => println!("fd {a} open {}", t.display()),
                    Err(_) => println!("fd {a} closed"),
                }
            }
            0
        }
        other => {
            eprintln!("inflight-audit __child: unknown helper {other:?}");
            2
        }
    }
}
