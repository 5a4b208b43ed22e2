//! The crate's one error type.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

/// What went wrong, as a small `Copy` value to `match` on.
///
/// The list may grow; match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A system call failed; [`Error::io_error`] holds the `std::io::Error`.
    /// `EAGAIN` arrives here with [`std::io::ErrorKind::WouldBlock`] and
    /// `EPIPE` (dead peer) with [`std::io::ErrorKind::BrokenPipe`].
    Io,
    /// More than [`SCM_MAX_FD`](crate::SCM_MAX_FD) (253) descriptors in one
    /// message. Checked before the system call (the kernel would answer
    /// `EINVAL`).
    TooManyFds,
    /// Descriptors with an empty payload on a `SOCK_STREAM` socket. The
    /// kernel would accept the call and silently drop the descriptors.
    EmptyPayloadOnStream,
    /// The receiver's capacity was reached: the peer sent more descriptors
    /// than the receive call had room for. Every descriptor that arrived is
    /// inside the error ([`Error::take_fds`]); the rest were discarded by the
    /// kernel (`MSG_CTRUNC`).
    ControlBufferFull,
    /// The kernel set `MSG_CTRUNC` although the receiver had room: it could
    /// not install every descriptor (the receiver is at `RLIMIT_NOFILE`, or a
    /// security module refused one). The ones that arrived are inside the
    /// error.
    ReceiverLimit,
    /// A datagram or packet was longer than the data buffer (`MSG_TRUNC`);
    /// its tail is lost. The descriptors that came with it are inside the
    /// error.
    PayloadTruncated,
    /// The kernel or platform does not support the requested feature (for
    /// example `SO_PASSPIDFD` before Linux 6.5).
    Unsupported,
    /// An encode target buffer is too small for the control messages.
    BufferTooSmall,
    /// A control message header is malformed (`cmsg_len` shorter than the
    /// header itself).
    MalformedControl,
    /// A control message that cannot be encoded (for example credentials with
    /// a negative pid).
    InvalidControl,
}

impl ErrorKind {
    /// A short static description of this kind.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorKind::Io => "system call failed",
            ErrorKind::TooManyFds => "more than 253 descriptors (SCM_MAX_FD) in one message",
            ErrorKind::EmptyPayloadOnStream => {
                "descriptors need at least one payload byte on a stream socket"
            }
            ErrorKind::ControlBufferFull => {
                "control data truncated: the peer sent more descriptors than the receive capacity"
            }
            ErrorKind::ReceiverLimit => {
                "control data truncated below the receive capacity: the receiver could not install every descriptor (RLIMIT_NOFILE or a security module)"
            }
            ErrorKind::PayloadTruncated => "message payload longer than the receive buffer",
            ErrorKind::Unsupported => "not supported by this kernel or platform",
            ErrorKind::BufferTooSmall => "control buffer too small for the messages",
            ErrorKind::MalformedControl => "malformed control message header",
            ErrorKind::InvalidControl => "control message cannot be encoded",
        }
    }

    fn io_kind(self) -> io::ErrorKind {
        match self {
            ErrorKind::Io => io::ErrorKind::Other,
            ErrorKind::TooManyFds
            | ErrorKind::EmptyPayloadOnStream
            | ErrorKind::BufferTooSmall
            | ErrorKind::InvalidControl => io::ErrorKind::InvalidInput,
            ErrorKind::ControlBufferFull
            | ErrorKind::ReceiverLimit
            | ErrorKind::PayloadTruncated
            | ErrorKind::MalformedControl => io::ErrorKind::InvalidData,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The error of every fallible operation in this crate.
///
/// Opaque: ask it for its [`kind`](Error::kind). System call failures keep
/// their `std::io::Error` ([`io_error`](Error::io_error),
/// [`into_io_error`](Error::into_io_error)), and `Error` converts into
/// `std::io::Error` with `?`.
///
/// Truncation errors on receive carry the descriptors that did arrive:
/// [`take_fds`](Error::take_fds) hands them to the caller, and dropping the
/// error closes them. Nothing is leaked either way.
pub struct Error {
    kind: ErrorKind,
    io: Option<io::Error>,
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    fds: Vec<OwnedFd>,
    bytes: usize,
    capacity: usize,
    detail: Option<String>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            io: None,
            extra: None,
        }
    }

    pub(crate) fn with_detail(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error {
            kind,
            io: None,
            extra: Some(Box::new(Extra {
                detail: Some(detail.into()),
                ..Extra::default()
            })),
        }
    }

    pub(crate) fn truncated(
        kind: ErrorKind,
        fds: Vec<OwnedFd>,
        bytes: usize,
        capacity: usize,
    ) -> Self {
        Error {
            kind,
            io: None,
            extra: Some(Box::new(Extra {
                fds,
                bytes,
                capacity,
                detail: None,
            })),
        }
    }

    #[cfg(linux_like)]
    pub(crate) fn set_kind(&mut self, kind: ErrorKind) {
        self.kind = kind;
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The static description of the kind.
    pub fn description(&self) -> &'static str {
        self.kind.description()
    }

    /// The system call error, for [`ErrorKind::Io`] (and
    /// [`ErrorKind::Unsupported`] where the kernel said so).
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_ref()
    }

    /// `true` for `EAGAIN`/`EWOULDBLOCK` on a non-blocking socket.
    pub fn is_would_block(&self) -> bool {
        self.io
            .as_ref()
            .is_some_and(|e| e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Descriptors that arrived with a truncated message (empty otherwise).
    pub fn fds(&self) -> &[OwnedFd] {
        self.extra.as_ref().map_or(&[], |e| &e.fds)
    }

    /// Takes the descriptors that arrived with a truncated message out of the
    /// error. Without this call they are closed when the error is dropped.
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        self.extra
            .as_mut()
            .map(|e| std::mem::take(&mut e.fds))
            .unwrap_or_default()
    }

    /// Payload bytes received with a truncated message (0 otherwise).
    pub fn bytes(&self) -> usize {
        self.extra.as_ref().map_or(0, |e| e.bytes)
    }

    /// The descriptor capacity of the receive call that failed with a
    /// truncation kind (0 otherwise).
    pub fn capacity(&self) -> usize {
        self.extra.as_ref().map_or(0, |e| e.capacity)
    }

    /// Converts into a `std::io::Error`: the original one for
    /// [`ErrorKind::Io`], otherwise a new one that wraps this error (so
    /// `get_ref()`/`into_inner()` and `downcast` get it back).
    pub fn into_io_error(self) -> io::Error {
        match (self.kind, self.io) {
            (ErrorKind::Io, Some(e)) => e,
            (kind, io) => io::Error::new(
                kind.io_kind(),
                Error {
                    kind,
                    io,
                    extra: self.extra,
                },
            ),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            io: Some(e),
            extra: None,
        }
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::from(io::Error::from(e))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        e.into_io_error()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(io) = &self.io {
            d.field("io", io);
        }
        if let Some(x) = &self.extra {
            if !x.fds.is_empty() || x.capacity != 0 {
                d.field("fds", &x.fds.len())
                    .field("bytes", &x.bytes)
                    .field("capacity", &x.capacity);
            }
            if let Some(s) = &x.detail {
                d.field("detail", s);
            }
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(io) = &self.io {
            write!(f, ": {io}")?;
        }
        if let Some(x) = &self.extra {
            if matches!(
                self.kind,
                ErrorKind::ControlBufferFull | ErrorKind::ReceiverLimit
            ) {
                write!(
                    f,
                    " ({} descriptor(s) arrived, capacity {})",
                    x.fds.len(),
                    x.capacity
                )?;
            }
            if let Some(s) = &x.detail {
                write!(f, ": {s}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io.as_ref().map(|e| e as _)
    }
}

/// Shorthand for `Result<T, inflight::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [ErrorKind; 10] = [
        ErrorKind::Io,
        ErrorKind::TooManyFds,
        ErrorKind::EmptyPayloadOnStream,
        ErrorKind::ControlBufferFull,
        ErrorKind::ReceiverLimit,
        ErrorKind::PayloadTruncated,
        ErrorKind::Unsupported,
        ErrorKind::BufferTooSmall,
        ErrorKind::MalformedControl,
        ErrorKind::InvalidControl,
    ];

    /// Every kind says something of its own, and its `Display` is that.
    #[test]
    fn kinds_have_distinct_descriptions() {
        let mut seen = std::collections::HashSet::new();
        for kind in KINDS {
            let text = kind.description();
            assert!(text.len() > 10, "{kind:?}: {text:?}");
            assert!(seen.insert(text), "{kind:?} repeats {text:?}");
            assert_eq!(kind.to_string(), text);
            assert_eq!(Error::new(kind).description(), text);
        }
    }

    #[cfg(linux_like)]
    #[test]
    fn set_kind_changes_the_kind_and_keeps_the_cause() {
        let mut e = Error::from(io::Error::from_raw_os_error(libc::ENOPROTOOPT));
        e.set_kind(ErrorKind::Unsupported);
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(
            e.io_error().unwrap().raw_os_error(),
            Some(libc::ENOPROTOOPT)
        );
    }

    /// `source()` is the system call's error; `Debug` shows the kind, the
    /// cause, the truncation figures and the detail, and only those present.
    #[test]
    fn source_and_debug_show_what_is_there() {
        use std::error::Error as _;
        let e = Error::from(io::Error::from_raw_os_error(libc::EBADF));
        let src = e.source().expect("an I/O error has a source");
        assert_eq!(
            src.downcast_ref::<io::Error>().unwrap().raw_os_error(),
            Some(libc::EBADF)
        );
        assert!(Error::new(ErrorKind::TooManyFds).source().is_none());

        let debug = format!("{e:?}");
        assert!(debug.starts_with("Error { kind: Io, io: "), "{debug}");
        assert!(!debug.contains("capacity"), "{debug}");

        let t = Error::truncated(ErrorKind::ControlBufferFull, Vec::new(), 1, 4);
        let debug = format!("{t:?}");
        assert!(debug.contains("fds: 0, bytes: 1, capacity: 4"), "{debug}");

        let d = Error::with_detail(ErrorKind::InvalidControl, "level 7");
        let debug = format!("{d:?}");
        assert!(debug.contains("detail: \"level 7\""), "{debug}");
        assert!(
            !debug.contains("capacity"),
            "no figures without a truncation: {debug}"
        );
    }
}
