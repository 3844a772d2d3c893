//! Bad client input gets the documented error frame (or close code), the same
//! connection keeps working, and other clients are never disturbed.

mod common;

use common::RawClient;
use serde_json::json;

#[tokio::test]
async fn bad_input_gets_documented_errors_and_disturbs_no_one() {
    let server = common::start(|c| c.gateway.frame_bytes_max = 4096).await;
    let url = server.url();

    // A bystander subscribed to /demo/b, and a publisher feeding it.
    let mut bystander = RawClient::connect(&url, "sluice.v1.json").await;
    assert_eq!(
        bystander
            .request(r#"{"op":"subscribe","id":1,"subjects":["/demo/b"]}"#)
            .await,
        json!({"op":"ok","id":1})
    );
    let mut publisher = RawClient::connect(&url, "sluice.v1.json").await;
    let mut published = 0u64;

    let mut bad = RawClient::connect(&url, "sluice.v1.json").await;
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("{not json", json!({"code": "invalid_frame"})),
        (
            r#"{"op":"dance","id":7}"#,
            json!({"id": 7, "code": "unknown_op"}),
        ),
        (r#"{"id":8}"#, json!({"id": 8, "code": "invalid_frame"})),
        (
            r#"{"op":"subscribe","id":9}"#,
            json!({"id": 9, "code": "invalid_frame"}),
        ),
        (
            r#"{"op":"subscribe","id":10,"subjects":["no-slash"]}"#,
            json!({"id": 10, "subject": "no-slash", "code": "invalid_subject"}),
        ),
        (
            r#"{"op":"subscribe","id":11,"subjects":["/demo//x"]}"#,
            json!({"id": 11, "subject": "/demo//x", "code": "invalid_subject"}),
        ),
        (
            r#"{"op":"subscribe","id":12,"subjects":["/secret/x"]}"#,
            json!({"id": 12, "subject": "/secret/x", "code": "not_exposed"}),
        ),
        (
            r#"{"op":"publish","id":13,"subject":"/secret/x","data":"x"}"#,
            json!({"id": 13, "subject": "/secret/x", "code": "not_exposed"}),
        ),
        (
            r#"{"op":"publish","id":14,"subject":"/demo/b","data":"%%%","b64":true}"#,
            json!({"id": 14, "code": "invalid_data"}),
        ),
        (
            r#"{"op":"publish","id":15,"subject":"/demo/b","data":"x","qos":"maybe"}"#,
            json!({"id": 15, "code": "invalid_frame"}),
        ),
        (
            r#"{"op":"publish","id":16,"subject":"/demo/b","data":"x","reply_to":"bad"}"#,
            json!({"id": 16, "code": "invalid_subject"}),
        ),
        ("[1,2,3]", json!({"code": "invalid_frame"})),
        // Protocol 1.1 fields out of range or of the wrong type.
        (
            r#"{"op":"subscribe","id":17,"subjects":["/demo/b"],"history":1001}"#,
            json!({"id": 17, "code": "invalid_frame"}),
        ),
        (
            r#"{"op":"subscribe","id":18,"subjects":["/demo/b"],"history":5,"history_end":"yes"}"#,
            json!({"id": 18, "code": "invalid_frame"}),
        ),
        (
            r#"{"op":"subscribe","id":19,"subjects":["/demo/b"],"conflate_ms":50}"#,
            json!({"id": 19, "code": "invalid_frame"}),
        ),
        (
            r#"{"op":"subscribe","id":20,"subjects":["/demo/b"],"headers":1}"#,
            json!({"id": 20, "code": "invalid_frame"}),
        ),
        (
            r#"{"op":"subscribe","id":21,"subjects":["/demo/b"],"delta":"yes"}"#,
            json!({"id": 21, "code": "invalid_frame"}),
        ),
    ];
    for (frame, expected) in cases {
        let answer = bad.request(frame).await;
        assert_eq!(answer["op"], "error", "{frame} → {answer}");
        for (field, value) in expected.as_object().unwrap() {
            assert_eq!(&answer[field], value, "{frame} → {answer}");
        }
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer} has no message"
        );
        // A subscribe's per-subject errors are followed by its ok.
        if frame.contains(r#""op":"subscribe""#) && answer.get("subject").is_some() {
            let id = &answer["id"];
            assert_eq!(bad.recv().await, json!({"op":"ok","id":id}));
        }
        // The same connection keeps working.
        assert_eq!(
            bad.request(r#"{"op":"ping","id":99}"#).await,
            json!({"op":"ok","id":99})
        );
        // The bystander keeps receiving, in order.
        published += 1;
        let publish = json!({"op":"publish","id":published,"subject":"/demo/b","data":format!("m{published}")});
        let ack = publisher.request(&publish.to_string()).await;
        assert_eq!(ack["op"], "ack", "{ack}");
        let update = bystander.recv().await;
        assert_eq!(
            (update["type"].as_str(), update["data"].as_str()),
            (Some("update"), Some(format!("m{published}").as_str()))
        );
        assert_eq!(update["seq"], ack["seq"]);
    }

    // Oversized: close code 1009, and only for that client.
    bad.send_text(&format!(
        r#"{{"op":"publish","id":1,"subject":"/demo/b","data":"{}"}}"#,
        "x".repeat(5000)
    ))
    .await;
    let close = bad.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009);
    let ack = publisher
        .request(r#"{"op":"publish","id":100,"subject":"/demo/b","data":"after"}"#)
        .await;
    assert_eq!(ack["op"], "ack");
    let update = bystander.recv().await;
    assert_eq!(
        (update["data"].as_str(), &update["seq"]),
        (Some("after"), &ack["seq"])
    );
}

#[tokio::test]
async fn binary_encoding_reports_bad_frames_too() {
    let server = common::start(|_| {}).await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.bin").await;
    use sluice_core::protocol::{binary, ServerFrame};
    client.send_binary(vec![0x7f]).await;
    let frame = binary::decode_server(&client.recv_binary().await).unwrap();
    assert!(
        matches!(
            frame,
            ServerFrame::Error {
                code: sluice_core::protocol::ErrorCode::UnknownOp,
                ..
            }
        ),
        "{frame:?}"
    );
    client.send_binary(vec![0x01, 0, 0]).await;
    let frame = binary::decode_server(&client.recv_binary().await).unwrap();
    assert!(
        matches!(
            frame,
            ServerFrame::Error {
                code: sluice_core::protocol::ErrorCode::InvalidFrame,
                ..
            }
        ),
        "{frame:?}"
    );
    client
        .send_binary(binary::encode_client(
            &sluice_core::protocol::ClientFrame::Ping {
                id: sluice_core::RequestId(5),
            },
        ))
        .await;
    let frame = binary::decode_server(&client.recv_binary().await).unwrap();
    assert_eq!(
        frame,
        ServerFrame::Ok {
            id: sluice_core::RequestId(5)
        }
    );
}

#[tokio::test]
async fn wrong_path_and_unknown_subprotocol_are_refused() {
    let server = common::start(|_| {}).await;
    let wrong_path = format!("ws://{}/elsewhere", server.local_addr());
    let err = tokio_tungstenite::connect_async(wrong_path)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server.url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}
