//! Zero heap allocations per message in steady state, on the
//! allocation-free path ([`inflight::send_fds`] + [`inflight::recv_fds`])
//! and the batch path: a counting global allocator (counts per thread, so
//! the test harness's other threads do not disturb it) and a test of
//! counts, not of time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, BorrowedFd};

use inflight::{socketpair, RecvOptions, SocketKind};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees (and the caller's preconditions) carry
// over; the counter is a const-initialised thread-local `Cell` without a
// destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's preconditions for `alloc` are `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`,
        // with `layout` (the caller's precondition).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Allocations made on this thread by `f`.
fn count(f: impl FnOnce()) -> u64 {
    let before = allocations();
    f();
    allocations() - before
}

const WARMUP: usize = 100;
const ITERATIONS: usize = 1000;

/// Runs `round` [`WARMUP`] times, then asserts that [`ITERATIONS`] more
/// allocate nothing (`what` names the case).
fn assert_steady_state_allocates_nothing(what: &str, mut round: impl FnMut()) {
    for _ in 0..WARMUP {
        round();
    }
    let n = count(|| {
        for _ in 0..ITERATIONS {
            round();
        }
    });
    assert_eq!(n, 0, "{what}: {n} allocations in {ITERATIONS} rounds");
}

fn single<const K: usize>(kind: SocketKind) {
    let (tx, rx) = socketpair(kind).unwrap();
    let files: Vec<std::fs::File> = (0..K).map(|_| tempfile::tempfile().unwrap()).collect();
    let fds: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
    let mut buf = [0u8; 8];
    let what = format!("{} k={K}", kind.name());
    assert_steady_state_allocates_nothing(&what, || {
        inflight::send_fds(&tx, b"x", &fds).unwrap();
        let got = inflight::recv_fds::<K>(&rx, &mut buf).unwrap();
        assert_eq!(got.fds.len(), K);
        drop(got); // closes the K received descriptors
    });
}

#[test]
fn send_and_recv_fds_do_not_allocate() {
    for kind in SocketKind::ALL {
        single::<1>(kind);
        single::<4>(kind);
        single::<64>(kind);
        single::<253>(kind);
    }
}

fn batched<const M: usize, const K: usize>(kind: SocketKind) {
    use inflight::batch::{Message, RecvBatch, SendBatch};
    let (tx, rx) = socketpair(kind).unwrap();
    let files: Vec<std::fs::File> = (0..K).map(|_| tempfile::tempfile().unwrap()).collect();
    let fds: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
    let msgs = [Message::new(b"x", &fds); M];
    let mut sb = SendBatch::<M, K>::new();
    let mut rb = RecvBatch::<M, K>::new();
    let mut storage = [[0u8; 1]; M];
    let opts = RecvOptions::new();
    let what = format!("{} batch {M}x{K} ({M} messages a round)", kind.name());
    assert_steady_state_allocates_nothing(&what, || {
        assert_eq!(sb.send(&tx, &msgs).unwrap(), M);
        let mut got = 0;
        while got < M {
            let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
            for m in rb.recv(&rx, &mut bufs, &opts).unwrap() {
                assert_eq!(m.unwrap().fds.len(), K);
                got += 1;
            }
        }
        assert_eq!(got, M);
    });
}

#[test]
fn batches_do_not_allocate() {
    for kind in SocketKind::ALL {
        batched::<1, 1>(kind);
        batched::<8, 1>(kind);
        batched::<32, 1>(kind);
        batched::<8, 4>(kind);
    }
}

/// The counter works: the convenience `Vec` receive allocates (its control
/// buffer and the `Vec`), so the zero above is not a counter stuck at 0.
#[test]
fn the_counter_sees_the_vec_path() {
    let (tx, rx) = socketpair(SocketKind::SeqPacket).unwrap();
    let file = tempfile::tempfile().unwrap();
    let mut buf = [0u8; 8];
    let n = count(|| {
        for _ in 0..10 {
            inflight::send_fds(&tx, b"x", &[file.as_fd()]).unwrap();
            let got = inflight::recv_fds_vec(&rx, &mut buf, 1).unwrap();
            assert_eq!(got.fds.len(), 1);
        }
    });
    assert!(n >= 10, "{n}");
}
