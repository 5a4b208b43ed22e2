//! `trace` under load: a 4-thread program making 10,000 transfers; every
//! message and descriptor the program counts, the tracer counts too. The
//! slowdown is printed (audit/README.md quotes it).

#[path = "trace/support.rs"]
mod support;

use std::process::Command;
use std::time::Instant;

use support::{cc, trace};

#[test]
fn ten_thousand_transfers_on_four_threads_lose_no_event() {
    let Some(exe) = cc("load", &["-pthread"]) else {
        return;
    };
    let t0 = Instant::now();
    let plain = Command::new(&exe).output().expect("running load");
    let untraced = t0.elapsed();
    assert!(plain.status.success());
    let own = String::from_utf8_lossy(&plain.stdout).trim().to_string();
    assert_eq!(
        own,
        "sent 10000 messages with 25000 descriptors, received 10000 messages with 25000 descriptors"
    );
    let t0 = Instant::now();
    let r = trace(&[], &[exe.to_str().unwrap()]);
    let traced = t0.elapsed();
    assert_eq!(r.not_passing(), vec![], "{}", r.json);
    // The program's own report went to standard error (the JSON report
    // has standard output): it still counts everything.
    assert!(r.stderr.contains(&own), "{}", r.stderr);
    let cases = r.process_cases();
    assert_eq!(cases.len(), 1, "{cases:?}");
    let d = r.detail(&cases[0]);
    assert!(
        d.contains("sent 10000 message(s) with 25000 descriptor(s), received 10000 message(s) with 25000 descriptor(s)"),
        "{d}"
    );
    println!(
        "load: untraced {:.3} s, traced {:.3} s (whole auditor run), {:.1}x",
        untraced.as_secs_f64(),
        traced.as_secs_f64(),
        traced.as_secs_f64() / untraced.as_secs_f64().max(1e-6)
    );
}
