//! Facts about this process and kernel that decide what the kernel accepts
//! and which paths a target can drive, found once per process without
//! going through inflight.

use std::sync::OnceLock;

use inflight_testkit::probe::{self, Support};

/// `SO_PASSRIGHTS` (Linux 6.16), from the test kit.
pub(crate) const SO_PASSRIGHTS: i32 = probe::SO_PASSRIGHTS;

/// Facts about this process that decide what the kernel accepts.
pub(crate) struct Facts {
    pub pid: i32,
    pub ppid: i32,
    pub uids: [u32; 3],
    pub gids: [u32; 3],
    pub cap_sys_admin: bool,
    pub cap_setuid: bool,
    pub cap_setgid: bool,
    /// `CAP_SYS_ADMIN` or `CAP_SYS_RESOURCE`: exempt from the per-user
    /// in-flight descriptor limit (`ETOOMANYREFS`).
    pub inflight_exempt: bool,
    pub pid_max: i32,
    /// The uid/gid maps of our user namespace: (first, count) ranges.
    pub uid_map: Vec<(u32, u64)>,
    pub gid_map: Vec<(u32, u64)>,
    /// The kernel has `SO_PASSPIDFD` (the kit's raw probe: only
    /// `ENOPROTOOPT` means it has not).
    pub pidfd: bool,
    /// The kernel has `SO_PASSRIGHTS` (the same probe).
    pub passrights: bool,
}

/// The facts, found on the first call (which opens and closes
/// descriptors: make it before a leak guard starts).
///
/// # Panics
///
/// When a feature probe fails with anything but `ENOPROTOOPT`.
pub(crate) fn facts() -> &'static Facts {
    static FACTS: OnceLock<Facts> = OnceLock::new();
    FACTS.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| -> Vec<String> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|rest| rest.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let ids = |name: &str| -> [u32; 3] {
            let v: Vec<u32> = field(name).iter().filter_map(|s| s.parse().ok()).collect();
            [v[0], v[1], v[2]]
        };
        let cap_eff = field("CapEff:")
            .first()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        let map = |path: &str| -> Vec<(u32, u64)> {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let v: Vec<u64> = l
                        .split_whitespace()
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    (v.len() == 3).then(|| (v[0] as u32, v[2]))
                })
                .collect()
        };
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 22);
        let cap = |bit: u32| cap_eff & (1 << bit) != 0;
        Facts {
            pid: std::process::id() as i32,
            // SAFETY: getppid(2) takes no arguments and cannot fail.
            ppid: unsafe { libc::getppid() },
            uids: ids("Uid:"),
            gids: ids("Gid:"),
            cap_sys_admin: cap(21),
            cap_setuid: cap(7),
            cap_setgid: cap(6),
            inflight_exempt: cap(21) || cap(24),
            pid_max,
            uid_map: map("/proc/self/uid_map"),
            gid_map: map("/proc/self/gid_map"),
            pidfd: kernel_has(probe::SO_PASSPIDFD, "SO_PASSPIDFD (SCM_PIDFD checks)"),
            passrights: kernel_has(SO_PASSRIGHTS, "SO_PASSRIGHTS (refused-rights checks)"),
        }
    })
}

/// Whether the kernel knows socket option `name`, asked with the kit's raw
/// `setsockopt`; says `skipped:` once on stderr when it does not.
fn kernel_has(name: i32, what: &str) -> bool {
    match probe::socket_option(name) {
        Ok(Support::Present) => true,
        Ok(Support::Missing(why)) => {
            probe::skipped(&format!("{what}: {why}"));
            false
        }
        Err(e) => panic!("probing {what}: {e} (only ENOPROTOOPT means missing)"),
    }
}

/// Whether `id` maps into the kernel's id space (`uid_valid(make_kuid())`).
pub(crate) fn id_mapped(map: &[(u32, u64)], id: u32) -> bool {
    map.iter()
        .any(|&(first, count)| id >= first && u64::from(id - first) < count)
}
