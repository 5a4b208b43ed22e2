//! The model fed by hand: each finding kind, and the paths that must not
//! produce one.

use std::collections::BTreeMap;

use super::*;
use crate::trace::events::Queued;
use crate::trace::findings::Case;

fn recv(pid: Pid, fds: &[Fd], flags: i32) -> Receipt {
    Receipt {
        pid,
        call: "recvmsg",
        socket: 3,
        flags,
        given: 64,
        used: inflight::codec::cmsg_len(4 * fds.len()) as u64,
        rights: fds.to_vec(),
        ..Receipt::default()
    }
}

fn open(fds: &[Fd]) -> BTreeMap<Fd, String> {
    fds.iter().map(|&f| (f, "/dev/null".to_string())).collect()
}

fn cases(m: &Model) -> Vec<Case> {
    m.findings().iter().map(|f| f.case).collect()
}

const CLOEXEC: i32 = libc::MSG_CMSG_CLOEXEC;

#[test]
fn received_with_cloexec_and_closed_is_clean() {
    let mut m = Model::default();
    m.start(10, "prog".into());
    m.receive(recv(10, &[5, 6], CLOEXEC));
    m.close(10, 5);
    m.close(10, 6);
    m.exit(10, "exited with status 0".into(), Some(&open(&[0, 1, 2])));
    m.finish();
    assert_eq!(cases(&m), vec![]);
    let p = m.processes().next().unwrap();
    assert_eq!((p.counts.recv_msgs, p.counts.recv_fds), (1, 2));
}

#[test]
fn without_cloexec_unmarked_warns_missing_but_a_later_fioclex_is_enough() {
    let mut m = Model::default();
    m.start(10, "prog".into());
    m.receive(recv(10, &[5], 0));
    m.receive(recv(10, &[6], 0));
    m.set_cloexec(10, 6, true);
    m.close(10, 5);
    m.close(10, 6);
    m.finish();
    assert_eq!(cases(&m), vec![Case::CloexecMissing]);
    assert!(m.findings()[0].text.contains("[5]"), "{:?}", m.findings());
}

#[test]
fn exec_with_an_open_received_fd_is_a_leak_only_when_proc_shows_it() {
    let mut m = Model::default();
    m.start(10, "parent".into());
    m.receive(recv(10, &[5, 6], 0));
    m.fork(10, 11);
    m.close(10, 5);
    m.close(10, 6);
    // The child closes 6 in a way the model missed: /proc is the proof.
    m.exec(11, "/bin/true".into(), Some(&open(&[0, 1, 2, 5])));
    m.exit(
        11,
        "exited with status 0".into(),
        Some(&open(&[0, 1, 2, 5])),
    );
    m.finish();
    assert_eq!(cases(&m), vec![Case::CloexecExecLeak]);
    let t = &m.findings()[0].text;
    assert!(t.contains("fd 5 (inherited across fork)"), "{t}");
    assert!(t.contains("/proc/11/fd/5 -> /dev/null"), "{t}");
}

#[test]
fn cloexec_copies_and_dup2_follow_the_descriptor() {
    let mut m = Model::default();
    m.start(10, "p".into());
    m.receive(recv(10, &[5], CLOEXEC));
    m.dup(10, 5, 9, false); // dup2: 9 has no close-on-exec
    m.close(10, 5);
    m.exec(10, "q".into(), Some(&open(&[9])));
    assert_eq!(cases(&m), vec![Case::CloexecExecLeak]);
    assert!(m.findings()[0].text.contains("a copy made by dup"));
    // Carried descriptors are not reported again at exit.
    m.exit(10, "exited with status 0".into(), Some(&open(&[9])));
    m.finish();
    assert_eq!(cases(&m).len(), 1);
}

#[test]
fn close_range_closes_or_marks() {
    let mut m = Model::default();
    m.start(1, "p".into());
    m.receive(recv(1, &[4, 5, 6], 0));
    m.close_range(1, 5, u32::MAX, true);
    m.close_range(1, 0, 4, false);
    m.exec(1, "q".into(), Some(&open(&[5, 6])));
    m.exit(1, "exited with status 0".into(), None);
    m.finish();
    // 4 closed before exec, 5 and 6 marked: nothing reported except that
    // fd 4 was never marked (received without MSG_CMSG_CLOEXEC).
    assert_eq!(cases(&m), vec![Case::CloexecMissing]);
    assert!(m.findings()[0].text.contains("[4]"));
}

#[test]
fn open_at_exit_warns_and_ctrunc_descriptors_fail_instead() {
    let mut m = Model::default();
    m.start(1, "p".into());
    m.receive(recv(1, &[7], CLOEXEC));
    let mut r = recv(1, &[8], CLOEXEC);
    r.msg_flags = libc::MSG_CTRUNC;
    r.given = 64;
    r.queued = Some(Queued {
        fds: 3,
        control: 32,
    });
    m.receive(r);
    m.exit(1, "exited with status 0".into(), Some(&open(&[7, 8])));
    m.finish();
    assert_eq!(cases(&m), vec![Case::LeakAtExit, Case::CtruncLeak]);
}

#[test]
fn undersized_says_what_was_needed() {
    let mut m = Model::default();
    m.start(1, "p".into());
    let mut r = recv(1, &[5, 6], CLOEXEC);
    r.msg_flags = libc::MSG_CTRUNC;
    r.given = 24;
    r.used = 24;
    r.queued = Some(Queued {
        fds: 4,
        control: 32,
    });
    m.receive(r);
    m.close(1, 5);
    m.close(1, 6);
    m.finish();
    assert_eq!(cases(&m), vec![Case::CtruncUndersized]);
    assert!(m.findings()[0].text.contains("needed 32 bytes"));
}

#[test]
fn credentials_crowding_out_rights_is_not_called_undersized() {
    let mut m = Model::default();
    m.start(1, "p".into());
    let mut r = recv(1, &[], CLOEXEC);
    r.msg_flags = libc::MSG_CTRUNC;
    r.given = 24;
    r.used = 24;
    r.creds = true;
    r.queued = Some(Queued {
        fds: 2,
        control: 56,
    });
    m.receive(r);
    m.finish();
    assert_eq!(cases(&m), vec![Case::PasscredCrowded]);
    // A buffer too small even for the rights alone is undersized.
    let mut m = Model::default();
    let mut r = recv(1, &[], CLOEXEC);
    r.msg_flags = libc::MSG_CTRUNC;
    r.given = 24;
    r.creds = true;
    r.queued = Some(Queued {
        fds: 5,
        control: 72,
    });
    m.receive(r);
    assert_eq!(cases(&m), vec![Case::CtruncUndersized]);
}

#[test]
fn sends_over_the_limit_or_with_no_payload_on_a_stream() {
    let mut m = Model::default();
    m.start(1, "p".into());
    let send = |fds: usize, payload, stream, result| Send {
        pid: 1,
        call: "sendmsg",
        socket: 3,
        fds: (0..fds as i32).collect(),
        payload,
        result,
        stream,
    };
    m.send(send(253, 1, Some(true), Ok(1)));
    m.send(send(1, 0, Some(false), Ok(0)));
    assert_eq!(cases(&m), vec![]);
    m.send(send(254, 1, Some(true), Err(libc::EINVAL)));
    m.send(send(1, 0, Some(true), Ok(0)));
    assert_eq!(cases(&m), vec![Case::ScmMaxFd, Case::StreamEmptyPayload]);
    assert!(m.findings()[0].text.contains("EINVAL"));
    let p = m.processes().next().unwrap();
    assert_eq!((p.counts.sent_msgs, p.counts.sent_fds), (3, 255));
}

#[test]
fn fork_children_do_not_warn_for_inherited_descriptors_at_exit() {
    let mut m = Model::default();
    m.start(1, "p".into());
    m.receive(recv(1, &[5], CLOEXEC));
    m.fork(1, 2);
    m.exit(2, "exited with status 0".into(), Some(&open(&[5])));
    m.close(1, 5);
    m.exit(1, "exited with status 0".into(), Some(&open(&[])));
    m.finish();
    assert_eq!(cases(&m), vec![]);
}

#[test]
fn a_receive_over_a_number_replaces_what_the_model_held() {
    let mut m = Model::default();
    m.start(1, "p".into());
    m.receive(recv(1, &[5], 0));
    m.receive(recv(1, &[5], CLOEXEC));
    m.exec(1, "q".into(), Some(&open(&[5])));
    m.finish();
    // The second receive's fd 5 has close-on-exec: no exec leak; the first
    // lacked MSG_CMSG_CLOEXEC and was never marked.
    assert_eq!(cases(&m), vec![Case::CloexecMissing]);
}

#[test]
fn a_descriptor_moved_onto_stdin_or_explicitly_inheritable_is_handed_over() {
    let mut m = Model::default();
    m.start(1, "retrieve".into());
    m.receive(recv(1, &[4, 5], CLOEXEC));
    m.dup(1, 4, 0, false);
    m.close(1, 4);
    m.set_cloexec(1, 5, false);
    m.exec(1, "cat".into(), Some(&open(&[0, 5])));
    m.exit(1, "exited with status 0".into(), Some(&open(&[0, 5])));
    m.finish();
    assert_eq!(cases(&m), vec![]);
    assert_eq!(m.processes().next().unwrap().counts.handed, 2);
}

#[test]
fn an_scm_pidfd_descriptor_always_has_close_on_exec() {
    let mut m = Model::default();
    m.start(1, "p".into());
    let mut r = recv(1, &[5], 0);
    r.pidfd = Some(6);
    m.receive(r);
    m.close(1, 5);
    m.exec(1, "q".into(), Some(&open(&[6])));
    m.finish();
    // fd 5 lacked MSG_CMSG_CLOEXEC; the pidfd is neither missing nor leaked.
    assert_eq!(cases(&m), vec![Case::CloexecMissing]);
    assert!(m.findings()[0].text.contains("[5]"), "{:?}", m.findings());
}
