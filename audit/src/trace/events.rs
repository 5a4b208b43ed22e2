//! What the tracer feeds the model about descriptor traffic: receipts
//! (receives that installed descriptors or were truncated) and sends, and
//! how they are read from the tracee's `msghdr` and control buffer (decoded
//! by inflight's codec).

use nix::unistd::Pid as TaskId;

use super::memory::{self, MsgHdr};

/// A process id (thread group id).
pub type Pid = i32;
/// A descriptor number.
pub type Fd = i32;

/// What a peek before the call saw queued on the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Descriptors the next message carries.
    pub fds: usize,
    /// Control bytes the kernel wanted for it (all control messages).
    pub control: usize,
}

/// One receive (`recvmsg`, or one message of `recvmmsg`) that installed
/// descriptors or set `MSG_CTRUNC`.
#[derive(Clone, Debug, Default)]
pub struct Receipt {
    /// The receiving process.
    pub pid: Pid,
    /// `recvmsg` or `recvmmsg`.
    pub call: &'static str,
    /// The socket.
    pub socket: Fd,
    /// The call's flags.
    pub flags: i32,
    /// `msg_flags` after the call.
    pub msg_flags: i32,
    /// `msg_controllen` at entry (the buffer's size).
    pub given: u64,
    /// `msg_controllen` after the call (bytes used).
    pub used: u64,
    /// Descriptors installed by `SCM_RIGHTS`, in order.
    pub rights: Vec<Fd>,
    /// Descriptor installed by `SCM_PIDFD`.
    pub pidfd: Option<Fd>,
    /// `SCM_CREDENTIALS` was in the buffer (maybe cut).
    pub creds: bool,
    /// What was queued before the call, if a peek could tell.
    pub queued: Option<Queued>,
    /// `SO_PASSCRED`/`SO_PASSPIDFD` state of the socket, in words.
    pub passcred: Option<String>,
    /// A fault injected into this call, in words.
    pub injected: Option<String>,
}

impl Receipt {
    /// Received with `MSG_CMSG_CLOEXEC`.
    pub fn cloexec(&self) -> bool {
        self.flags & libc::MSG_CMSG_CLOEXEC != 0
    }

    /// The kernel set `MSG_CTRUNC`.
    pub fn ctrunc(&self) -> bool {
        self.msg_flags & libc::MSG_CTRUNC != 0
    }

    /// Every installed descriptor.
    pub fn installed(&self) -> Vec<Fd> {
        self.rights.iter().copied().chain(self.pidfd).collect()
    }

    /// The call in words: `recvmsg(5, flags=0) -> fds [6, 7], msg_controllen 24 of 24, msg_flags MSG_CTRUNC`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}({}, flags={}) installed fds {:?}",
            self.call,
            self.socket,
            super::syscalls::msg_flags(self.flags),
            self.installed()
        );
        s.push_str(&format!(
            ", msg_controllen {} -> {}, msg_flags {}",
            self.given,
            self.used,
            super::syscalls::msg_flags(self.msg_flags)
        ));
        if let Some(i) = &self.injected {
            s.push_str(&format!(" [injected: {i}]"));
        }
        s
    }
}

/// One send (`sendmsg`, or one message of `sendmmsg`).
#[derive(Clone, Debug)]
pub struct Send {
    /// The sending process.
    pub pid: Pid,
    /// `sendmsg` or `sendmmsg`.
    pub call: &'static str,
    /// The socket.
    pub socket: Fd,
    /// Descriptor numbers in `SCM_RIGHTS` messages.
    pub fds: Vec<Fd>,
    /// Payload bytes (sum of the iovecs).
    pub payload: u64,
    /// The result: bytes sent or the errno.
    pub result: Result<u64, i32>,
    /// The socket is a stream socket (`None`: not checked).
    pub stream: Option<bool>,
}

/// A receipt from the `msghdr` after the call.
pub fn receipt(
    pid: TaskId,
    tgid: i32,
    call: &'static str,
    fd: i32,
    flags: i32,
    hdr: &MsgHdr,
) -> Receipt {
    let ctl = memory::control(pid, hdr.control, hdr.controllen).unwrap_or_default();
    let mut r = Receipt {
        pid: tgid,
        call,
        socket: fd,
        flags,
        msg_flags: hdr.flags,
        given: hdr.controllen,
        used: hdr.controllen,
        ..Receipt::default()
    };
    for c in inflight::codec::decode_clamped(&ctl, hdr.controllen as usize).flatten() {
        if c.level == libc::SOL_SOCKET && c.kind == libc::SCM_CREDENTIALS {
            r.creds = true;
        }
        match c.parse() {
            inflight::codec::Message::Rights(fds) => r.rights.extend(fds.iter()),
            inflight::codec::Message::PidFd(fd) => r.pidfd = Some(fd),
            _ => {}
        }
    }
    r
}

/// A send's descriptors and payload, read at its entry.
pub fn read_send(tid: i32, tgid: i32, fd: i32, msg: u64, call: &'static str) -> Option<Send> {
    let pid = TaskId::from_raw(tid);
    let hdr = memory::msghdr(pid, msg).ok()?;
    let ctl = memory::control(pid, hdr.control, hdr.controllen).ok()?;
    let mut fds = Vec::new();
    for c in inflight::codec::decode_clamped(&ctl, hdr.controllen as usize).flatten() {
        if let inflight::codec::Message::Rights(r) = c.parse() {
            fds.extend(r.iter());
        }
    }
    Some(Send {
        pid: tgid,
        call,
        socket: fd,
        fds,
        payload: memory::iov_total(pid, hdr.iov, hdr.iovlen).unwrap_or(0),
        result: Ok(0),
        stream: None,
    })
}
