//! Both encodings: decode(encode(frame)) == frame for every frame, and no input
//! whatsoever makes a decoder panic.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_core::protocol::{
    ClientFrame, Encoding, ErrorCode, Message, MessageKind, PublishFrame, Qos, ResumePoint,
    ServerFrame, SubscribeItem, SubscribeOptions, SyncStatus,
};
use sluice_core::{Epoch, RequestId};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "/[a-z]{1,8}(/[a-z0-9]{1,5}){0,3}",
        "\\PC{0,20}"
    ]
}

fn data() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        "\\PC{0,40}".prop_map(Bytes::from),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
    ]
}

fn epoch() -> impl Strategy<Value = Epoch> {
    "[a-f0-9]{1,8}-[0-9]{1,2}".prop_map(Epoch::new)
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let id = any::<u64>().prop_map(RequestId);
    let item = (text(), proptest::option::of((epoch(), any::<u64>()))).prop_map(|(subject, r)| {
        SubscribeItem {
            subject,
            resume: r.map(|(epoch, seq)| ResumePoint { epoch, seq }),
        }
    });
    prop_oneof![
        (
            id.clone(),
            proptest::collection::vec(item, 0..4),
            proptest::option::of(any::<u32>())
        )
            // JSON carries resume points in a map keyed by subject: subjects must be distinct.
            .prop_map(|(id, mut items, history)| {
                let mut seen = std::collections::BTreeSet::new();
                items.retain(|i| seen.insert(i.subject.clone()));
                ClientFrame::Subscribe {
                    id,
                    items,
                    options: SubscribeOptions {
                        delta: false,
                        history_end: false,
                        history,
                        headers: false,
                        conflate_ms: None,
                    },
                }
            }),
        (id.clone(), proptest::collection::vec(text(), 0..4))
            .prop_map(|(id, subjects)| ClientFrame::Unsubscribe { id, subjects }),
        (
            id.clone(),
            text(),
            data(),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(
                |(id, subject, data, retained, guaranteed, reply_to, traceparent)| {
                    ClientFrame::Publish(PublishFrame {
                        id,
                        subject,
                        data,
                        retained,
                        qos: if guaranteed {
                            Qos::Guaranteed
                        } else {
                            Qos::Standard
                        },
                        reply_to,
                        traceparent,
                    })
                }
            ),
        id.clone().prop_map(|id| ClientFrame::Ping { id }),
        (id, "[A-Za-z0-9_.-]{0,300}").prop_map(|(id, token)| ClientFrame::Auth { id, token }),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let id = any::<u64>().prop_map(RequestId);
    let kind = proptest::sample::select(MessageKind::ALL.to_vec());
    let code = proptest::sample::select(ErrorCode::ALL.to_vec());
    prop_oneof![
        id.clone().prop_map(|id| ServerFrame::Ok { id }),
        (
            proptest::option::of(id.clone()),
            proptest::option::of(text()),
            code,
            text()
        )
            .prop_map(|(id, subject, code, message)| ServerFrame::Error {
                id,
                subject,
                code,
                message
            }),
        (
            text(),
            proptest::option::of(data()),
            any::<u64>(),
            epoch(),
            kind
        )
            .prop_map(|(subject, data, seq, epoch, kind)| {
                ServerFrame::Message(Message {
                    delta: false,
                    subject: Arc::from(subject),
                    data,
                    seq,
                    epoch,
                    kind,
                    headers: None,
                    headers_truncated: false,
                    origin: None,
                })
            }),
        (id, epoch(), any::<u64>()).prop_map(|(id, epoch, seq)| ServerFrame::Ack {
            id,
            epoch,
            seq
        }),
        any::<u64>().prop_map(|expires_in_ms| ServerFrame::TokenExpiring { expires_in_ms }),
        (text(), any::<bool>()).prop_map(|(subject, sync)| ServerFrame::Status {
            subject: Arc::from(subject),
            status: if sync {
                SyncStatus::Sync
            } else {
                SyncStatus::Resync
            },
        }),
    ]
}

const ENCODINGS: [Encoding; 2] = [Encoding::Json, Encoding::Binary];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        for encoding in ENCODINGS {
            let bytes = encoding.encode_client(&frame);
            prop_assert_eq!(encoding.decode_client(&bytes), Ok(frame.clone()), "{:?}", encoding);
        }
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        for encoding in ENCODINGS {
            let bytes = encoding.encode_server(&frame);
            prop_assert_eq!(encoding.decode_server(&bytes), Ok(frame.clone()), "{:?}", encoding);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for encoding in ENCODINGS {
            let _ = encoding.decode_client(&bytes);
            let _ = encoding.decode_server(&bytes);
        }
    }

    /// Whatever decodes re-encodes to something that decodes to the same frame
    /// (the fuzz targets' property, here on every `cargo test`).
    #[test]
    fn decoded_frames_reencode_to_themselves(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            client_frame().prop_map(|f| Encoding::Binary.encode_client(&f)),
            client_frame().prop_map(|f| Encoding::Json.encode_client(&f)),
        ]
    ) {
        for encoding in ENCODINGS {
            if let Ok(frame) = encoding.decode_client(&bytes) {
                let again = encoding.decode_client(&encoding.encode_client(&frame));
                prop_assert_eq!(again, Ok(frame));
            }
        }
    }

    /// Frames with a bit flipped or a byte changed: an error or another frame,
    /// never a panic.
    #[test]
    fn mutated_frames_never_panic(frame in client_frame(), at in any::<usize>(), byte in any::<u8>()) {
        for encoding in ENCODINGS {
            let mut bytes = encoding.encode_client(&frame);
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            let _ = encoding.decode_client(&bytes);
        }
    }

    #[test]
    fn truncated_binary_frames_are_errors_not_panics(frame in client_frame(), cut in 0usize..64) {
        let bytes = Encoding::Binary.encode_client(&frame);
        let cut = cut.min(bytes.len().saturating_sub(1));
        prop_assert!(Encoding::Binary.decode_client(&bytes[..cut]).is_err());
    }
}
