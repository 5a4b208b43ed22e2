//! The child of the cross-process benchmark: receives descriptors on its
//! standard input (a Unix socket the parent hands it) through one
//! implementation, sends them straight back through the same
//! implementation, closes its copies, and exits at end of stream.
//!
//! Usage: `inflight-bench-echo IMPLEMENTATION K` (a name from
//! `inflight_impls::all()`, and descriptors per round).

use std::os::fd::AsFd;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .expect("usage: inflight-bench-echo IMPLEMENTATION K");
    let k: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("usage: inflight-bench-echo IMPLEMENTATION K");
    let mut p =
        inflight_impls::by_name(&name).unwrap_or_else(|| panic!("unknown implementation {name}"));
    let stdin = std::io::stdin();
    let sock = stdin.as_fd();
    let mut buf = [0u8; 64];
    let mut held = Vec::with_capacity(k);
    loop {
        while held.len() < k {
            match p.recv(sock, &mut buf, k) {
                Ok(r) if r.fds.is_empty() => return, // end of stream
                Ok(r) => held.extend(r.fds),
                Err(_) => return,
            }
        }
        let borrowed: Vec<_> = held.iter().map(|fd| fd.as_fd()).collect();
        if p.send(sock, b"x", &borrowed).is_err() {
            return;
        }
        drop(borrowed);
        held.clear();
    }
}
