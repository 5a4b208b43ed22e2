//! A running program and the auditor's end of its socket: starting it as
//! the protocol says, ending it, and what it wrote when it fails.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use inflight::inspect::FdSnapshot;
use inflight::SocketKind;

use inflight_testkit::{cmsg, raw};

use super::exchange::ECHO_BUFFER;
use super::{list_fds, ProgramCmd};
use crate::sys;

/// The descriptor the program gets its socket on.
const SOCKET_FD: i32 = 3;

/// The environment the protocol gives the program: the socket's number and
/// kind, under the current names and (deprecated) the names of the first
/// protocol version.
const ENV_FD: [&str; 2] = ["INFLIGHT_ECHO_FD", "INFLIGHT_PEER_FD"];
const ENV_TYPE: [&str; 2] = ["INFLIGHT_ECHO_TYPE", "INFLIGHT_PEER_TYPE"];

/// A running program and the auditor's end of its socket.
pub(super) struct Session {
    child: Child,
    pub(super) sock: OwnedFd,
    pub(super) kind: SocketKind,
    pid: i32,
    baseline: Option<FdSnapshot>,
    pub(super) timeout: Duration,
    outputs: Vec<Receiver<Vec<u8>>>,
    /// Exchanges completed so far.
    pub(super) exchanges: usize,
}

/// Reads a program's stdout or stderr to the end on a thread. The result is
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

/// How a process ended, in words.
pub(super) fn describe_exit(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{st}"),
    }
}

/// The end of `s`, at most `max` characters, on one line.
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

/// ` [program output: ...]` (its end), or nothing when it wrote nothing.
fn said(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!(" [program output: {}]", tail(output, 300))
    }
}

/// Starts `cmd` with `theirs` as descriptor 3 and the protocol's
/// environment, standard input from `/dev/null`, output captured.
fn spawn(cmd: &ProgramCmd, kind: SocketKind, theirs: &OwnedFd) -> anyhow::Result<Child> {
    let raw = theirs.as_raw_fd();
    let mut c = Command::new(&cmd.program);
    c.args(&cmd.args);
    for name in ENV_FD {
        c.env(name, SOCKET_FD.to_string());
    }
    for name in ENV_TYPE {
        c.env(name, kind.name());
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe functions may be called: it calls dup2 and
    // fcntl only, allocates nothing and takes no locks.
    unsafe {
        c.pre_exec(move || {
            if raw == SOCKET_FD {
                if libc::fcntl(SOCKET_FD, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, SOCKET_FD) != SOCKET_FD {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.spawn()
        .with_context(|| format!("cannot start program {}", cmd.display()))
}

impl Session {
    /// Starts the program on a new socket pair of `kind`, makes a first
    /// exchange without descriptors (the program is then in its loop, done
    /// with start-up) and takes its descriptor table as the baseline.
    pub(super) fn start(
        cmd: &ProgramCmd,
        kind: SocketKind,
        timeout: Duration,
    ) -> anyhow::Result<Session> {
        let (mine, theirs) = inflight::socketpair(kind).context("socketpair")?;
        let mut child = spawn(cmd, kind, &theirs)?;
        drop(theirs);
        let mut outputs = Vec::new();
        if let Some(o) = child.stdout.take() {
            outputs.push(reader(o));
        }
        if let Some(e) = child.stderr.take() {
            outputs.push(reader(e));
        }
        inflight::set_nonblocking(&mine, true).context("O_NONBLOCK")?;
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
        if let Err(e) = s.exchange(b"inflight-audit hello", &[]) {
            return Err(anyhow!(s.fail(format!("start-up exchange: {e:#}"))));
        }
        let baseline = FdSnapshot::of_pid(pid).context("reading the program's /proc/PID/fd")?;
        s.baseline = Some(baseline);
        Ok(s)
    }

    /// Kills the program and appends how it ended and what it wrote.
    pub(super) fn fail(&mut self, what: String) -> String {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let output = self.collect_output();
        let mut msg = what;
        if let Some(st) = status {
            if st.signal() != Some(libc::SIGKILL) {
                msg.push_str(&format!(" [program {}]", describe_exit(st)));
            }
        }
        msg.push_str(&said(&output));
        msg
    }

    fn collect_output(&mut self) -> String {
        let mut all = Vec::new();
        for rx in self.outputs.drain(..) {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(v) => all.extend(v),
                Err(_) => {
                    all.extend_from_slice(b"[output still open: a child of the program holds it]")
                }
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    }

    /// How the program ended, if it has.
    pub(super) fn dead(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(describe_exit(st)),
            _ => None,
        }
    }

    /// Waits up to half a second for the program to end: how it did.
    pub(super) fn wait_exit_briefly(&mut self) -> String {
        let end = Instant::now() + Duration::from_millis(500);
        while Instant::now() < end {
            if let Some(st) = self.dead() {
                return format!("program {st}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        "program still running".into()
    }

    /// The program's descriptor table must come back to its baseline after
    /// each exchange (it may close its copies just after sending).
    pub(super) fn check_leaks(&mut self) -> anyhow::Result<()> {
        let Some(base) = &self.baseline else {
            return Ok(());
        };
        let deadline = Instant::now() + self.timeout.min(Duration::from_secs(2));
        let mut pause = Duration::from_micros(20);
        loop {
            let now = FdSnapshot::of_pid(self.pid).context("reading the program's /proc/PID/fd")?;
            let leaked = now.leaked_since(base);
            if leaked.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "program leaked {} (its descriptor table had {} entries before, {} after the exchange)",
                    list_fds(&leaked),
                    base.len(),
                    now.len()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }

    /// Sends end of input: an empty datagram, or `shutdown(SHUT_WR)`.
    fn end_input(&mut self) -> anyhow::Result<()> {
        let ended = if self.kind == SocketKind::Datagram {
            inflight::send_fds(&self.sock, &[], &[])
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            sys::shutdown_write(self.sock.as_fd()).map_err(|e| e.to_string())
        };
        if let Err(e) = ended {
            bail!(self.fail(format!("ending the session failed: {e}")));
        }
        Ok(())
    }

    /// Waits for the program to exit after the end of input.
    fn wait_exit(&mut self) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(st) = self.child.try_wait().context("waitpid")? {
                return Ok(st);
            }
            if Instant::now() > deadline {
                bail!(self.fail(format!(
                    "program did not exit within {:?} after the end of input (a 0-byte message without descriptors must end it with status 0)",
                    self.timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Ends the session: end of input, then the program must exit with
    /// status 0 and have sent nothing more.
    pub(super) fn finish(mut self) -> anyhow::Result<()> {
        self.end_input()?;
        let status = self.wait_exit()?;
        // Anything still queued is something the program sent unasked.
        let extra = self.unsolicited();
        let output = self.collect_output();
        let said = said(&output);
        match extra {
            Ok(None) => {}
            Ok(Some(what)) => bail!("program sent {what} after its last echo{said}"),
            Err(e) => bail!("receiving after the program exited failed: {e}{said}"),
        }
        if !status.success() {
            bail!(
                "program ended with {} after {} exchange(s){said}",
                describe_exit(status),
                self.exchanges
            );
        }
        Ok(())
    }

    /// What the program (which has exited) sent after its last echo, in
    /// words; `None` for nothing. Raw non-blocking receives with room for
    /// the largest message and `SCM_MAX_FD` descriptors drain the socket
    /// (the descriptors are closed). A 0-byte receive on a stream or
    /// seqpacket socket is the end of the connection (a 0-byte seqpacket
    /// message without descriptors cannot be told from it).
    ///
    /// # Errors
    ///
    /// A receive failed with anything but `EAGAIN` (for example
    /// `ECONNRESET`: the program exited leaving input unread).
    fn unsolicited(&self) -> std::io::Result<Option<String>> {
        const CONTROL: usize = cmsg::space(4 * inflight::SCM_MAX_FD) + cmsg::space(12) + 64;
        let mut buf = vec![0u8; ECHO_BUFFER];
        let (mut messages, mut bytes, mut fds, mut cut) = (0usize, 0usize, 0usize, false);
        // Bounded: a program cannot queue more than the socket buffer.
        while messages < 100_000 {
            let r = match raw::recvmsg(
                self.sock.as_fd(),
                &mut buf,
                Some(CONTROL),
                libc::MSG_DONTWAIT,
            ) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
                Ok(r) => r,
            };
            if r.bytes == 0 && r.fds.is_empty() && self.kind != SocketKind::Datagram {
                break;
            }
            messages += 1;
            bytes += r.bytes;
            fds += r.fds.len();
            cut |= r.trunc() || r.ctrunc();
        }
        Ok((messages > 0).then(|| {
            format!(
                "{messages} unexpected message(s): {}{bytes} byte(s) and {fds} descriptor(s)",
                if cut { "more than " } else { "" }
            )
        }))
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
