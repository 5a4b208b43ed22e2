//! One exchange with the program: send a message, receive its echo, and
//! check the bytes, the descriptors and the program's descriptor table.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use inflight::{ErrorKind, SocketKind};

use super::session::Session;
use crate::compare::{compare, Identity, Sent};
use crate::sys;

/// The echo of one message as it arrived (in pieces on a stream socket).
#[derive(Default)]
struct Echo {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
    pieces: usize,
}

/// What was expected back: the message sent.
#[derive(Clone, Copy)]
struct Want {
    bytes: usize,
    fds: usize,
}

/// The receive buffer: one byte more than the largest message, so that a
/// longer echo shows as truncation.
pub(super) const ECHO_BUFFER: usize = 65536 + 1;

/// Why a receive of the echo failed.
fn receive_error(mut e: inflight::Error, want: Want) -> String {
    let arrived = e.take_fds().len();
    match e.kind() {
        ErrorKind::PayloadTruncated => format!(
            "program sent a message longer than the {} bytes sent (truncated at {ECHO_BUFFER} bytes)",
            want.bytes
        ),
        ErrorKind::ControlBufferFull | ErrorKind::ReceiverLimit => format!(
            "program sent more descriptors than the auditor can receive ({arrived} arrived): {e}"
        ),
        _ => format!("receiving the echo failed: {e}"),
    }
}

/// The payload must come back unchanged.
fn check_payload(payload: &[u8], echo: &Echo) -> anyhow::Result<()> {
    if echo.bytes == payload {
        return Ok(());
    }
    let first_diff = echo
        .bytes
        .iter()
        .zip(payload)
        .position(|(a, b)| a != b)
        .unwrap_or(echo.bytes.len().min(payload.len()));
    let pieces = if echo.pieces > 1 {
        format!(" in {} pieces", echo.pieces)
    } else {
        String::new()
    };
    bail!(
        "payload differs: sent {} bytes, echoed {} bytes{pieces} (first difference at byte {first_diff})",
        payload.len(),
        echo.bytes.len()
    )
}

impl Session {
    /// Sends one message and checks its echo: the same bytes, the same
    /// descriptors in order ([`compare`]), and nothing left open in the
    /// program.
    pub(super) fn exchange(
        &mut self,
        payload: &[u8],
        sent: &[Sent<'_>],
    ) -> anyhow::Result<Identity> {
        let deadline = Instant::now() + self.timeout;
        let fds: Vec<BorrowedFd<'_>> = sent.iter().map(|s| s.fd).collect();
        self.send(payload, &fds, deadline)?;
        let want = Want {
            bytes: payload.len(),
            fds: fds.len(),
        };
        let echo = self.receive_echo(want, deadline)?;
        self.exchanges += 1;
        check_payload(payload, &echo)?;
        let identity = compare(sent, &echo.fds)?;
        drop(echo);
        self.check_leaks()?;
        Ok(identity)
    }

    /// Sends `payload` with `fds` (the descriptors with the first write;
    /// a stream socket may take the payload in several).
    fn send(
        &mut self,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
        deadline: Instant,
    ) -> anyhow::Result<()> {
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
                Err(e) if e.is_would_block() => self.wait_writable(deadline)?,
                Err(e) => bail!("sending to the program failed: {e}"),
            }
        }
    }

    /// The socket buffer is full: fails if the program died or the time
    /// is up, otherwise pauses a millisecond.
    fn wait_writable(&mut self, deadline: Instant) -> anyhow::Result<()> {
        if let Some(st) = self.dead() {
            bail!("program exited ({st}) while the auditor was sending");
        }
        if Instant::now() > deadline {
            bail!(
                "program did not read the message within {:?} (socket buffer full: hung?)",
                self.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(1));
        Ok(())
    }

    /// Receives the echo of a message like `want` (reassembling the pieces
    /// on a stream socket) until `deadline`.
    fn receive_echo(&mut self, want: Want, deadline: Instant) -> anyhow::Result<Echo> {
        let mut buf = vec![0u8; ECHO_BUFFER];
        let mut echo = Echo::default();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                bail!(self.incomplete(&echo, want));
            }
            if !self.readable(remaining)? {
                continue;
            }
            match inflight::recv_fds_vec(&self.sock, &mut buf, inflight::SCM_MAX_FD) {
                Ok(r) if r.bytes == 0 && r.fds.is_empty() && self.kind == SocketKind::Stream => {
                    let st = self.wait_exit_briefly();
                    bail!(
                        "program closed the connection instead of echoing ({st}; got {} of {} bytes)",
                        echo.bytes.len(),
                        want.bytes
                    );
                }
                Ok(r) => {
                    echo.pieces += 1;
                    echo.bytes.extend_from_slice(&buf[..r.bytes]);
                    echo.fds.extend(r.fds);
                }
                Err(e) if e.is_would_block() => continue,
                Err(e) => bail!(receive_error(e, want)),
            }
            if self.kind != SocketKind::Stream || echo.bytes.len() >= want.bytes {
                return Ok(echo);
            }
        }
    }

    /// Waits up to 50 ms (at most `remaining`) for the echo; fails if the
    /// program exited meanwhile.
    fn readable(&mut self, remaining: Duration) -> anyhow::Result<bool> {
        let wait = remaining.min(Duration::from_millis(50));
        if sys::poll_in(self.sock.as_fd(), wait).context("poll")? != 0 {
            return Ok(true);
        }
        if let Some(st) = self.dead() {
            bail!("program exited ({st}) without echoing the message");
        }
        Ok(false)
    }

    /// The time is up and the echo is not complete.
    fn incomplete(&self, echo: &Echo, want: Want) -> String {
        let why = if echo.bytes.is_empty() && echo.fds.is_empty() {
            "program hung"
        } else {
            "the echo is shorter than the message (payload truncated), or the program hung"
        };
        format!(
            "no complete echo within {:?} (got {} of {} bytes, {} of {} descriptors): {why}",
            self.timeout,
            echo.bytes.len(),
            want.bytes,
            echo.fds.len(),
            want.fds
        )
    }
}
