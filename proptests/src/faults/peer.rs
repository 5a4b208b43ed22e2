//! A child process holding one end of a socket pair: `inflight-prop-peer`
//! (`src/bin/peer.rs`). It gets, over a control socket that is its stdin,
//! the socket end and the descriptors to send, with the plan of the
//! messages; it sends one message per command and acknowledges each; it is
//! killed (`SIGKILL`) and reaped by [`Peer::kill`], or on drop on every
//! other path, so it never outlives the test.
//!
//! The control protocol: one setup message (text: `N message(s)`, then
//! one line per message, `PAYLOAD I,J,...` or `PAYLOAD -`, indices into the
//! descriptors after the socket end; descriptors: the socket end, then those to send); the child
//! answers `r`; then each `g` makes it send the next message and answer
//! `k`.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the parent waits for one answer of the child.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// One message of the plan: the payload (ASCII, no whitespace) and indices
/// into the descriptors handed over.
pub type Planned = (Vec<u8>, Vec<usize>);

/// The running child.
#[derive(Debug)]
pub struct Peer {
    child: Option<Child>,
    ctl: UnixStream,
}

fn plan_text(msgs: &[Planned]) -> io::Result<String> {
    // Never empty: a stream refuses descriptors without payload.
    let mut text = format!("{} message(s)\n", msgs.len());
    for (payload, idx) in msgs {
        let payload = std::str::from_utf8(payload)
            .ok()
            .filter(|p| !p.is_empty() && !p.contains(char::is_whitespace))
            .ok_or_else(|| io::Error::other("a payload the plan cannot carry"))?;
        let idx: Vec<String> = idx.iter().map(usize::to_string).collect();
        let idx = if idx.is_empty() {
            "-".to_string()
        } else {
            idx.join(",")
        };
        text.push_str(&format!("{payload} {idx}\n"));
    }
    Ok(text)
}

impl Peer {
    /// Starts `exe` and hands it `sock` (this process keeps no copy) and
    /// `fds`, with the plan `msgs`; returns once the child has them.
    ///
    /// # Errors
    ///
    /// Spawning, the control socket, or a child that does not answer.
    pub fn spawn(
        exe: &Path,
        sock: OwnedFd,
        fds: &[BorrowedFd<'_>],
        msgs: &[Planned],
    ) -> io::Result<Peer> {
        let text = plan_text(msgs)?;
        let (ctl, theirs) = UnixStream::pair()?;
        ctl.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        ctl.set_write_timeout(Some(ANSWER_TIMEOUT))?;
        let child = Command::new(exe)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()?;
        let mut peer = Peer {
            child: Some(child),
            ctl,
        };
        let mut all = vec![sock.as_fd()];
        all.extend_from_slice(fds);
        inflight::send_fds(&peer.ctl, text.as_bytes(), &all).map_err(io::Error::from)?;
        drop(sock);
        peer.expect(b'r')?;
        Ok(peer)
    }

    /// The child's process id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.as_ref().map_or(0, |c| c.id() as libc::pid_t)
    }

    fn expect(&mut self, want: u8) -> io::Result<()> {
        let mut got = [0u8];
        self.ctl.read_exact(&mut got)?;
        if got[0] == want {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "the child answered {:?}, expected {:?}",
                got[0] as char, want as char
            )))
        }
    }

    /// Makes the child send its next message; returns once it has.
    ///
    /// # Errors
    ///
    /// The control socket, or a child that does not answer.
    pub fn send_next(&mut self) -> io::Result<()> {
        self.ctl.write_all(b"g")?;
        self.expect(b'k')
    }

    /// Kills the child with `SIGKILL` and reaps it.
    ///
    /// # Errors
    ///
    /// `kill` or `wait`, or a child that had exited before the kill (then
    /// it did not hold its end until now).
    pub fn kill(mut self) -> io::Result<()> {
        let mut child = self.child.take().expect("killed once");
        let killed = child.kill();
        if killed.is_err() {
            // End of stream on its control socket: the child exits.
            let _ = self.ctl.shutdown(std::net::Shutdown::Both);
        }
        let status = child.wait()?;
        killed?;
        if status.signal() == Some(libc::SIGKILL) {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "the child ended before the kill: {status}"
            )))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
