//! Auditing an external program through the echo protocol (`PROTOCOL.md`).

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use inflight::inspect::{file_id, same_file, FdSnapshot, Sameness};
use inflight::{ErrorKind, SocketKind};
use inflight_impls::{FdKind, Fixture};

use crate::ensure;
use crate::runner::{Case, CaseResult, Context, Outcome, Settings};
use crate::sys;

/// The peer command line.
#[derive(Clone, Debug)]
pub struct PeerCmd {
    /// The program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl PeerCmd {
    /// The command line, for reports.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A message the auditor sends: payload and descriptors (indexes into the
/// case's fixtures, repeats allowed).
struct Msg {
    payload: Vec<u8>,
    fds: Vec<usize>,
}

/// Deterministic payload bytes (a small LCG seeded by `seed`).
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

/// Every peer case for every kind in `kinds`.
pub fn cases(cmd: &PeerCmd, kinds: &[SocketKind]) -> Vec<Case> {
    let cmd = Rc::new(cmd.clone());
    let mut out = Vec::new();
    for &kind in kinds {
        let k = kind.name();
        let shared: Shared = Rc::new(RefCell::new(None));
        let mut add = |name: String, fixtures: Vec<FdKind>, msgs: Vec<Msg>| {
            let cmd = Rc::clone(&cmd);
            let shared = Rc::clone(&shared);
            out.push(Case::new(
                format!("peer/{k}/{name}"),
                move |s: &Settings| run_case(&cmd, kind, s, &shared, &fixtures, &msgs),
            ));
        };
        add(
            "payload-only".into(),
            vec![],
            vec![Msg {
                payload: payload(64, 1),
                fds: vec![],
            }],
        );
        for n in [1usize, 2, 16, 253] {
            let fixtures: Vec<FdKind> =
                (0..n).map(|i| FdKind::ALL[i % FdKind::ALL.len()]).collect();
            add(
                format!("fds-{n}"),
                fixtures,
                vec![Msg {
                    payload: payload(8, n as u32),
                    fds: (0..n).collect(),
                }],
            );
        }
        add(
            "repeats".into(),
            vec![FdKind::File, FdKind::PipeRead, FdKind::DevNull],
            vec![Msg {
                payload: b"repeats".to_vec(),
                fds: vec![0, 1, 0, 0, 2, 1],
            }],
        );
        for fk in FdKind::ALL {
            add(
                format!("kind-{}", fk.name()),
                vec![fk],
                vec![Msg {
                    payload: fk.name().as_bytes().to_vec(),
                    fds: vec![0],
                }],
            );
        }
        add(
            "all-kinds".into(),
            FdKind::ALL.to_vec(),
            vec![Msg {
                payload: b"all kinds".to_vec(),
                fds: (0..FdKind::ALL.len()).collect(),
            }],
        );
        for len in [1usize, 100, 4096, 16384, 61440] {
            add(
                format!("payload-{len}"),
                vec![FdKind::File],
                vec![Msg {
                    payload: payload(len, len as u32),
                    fds: vec![0],
                }],
            );
        }
        if kind != SocketKind::Stream {
            add(
                "empty-payload".into(),
                vec![FdKind::File, FdKind::PipeWrite],
                vec![Msg {
                    payload: vec![],
                    fds: vec![0, 1],
                }],
            );
        }
        let msgs: Vec<Msg> = (0..1000u32)
            .map(|i| Msg {
                payload: payload(1 + (i as usize * 37) % 512, i),
                fds: match i % 4 {
                    0 => vec![],
                    1 => vec![0],
                    2 => vec![1, 2],
                    _ => vec![2, 0, 1],
                },
            })
            .collect();
        add(
            "1000-messages".into(),
            vec![FdKind::MemFd, FdKind::PipeRead, FdKind::EventFd],
            msgs,
        );
        let cmd = Rc::clone(&cmd);
        out.push(Case::new(format!("peer/{k}/clean-exit"), move |s: &Settings| {
            let mut slot = shared.borrow_mut();
            session(&mut slot, &cmd, kind, s)?;
            let own_before = FdSnapshot::take().ctx("reading /proc/self/fd")?;
            let session = slot.take().ok_or("no session")?;
            let exchanges = session.exchanges;
            session.finish()?;
            let leaked = FdSnapshot::take()
                .ctx("reading /proc/self/fd")?
                .leaked_since(&own_before);
            ensure!(leaked.is_empty(), "AUDITOR BUG: the auditor leaked {}", list_fds(&leaked));
            Ok(Outcome::pass(format!(
                "after {exchanges} exchange(s), end of input ({}): the peer exited with status 0 and sent nothing more",
                if kind == SocketKind::Datagram {
                    "a 0-byte datagram without descriptors"
                } else {
                    "shutdown(SHUT_WR)"
                }
            )))
        }));
    }
    out
}

/// The peer process of one socket kind, shared by that kind's cases (a
/// peer starts once per kind, not once per case); a failing case kills it
/// and the next case starts a fresh one.
type Shared = Rc<RefCell<Option<Session>>>;

fn session<'a>(
    slot: &'a mut Option<Session>,
    cmd: &PeerCmd,
    kind: SocketKind,
    s: &Settings,
) -> Result<&'a mut Session, String> {
    if slot.is_none() {
        *slot = Some(Session::start(cmd, kind, s.timeout)?);
    }
    slot.as_mut().ok_or_else(|| "no session".to_string())
}

fn run_case(
    cmd: &PeerCmd,
    kind: SocketKind,
    s: &Settings,
    shared: &Shared,
    kinds: &[FdKind],
    msgs: &[Msg],
) -> CaseResult {
    let mut slot = shared.borrow_mut();
    session(&mut slot, cmd, kind, s)?;
    let own_before = FdSnapshot::take().ctx("reading /proc/self/fd")?;
    let result = (|| {
        let session = session(&mut slot, cmd, kind, s)?;
        let fixtures: Vec<Fixture> = kinds
            .iter()
            .map(|k| k.open().ctx(&format!("opening a {} fixture", k.name())))
            .collect::<Result<_, _>>()?;
        let mut notes = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let fds: Vec<BorrowedFd<'_>> = m.fds.iter().map(|&j| fixtures[j].as_fd()).collect();
            let labels: Vec<&str> = m.fds.iter().map(|&j| fixtures[j].kind.name()).collect();
            if let Err(e) = session.exchange(&m.payload, &fds, &labels, &mut notes) {
                let what = if msgs.len() > 1 {
                    format!("message {} of {}: {e}", i + 1, msgs.len())
                } else {
                    e
                };
                return Err(session.fail(what));
            }
        }
        let total_fds: usize = msgs.iter().map(|m| m.fds.len()).sum();
        let summary = format!(
            "{} message(s), {} descriptor(s), {} payload byte(s) echoed identically (kcmp), no peer leak",
            msgs.len(),
            total_fds,
            msgs.iter().map(|m| m.payload.len()).sum::<usize>()
        );
        if let Some(n) = notes.first() {
            return Ok(Outcome::skip(format!(
                "identity not verifiable: {n} (bytes, counts and leaks checked)"
            )));
        }
        Ok(Outcome::pass(summary))
    })();
    if result.is_err() {
        // The peer was killed (or never started): the next case starts a
        // fresh one.
        *slot = None;
    }
    // The auditor itself must not leak, whatever the peer did.
    let own_after = FdSnapshot::take().ctx("reading /proc/self/fd")?;
    let leaked = own_after.leaked_since(&own_before);
    if !leaked.is_empty() {
        return Err(format!(
            "AUDITOR BUG: the auditor leaked {}; case result was {result:?}",
            list_fds(&leaked)
        ));
    }
    result
}

fn list_fds(fds: &[inflight::inspect::OpenFd]) -> String {
    let shown: Vec<String> = fds.iter().take(6).map(|f| f.to_string()).collect();
    let more = if fds.len() > 6 {
        format!(" and {} more", fds.len() - 6)
    } else {
        String::new()
    };
    format!("{} descriptor(s): {}{more}", fds.len(), shown.join(", "))
}

/// A running peer and the auditor's end of its socket.
struct Session {
    child: Child,
    sock: OwnedFd,
    kind: SocketKind,
    pid: i32,
    baseline: Option<FdSnapshot>,
    timeout: Duration,
    outputs: Vec<Receiver<Vec<u8>>>,
    exchanges: usize,
}

/// Reads a peer's stdout or stderr to the end on a thread. The result is
/// awaited with a time limit: a grandchild could keep the pipe open.
fn reader(mut r: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        // Close the pipe before handing the text over, so that a receiver
        // that got the text sees the descriptor gone.
        drop(r);
        let _ = tx.send(v);
    });
    rx
}

fn describe_exit(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{st}"),
    }
}

impl Session {
    fn start(cmd: &PeerCmd, kind: SocketKind, timeout: Duration) -> Result<Session, String> {
        let (mine, theirs) = inflight::socketpair(kind).ctx("socketpair")?;
        let raw = theirs.as_raw_fd();
        let mut c = Command::new(&cmd.program);
        c.args(&cmd.args)
            .env("INFLIGHT_PEER_FD", "3")
            .env("INFLIGHT_PEER_TYPE", kind.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure runs in the child between fork and exec, where
        // only async-signal-safe functions may be called: it calls dup2 and
        // fcntl only, allocates nothing and takes no locks.
        unsafe {
            c.pre_exec(move || {
                if raw == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(raw, 3) != 3 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot start peer {}: {e}", cmd.display()))?;
        drop(theirs);
        let mut outputs = Vec::new();
        if let Some(o) = child.stdout.take() {
            outputs.push(reader(o));
        }
        if let Some(e) = child.stderr.take() {
            outputs.push(reader(e));
        }
        inflight::set_nonblocking(&mine, true).ctx("O_NONBLOCK")?;
        let pid = child.id() as i32;
        let mut s = Session {
            child,
            sock: mine,
            kind,
            pid,
            baseline: None,
            timeout,
            outputs,
            exchanges: 0,
        };
        // A first exchange without descriptors: the peer is then in its loop,
        // done with start-up, and its descriptor table is the baseline.
        let mut notes = Vec::new();
        if let Err(e) = s.exchange(b"inflight-audit hello", &[], &[], &mut notes) {
            return Err(s.fail(format!("start-up exchange: {e}")));
        }
        s.baseline = Some(FdSnapshot::of_pid(pid).ctx("reading the peer's /proc/PID/fd")?);
        Ok(s)
    }

    /// Kills the peer and appends what it wrote to stderr.
    fn fail(&mut self, what: String) -> String {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let output = self.collect_output();
        let mut msg = what;
        if let Some(st) = status {
            if st.signal() != Some(libc::SIGKILL) {
                msg.push_str(&format!(" [peer {}]", describe_exit(st)));
            }
        }
        if !output.trim().is_empty() {
            msg.push_str(&format!(" [peer output: {}]", tail(&output, 300)));
        }
        msg
    }

    fn collect_output(&mut self) -> String {
        let mut all = Vec::new();
        for rx in self.outputs.drain(..) {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(v) => all.extend(v),
                Err(_) => {
                    all.extend_from_slice(b"[output still open: a child of the peer holds it]")
                }
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    }

    fn dead(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(describe_exit(st)),
            _ => None,
        }
    }

    fn send(
        &mut self,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
        deadline: Instant,
    ) -> Result<(), String> {
        let mut sent = 0;
        let mut first = true;
        loop {
            let carry: &[BorrowedFd<'_>] = if first { fds } else { &[] };
            match inflight::send_fds(&self.sock, &payload[sent..], carry) {
                Ok(n) => {
                    first = false;
                    sent += n;
                    if sent >= payload.len() {
                        return Ok(());
                    }
                }
                Err(e) if e.is_would_block() => {
                    if let Some(st) = self.dead() {
                        return Err(format!("peer exited ({st}) while the auditor was sending"));
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "peer did not read the message within {:?} (socket buffer full: hung?)",
                            self.timeout
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(format!("sending to the peer failed: {e}")),
            }
        }
    }

    /// Sends one message and checks its echo.
    fn exchange(
        &mut self,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
        labels: &[&str],
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + self.timeout;
        self.send(payload, fds, deadline)?;
        // Receive the echo (in pieces on a stream socket).
        let mut buf = vec![0u8; 65536 + 1];
        let mut got: Vec<u8> = Vec::with_capacity(payload.len());
        let mut back: Vec<OwnedFd> = Vec::new();
        let mut pieces = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let why = if got.is_empty() && back.is_empty() {
                    "peer hung"
                } else {
                    "the echo is shorter than the message (payload truncated), or the peer hung"
                };
                return Err(format!(
                    "no complete echo within {:?} (got {} of {} bytes, {} of {} descriptors): {why}",
                    self.timeout,
                    got.len(),
                    payload.len(),
                    back.len(),
                    fds.len()
                ));
            }
            let rev = sys::poll_in(self.sock.as_fd(), remaining.min(Duration::from_millis(50)))
                .ctx("poll")?;
            if rev == 0 {
                if let Some(st) = self.dead() {
                    return Err(format!("peer exited ({st}) without echoing the message"));
                }
                continue;
            }
            match inflight::recv_fds_vec(&self.sock, &mut buf, inflight::SCM_MAX_FD) {
                Ok(r) => {
                    if r.bytes == 0 && r.fds.is_empty() && self.kind == SocketKind::Stream {
                        let st = self.wait_exit_briefly();
                        return Err(format!(
                            "peer closed the connection instead of echoing ({st}; got {} of {} bytes)",
                            got.len(),
                            payload.len()
                        ));
                    }
                    pieces += 1;
                    got.extend_from_slice(&buf[..r.bytes]);
                    back.extend(r.fds);
                }
                Err(e) if e.is_would_block() => continue,
                Err(mut e) => {
                    let arrived = e.take_fds().len();
                    let what = match e.kind() {
                        ErrorKind::PayloadTruncated => format!(
                            "peer sent a message longer than the {} bytes sent (truncated at {} bytes)",
                            payload.len(),
                            buf.len()
                        ),
                        ErrorKind::ControlBufferFull | ErrorKind::ReceiverLimit => format!(
                            "peer sent more descriptors than the auditor can receive ({arrived} arrived): {e}"
                        ),
                        _ => format!("receiving the echo failed: {e}"),
                    };
                    return Err(what);
                }
            }
            if self.kind != SocketKind::Stream || got.len() >= payload.len() {
                break;
            }
        }
        self.exchanges += 1;
        if got != payload {
            let first_diff = got
                .iter()
                .zip(payload)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(payload.len()));
            return Err(format!(
                "payload differs: sent {} bytes, echoed {} bytes{} (first difference at byte {first_diff})",
                payload.len(),
                got.len(),
                if pieces > 1 { format!(" in {pieces} pieces") } else { String::new() }
            ));
        }
        if back.len() != fds.len() {
            return Err(format!(
                "descriptor count differs: sent {} ({}), echoed {}",
                fds.len(),
                labels.join(", "),
                back.len()
            ));
        }
        for (i, (sent, got)) in fds.iter().zip(&back).enumerate() {
            match same_file(*sent, got.as_fd()) {
                Sameness::Same => {}
                Sameness::Different => {
                    let elsewhere = fds
                        .iter()
                        .position(|f| same_file(*f, got.as_fd()) == Sameness::Same);
                    let what = match elsewhere {
                        Some(j) => format!(
                            "order not preserved: echoed descriptor #{i} is sent descriptor #{j} ({}), expected #{i} ({})",
                            labels[j], labels[i]
                        ),
                        None => {
                            let same_inode = match (file_id(*sent), file_id(got.as_fd())) {
                                (Ok(a), Ok(b)) => a == b,
                                _ => false,
                            };
                            if same_inode {
                                format!(
                                    "echoed descriptor #{i} ({}) is the same file (fstat dev/inode equal) but not the same open file description (kcmp): the peer reopened it instead of passing the descriptor it received",
                                    labels[i]
                                )
                            } else {
                                format!(
                                    "echoed descriptor #{i} ({}) is a different file altogether (kcmp and fstat differ)",
                                    labels[i]
                                )
                            }
                        }
                    };
                    return Err(what);
                }
                Sameness::Unknown(reason) => {
                    if file_id(*sent).ok() != file_id(got.as_fd()).ok() {
                        return Err(format!(
                            "echoed descriptor #{i} ({}) is a different file (fstat)",
                            labels[i]
                        ));
                    }
                    if notes.is_empty() {
                        notes.push(reason.to_string());
                    }
                }
            }
        }
        drop(back);
        self.check_leaks()
    }

    /// The peer's descriptor table must come back to its baseline after
    /// each exchange (it may close its copies just after sending).
    fn check_leaks(&mut self) -> Result<(), String> {
        let Some(base) = &self.baseline else {
            return Ok(());
        };
        let deadline = Instant::now() + self.timeout.min(Duration::from_secs(2));
        let mut pause = Duration::from_micros(20);
        loop {
            let now = FdSnapshot::of_pid(self.pid).ctx("reading the peer's /proc/PID/fd")?;
            let leaked = now.leaked_since(base);
            if leaked.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "peer leaked {} (its descriptor table had {} entries before, {} after the exchange)",
                    list_fds(&leaked),
                    base.len(),
                    now.len()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }

    fn wait_exit_briefly(&mut self) -> String {
        let end = Instant::now() + Duration::from_millis(500);
        while Instant::now() < end {
            if let Some(st) = self.dead() {
                return format!("peer {st}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        "peer still running".into()
    }

    /// Ends the session: an empty message (datagram) or end of stream, then
    /// the peer must exit with status 0 and have sent nothing more.
    fn finish(mut self) -> Result<(), String> {
        let ended = if self.kind == SocketKind::Datagram {
            inflight::send_fds(&self.sock, &[], &[])
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            sys::shutdown_write(self.sock.as_fd()).map_err(|e| e.to_string())
        };
        if let Err(e) = ended {
            return Err(self.fail(format!("ending the session failed: {e}")));
        }
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().ctx("waitpid")? {
                break st;
            }
            if Instant::now() > deadline {
                return Err(self.fail(format!(
                    "peer did not exit within {:?} after the end of input (a 0-byte message without descriptors must end it with status 0)",
                    self.timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // Anything still queued is something the peer sent unasked.
        let mut buf = [0u8; 256];
        if let Ok(r) = inflight::recv_fds_vec(&self.sock, &mut buf, inflight::SCM_MAX_FD) {
            if r.bytes > 0 || !r.fds.is_empty() {
                let output = self.collect_output();
                return Err(format!(
                    "peer sent {} unexpected byte(s) and {} descriptor(s) after its last echo [peer output: {}]",
                    r.bytes,
                    r.fds.len(),
                    tail(&output, 300)
                ));
            }
        }
        let output = self.collect_output();
        if !status.success() {
            return Err(format!(
                "peer ended with {} after {} exchange(s) [peer output: {}]",
                describe_exit(status),
                self.exchanges,
                tail(&output, 300)
            ));
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for rx in self.outputs.drain(..) {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    }
}

fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    let n = s.chars().count();
    let t: String = if n > max {
        format!("…{}", s.chars().skip(n - max).collect::<String>())
    } else {
        s.to_string()
    };
    t.replace('\n', " | ")
}
