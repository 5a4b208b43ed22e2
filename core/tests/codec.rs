//! The pure codec: round trips, the checks on untrusted bytes, encoder
//! errors. No sockets.

use inflight::codec::{
    cmsg_len, cmsg_space, decode, decode_clamped, encode, encoded_len, ControlMessage, FdList,
    Message, DATA_OFFSET, HEADER_SIZE,
};
use inflight::{Credentials, ErrorKind};
use inflight_testkit::cmsg::{self, Cmsg};

/// A header alone claiming `cmsg_len = len`, from the test kit's builder.
fn header(len: usize, level: i32, kind: i32) -> Vec<u8> {
    let h = Cmsg::raw(level, kind, &[]).with_len(len).to_bytes();
    assert_eq!(h.len(), HEADER_SIZE);
    h
}

#[test]
fn round_trip_of_every_message_kind() {
    let creds = Credentials {
        pid: 42,
        uid: 1000,
        gid: 100,
    };
    let msgs = [
        ControlMessage::Rights(FdList::Raw(&[3, 4, 5])),
        ControlMessage::Credentials(creds),
        ControlMessage::Other {
            level: 7,
            kind: 9,
            data: b"abcde",
        },
        ControlMessage::Rights(FdList::Raw(&[])),
    ];
    let mut buf = vec![0u8; 256];
    let bytes = encode(&msgs, &mut buf).unwrap().to_vec();
    assert_eq!(bytes.len(), encoded_len(&msgs));
    // Byte for byte what the test kit's independent builder writes.
    let expected = cmsg::concat(&[
        Cmsg::rights(&[3, 4, 5]),
        Cmsg::credentials(42, 1000, 100),
        Cmsg::raw(7, 9, b"abcde"),
        Cmsg::rights(&[]),
    ]);
    assert_eq!(bytes, expected);
    assert_eq!(
        bytes.len(),
        cmsg_space(12) + cmsg_space(12) + cmsg_space(5) + cmsg_space(0)
    );
    let got: Vec<_> = decode(&bytes).map(|m| m.unwrap()).collect();
    assert_eq!(got.len(), 4);
    match got[0].parse() {
        Message::Rights(r) => assert_eq!(r.iter().collect::<Vec<_>>(), [3, 4, 5]),
        m => panic!("{m:?}"),
    }
    assert_eq!(got[1].parse(), Message::Credentials(creds));
    assert_eq!(
        got[2].parse(),
        Message::Other {
            level: 7,
            kind: 9,
            data: b"abcde"
        }
    );
    match got[3].parse() {
        Message::Rights(r) => assert!(r.is_empty()),
        m => panic!("{m:?}"),
    }
    assert!(got.iter().all(|m| !m.truncated));
    // Offsets advance by CMSG_SPACE.
    assert_eq!(got[1].offset, cmsg_space(12));
    assert_eq!(got[2].data_range.start, 2 * cmsg_space(12) + DATA_OFFSET);
}

#[test]
fn encoder_refuses_too_many_fds_and_small_buffers() {
    let fds = vec![1; 254];
    let mut buf = vec![0u8; 4096];
    let e = encode(&[ControlMessage::Rights(FdList::Raw(&fds))], &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyFds);
    // 253 split over two messages is fine; 254 split is not.
    assert!(encode(
        &[
            ControlMessage::Rights(FdList::Raw(&fds[..200])),
            ControlMessage::Rights(FdList::Raw(&fds[200..253]))
        ],
        &mut buf
    )
    .is_ok());
    let e = encode(
        &[
            ControlMessage::Rights(FdList::Raw(&fds[..200])),
            ControlMessage::Rights(FdList::Raw(&fds[200..])),
        ],
        &mut buf,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyFds);
    let mut small = vec![0u8; cmsg_space(8) - 1];
    let e = encode(&[ControlMessage::Rights(FdList::Raw(&[1, 2]))], &mut small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BufferTooSmall);
    assert_eq!(encode(&[], &mut small).unwrap().len(), 0);
}

#[test]
fn cmsg_len_past_the_end_is_clamped_and_ends_the_walk() {
    let mut buf = header(cmsg_len(4 * 100), libc::SOL_SOCKET, libc::SCM_RIGHTS);
    buf.extend_from_slice(&7i32.to_ne_bytes());
    buf.extend_from_slice(&[1, 2]); // a partial number
    let got: Vec<_> = decode(&buf).collect();
    assert_eq!(got.len(), 1);
    let m = got[0].as_ref().unwrap();
    assert!(m.truncated);
    assert_eq!(m.data_range, HEADER_SIZE..buf.len());
    match m.parse() {
        Message::Rights(r) => {
            assert_eq!(r.iter().collect::<Vec<_>>(), [7]);
            assert_eq!(r.trailing_bytes(), 2);
        }
        m => panic!("{m:?}"),
    }
    // usize::MAX must not overflow anything.
    let buf = header(usize::MAX, libc::SOL_SOCKET, libc::SCM_RIGHTS);
    let got: Vec<_> = decode(&buf).collect();
    assert_eq!(got.len(), 1);
    assert!(got[0].as_ref().unwrap().truncated);
}

#[test]
fn short_cmsg_len_is_malformed_and_stops() {
    for bad in [0, 1, HEADER_SIZE - 1] {
        let mut buf = header(bad, libc::SOL_SOCKET, libc::SCM_RIGHTS);
        buf.extend(header(cmsg_len(0), 1, 1));
        let got: Vec<_> = decode(&buf).collect();
        assert_eq!(got.len(), 1, "one error, then nothing");
        assert_eq!(
            got[0].as_ref().unwrap_err().kind(),
            ErrorKind::MalformedControl
        );
    }
}

#[test]
fn claimed_length_is_clamped_to_the_buffer() {
    let mut buf = header(cmsg_len(4), libc::SOL_SOCKET, libc::SCM_RIGHTS);
    buf.extend_from_slice(&9i32.to_ne_bytes());
    buf.extend_from_slice(&[0; 4]);
    assert_eq!(decode_clamped(&buf, 1 << 40).count(), 1);
    assert_eq!(
        decode_clamped(&buf, HEADER_SIZE - 1).count(),
        0,
        "no whole header"
    );
    // Claimed length cutting into the data: clamped, marked truncated.
    let m = decode_clamped(&buf, HEADER_SIZE + 2)
        .next()
        .unwrap()
        .unwrap();
    assert!(m.truncated);
    assert_eq!(m.data.len(), 2);
}

#[test]
fn last_message_without_trailing_padding_is_still_returned() {
    // Two messages; the buffer ends right after the second's data (no
    // padding), as the kernel may report msg_controllen.
    let mut buf = header(cmsg_len(4), libc::SOL_SOCKET, libc::SCM_RIGHTS);
    buf.extend_from_slice(&3i32.to_ne_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend(header(cmsg_len(4), libc::SOL_SOCKET, libc::SCM_RIGHTS));
    buf.extend_from_slice(&4i32.to_ne_bytes());
    let got: Vec<_> = decode(&buf).map(|m| m.unwrap()).collect();
    assert_eq!(got.len(), 2);
    assert!(!got[1].truncated);
}

#[test]
fn short_credentials_and_pidfd_are_not_parsed_as_typed() {
    let mut buf = header(cmsg_len(8), libc::SOL_SOCKET, libc::SCM_CREDENTIALS);
    buf.extend_from_slice(&[0; 8]);
    let m = decode(&buf).next().unwrap().unwrap();
    assert!(
        matches!(m.parse(), Message::Other { .. }),
        "8 bytes are not a ucred"
    );
    let mut buf = header(cmsg_len(2), libc::SOL_SOCKET, inflight::codec::SCM_PIDFD);
    buf.extend_from_slice(&[0; 6]);
    let m = decode(&buf).next().unwrap().unwrap();
    assert!(matches!(m.parse(), Message::Other { .. }));
}
