//! A parent hands descriptors to a spawned child over an inherited socket;
//! both print what they verified.
//!
//! ```text
//! cargo run -p inflight --example handoff
//! ```

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

use inflight::inspect::{self, Sameness};
use inflight::SocketKind;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var("HANDOFF_FD") {
        Ok(fd) => child(fd.parse()?),
        Err(_) => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let (mine, theirs) = inflight::socketpair(SocketKind::Stream)?;
    let mut file = tempfile::tempfile()?;
    file.write_all(b"written by the parent\n")?;
    let (pipe_r, pipe_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;

    // The child inherits `theirs` as descriptor 3 (dup2 clears CLOEXEC).
    let theirs_raw = theirs.as_raw_fd();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env("HANDOFF_FD", "3");
    // SAFETY: pre_exec runs in the forked child before exec; dup2 is
    // async-signal-safe and only touches the child's descriptor table.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(theirs_raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(theirs);

    let payload = format!("{} {}", std::process::id(), file.as_raw_fd());
    inflight::send_fds(&mine, payload.as_bytes(), &[file.as_fd(), pipe_w.as_fd()])?;
    drop(pipe_w); // in flight: the child now holds the only write end
    println!(
        "parent: sent fd {} (file) and a pipe write end, closed my write end",
        file.as_raw_fd()
    );

    let mut from_child = String::new();
    std::fs::File::from(pipe_r).read_to_string(&mut from_child)?;
    println!("parent: read through the pipe: {from_child:?} (EOF once the child closed its end)");
    let status = child.wait()?;
    file.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    println!("parent: file now reads {text:?}");
    assert!(
        status.success() && text.contains("appended by the child") && from_child == "hi parent"
    );
    println!("parent: verified: the child wrote through the same open file and pipe");
    Ok(())
}

fn child(fd: i32) -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: the parent arranged descriptor 3 for us; nothing else in this
    // process owns it (from_raw_fd's precondition).
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut buf = [0u8; 64];
    let got = inflight::recv_fds::<2>(&sock, &mut buf)?;
    let text = std::str::from_utf8(&buf[..got.bytes])?;
    let mut it = text.split(' ').map(str::parse::<i32>);
    let (ppid, pfd) = (it.next().ok_or("pid")??, it.next().ok_or("fd")??);
    let mut fds = got.fds.into_iter();
    let (file, pipe_w) = (fds.next().ok_or("file")?, fds.next().ok_or("pipe")?);
    let me = std::process::id() as i32;
    match inspect::same_file_in(ppid, pfd, me, file.as_raw_fd()) {
        Sameness::Same => println!(
            "child: my fd {} is the parent's fd {pfd}: same open file description (kcmp)",
            file.as_raw_fd()
        ),
        other => println!("child: kcmp could not prove identity: {other:?}"),
    }
    println!(
        "child: received fds are close-on-exec: {}",
        inspect::is_cloexec(file.as_fd())?
    );
    let mut file = std::fs::File::from(file);
    // The parent's write left the shared offset at the end: append there.
    file.write_all(b"appended by the child\n")?;
    std::fs::File::from(pipe_w).write_all(b"hi parent")?;
    println!("child: wrote through both, closing them");
    Ok(())
}
