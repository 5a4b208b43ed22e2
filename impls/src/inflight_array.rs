//! `inflight-array`: inflight's allocation-free receive.

use std::io;
use std::os::fd::BorrowedFd;

use crate::shared::from_inflight;
use crate::{Implementation, Recv};

/// inflight's allocation-free receive, [`inflight::recv_fds`]`::<N>`, with
/// `N` equal to the requested capacity when it is one of 0-8, 16, 32, 64,
/// 128 or 253 (the capacities the benchmarks use); any other capacity goes
/// through [`inflight::recv_fds_vec`], which has the same semantics but
/// allocates its control buffer. The returned `Vec` is the trait's, not
/// inflight's.
#[derive(Clone, Copy, Debug, Default)]
pub struct InflightArray;

impl Implementation for InflightArray {
    fn name(&self) -> &'static str {
        "inflight-array"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        Ok(inflight::send_fds(&sock, payload, fds)?)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        macro_rules! arms {
            ($($n:literal)*) => {
                match capacity {
                    $($n => from_inflight(inflight::recv_fds::<$n>(&sock, buf)),)*
                    _ => from_inflight(inflight::recv_fds_vec(&sock, buf, capacity)),
                }
            };
        }
        arms!(0 1 2 3 4 5 6 7 8 16 32 64 128 253)
    }
}
