//! Fault injection (`--inject`): which calls to disturb, and what each
//! injection did, so the report can say what the program did next.

use std::str::FromStr;

use anyhow::{bail, Context as _};

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Shrink `msg_controllen` at `recvmsg` entry so the kernel truncates.
    Ctrunc,
    /// Lower `RLIMIT_NOFILE` around `recvmsg` so the kernel truncates at
    /// the receiver's limit.
    Emfile,
    /// Interrupt a blocking `sendmsg`/`recvmsg` with a signal (`EINTR`).
    Eintr,
}

impl Fault {
    /// The name on the command line and in the case name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Ctrunc => "ctrunc",
            Fault::Emfile => "emfile",
            Fault::Eintr => "eintr",
        }
    }
}

/// One `--inject NAME[=EVERY]`: disturb every EVERY-th eligible call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The fault.
    pub fault: Fault,
    /// Every how many eligible calls (1: all).
    pub every: u32,
}

impl FromStr for Spec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Spec> {
        let (name, every) = s.split_once('=').unwrap_or((s, "1"));
        let fault = match name {
            "ctrunc" => Fault::Ctrunc,
            "emfile" => Fault::Emfile,
            "eintr" => Fault::Eintr,
            other => {
                bail!("--inject {other:?}: expected ctrunc, emfile or eintr (optionally =EVERY)")
            }
        };
        let every: u32 = every
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("--inject {s:?}: EVERY must be a positive integer"))?;
        Ok(Spec { fault, every })
    }
}

/// One injection and what the call then returned.
#[derive(Clone, Debug)]
pub struct Injection {
    /// The fault.
    pub fault: Fault,
    /// The process.
    pub pid: i32,
    /// What was done and what the call returned, in words.
    pub what: String,
    /// Descriptors the disturbed call installed.
    pub installed: Vec<i32>,
    /// Writes to standard error the process had made before.
    pub stderr_before: usize,
    /// The thread called the same function on the same socket next.
    pub retried: bool,
}

/// The injection plan and its record.
#[derive(Clone, Debug, Default)]
pub struct Injector {
    specs: Vec<Spec>,
    seen: [u32; 3],
    /// Every injection made, in order.
    pub done: Vec<Injection>,
}

impl Injector {
    /// An injector for `specs`.
    pub fn new(specs: Vec<Spec>) -> Injector {
        Injector {
            specs,
            ..Injector::default()
        }
    }

    /// Counts an eligible call for `fault`; true when this one is to be
    /// disturbed.
    pub fn due(&mut self, fault: Fault) -> bool {
        let Some(spec) = self.specs.iter().find(|s| s.fault == fault) else {
            return false;
        };
        let i = fault as usize;
        self.seen[i] += 1;
        self.seen[i] % spec.every == 0
    }

    /// The faults asked for.
    pub fn faults(&self) -> impl Iterator<Item = Fault> + '_ {
        self.specs.iter().map(|s| s.fault)
    }
}

/// The new `msg_controllen` for a forced truncation of a message with
/// `queued` descriptors (unknown: `None`): room for one fewer than queued,
/// or for none (the header alone), never more than `given`.
pub fn shrunk(given: u64, queued: Option<usize>) -> u64 {
    let keep = match queued {
        Some(n) if n >= 2 => n - 1,
        _ => 0,
    };
    (inflight::codec::cmsg_len(4 * keep) as u64).min(given)
}

/// The `RLIMIT_NOFILE` soft limit that leaves exactly `room` free
/// descriptor numbers below it, given the numbers in use.
pub fn limit_for(in_use: &[i32], room: usize) -> u64 {
    let mut free = 0usize;
    let mut n = 0i32;
    loop {
        if !in_use.contains(&n) {
            if free == room {
                return n as u64;
            }
            free += 1;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s: Spec = "ctrunc=3".parse().unwrap();
        assert_eq!((s.fault, s.every), (Fault::Ctrunc, 3));
        assert_eq!("eintr".parse::<Spec>().unwrap().every, 1);
        assert!("ctrunc=0".parse::<Spec>().is_err());
        assert!("nope".parse::<Spec>().is_err());
    }

    #[test]
    fn every_nth() {
        let mut i = Injector::new(vec![Spec {
            fault: Fault::Ctrunc,
            every: 2,
        }]);
        let got: Vec<bool> = (0..4).map(|_| i.due(Fault::Ctrunc)).collect();
        assert_eq!(got, [false, true, false, true]);
        assert!(!i.due(Fault::Eintr));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(shrunk(64, Some(3)), 24);
        assert_eq!(shrunk(64, Some(1)), 16);
        assert_eq!(shrunk(64, None), 16);
        assert_eq!(shrunk(8, None), 8);
        assert_eq!(limit_for(&[0, 1, 2, 4], 0), 3);
        assert_eq!(limit_for(&[0, 1, 2, 4], 1), 5);
        assert_eq!(limit_for(&[0, 1, 2], 2), 5);
    }
}
