//! Plain HTTP requests on the WebSocket listener: the JavaScript SDK's modules at
//! `/sdk/<file>.js` and the demo page at `/` (unless `demo_page = false`). The
//! files are those of `sdk/js/`, embedded in the binary, so there is one copy and
//! serving them needs no Node. Every answer closes the connection.

use sluice_driver::Refusal;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::config::WebSocketConfig;
use crate::handshake::PATH;

/// The SDK's modules, as a browser imports them: `/sdk/sluice.js` and its imports.
/// `sdk_modules_are_all_embedded` keeps this list equal to `sdk/js/src/*.js`.
macro_rules! sdk_modules {
    ($($name:literal),* $(,)?) => {
        const SDK_MODULES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../sdk/js/src/", $name))),)*
        ];
    };
}

sdk_modules!(
    "sluice.js",
    "client.js",
    "protocol.js",
    "positions.js",
    "in_flight.js",
    "subject.js",
    "json_codec.js",
    "binary_codec.js",
    "payload.js",
    "backoff.js",
    "server_list.js",
    "error.js",
    "emitter.js",
    "inbox.js",
    "fossil_delta.js",
);

const DEMO_PAGE: &str = include_str!("../../../sdk/js/demo/index.html");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// An HTTP answer: status line, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// Sent only for a `GET`; a `HEAD` gets the headers alone.
    pub with_body: bool,
}

/// The answer to a plain (non-upgrade) request for `path` with `method`.
pub fn answer(method: &str, path: &str, config: &WebSocketConfig) -> Answer {
    let path = path.split_once('?').map_or(path, |(path, _query)| path);
    let found = if path == "/" && config.demo_page {
        Some((HTML, DEMO_PAGE))
    } else if let Some(file) = path.strip_prefix("/sdk/") {
        SDK_MODULES
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, body)| (JAVASCRIPT, *body))
    } else {
        None
    };
    let with_body = method != "HEAD";
    match found {
        Some((content_type, body)) if method == "GET" || method == "HEAD" => Answer {
            status: "200 OK",
            content_type,
            body,
            with_body,
        },
        Some(_) => Answer {
            status: "405 Method Not Allowed",
            content_type: TEXT,
            body: "method not allowed; use GET\n",
            with_body: true,
        },
        None if path == PATH => Answer {
            status: "426 Upgrade Required",
            content_type: TEXT,
            body: "protocol v1 is a WebSocket: send an upgrade request\n",
            with_body,
        },
        None => Answer {
            status: "404 Not Found",
            content_type: TEXT,
            body: "not found; protocol v1 is served on /v1/ws\n",
            with_body,
        },
    }
}

/// The answer to a plain request on a connection refused at accept, as the
/// upgrade would have been refused.
pub fn refusal(refusal: Refusal) -> Answer {
    let (status, body) = match refusal {
        Refusal::ConnectionsMax => ("503 Service Unavailable", "too many connections\n"),
        _ => (
            "429 Too Many Requests",
            "too many connections from this address\n",
        ),
    };
    Answer {
        status,
        content_type: TEXT,
        body,
        with_body: true,
    }
}

/// Writes `answer` and closes the connection.
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    answer: &Answer,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    if answer.status.starts_with("405") {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if answer.content_type == JAVASCRIPT {
        // The SDK is public code: pages of any origin may import it.
        head.push_str("Access-Control-Allow-Origin: *\r\n");
    }
    if answer.status.starts_with("426") {
        head.push_str("Upgrade: websocket\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if answer.with_body {
        stream.write_all(answer.body.as_bytes()).await?;
    }
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> WebSocketConfig {
        WebSocketConfig::default()
    }

    #[test]
    fn the_sdk_is_served_as_javascript() {
        let got = answer("GET", "/sdk/sluice.js", &on());
        assert_eq!((got.status, got.content_type), ("200 OK", JAVASCRIPT));
        assert!(got.body.contains("export"));
        let got = answer("GET", "/sdk/protocol.js?v=1", &on());
        assert_eq!(got.status, "200 OK");
    }

    #[test]
    fn the_demo_page_is_served_unless_turned_off() {
        let got = answer("GET", "/", &on());
        assert_eq!((got.status, got.content_type), ("200 OK", HTML));
        let off = WebSocketConfig {
            demo_page: false,
            ..on()
        };
        assert_eq!(answer("GET", "/", &off).status, "404 Not Found");
        assert_eq!(answer("GET", "/sdk/sluice.js", &off).status, "200 OK");
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        assert_eq!(answer("GET", "/nope", &on()).status, "404 Not Found");
        assert_eq!(
            answer("GET", "/sdk/../Cargo.toml", &on()).status,
            "404 Not Found"
        );
        assert_eq!(answer("GET", "/sdk/", &on()).status, "404 Not Found");
        assert_eq!(answer("POST", "/", &on()).status, "405 Method Not Allowed");
        assert_eq!(
            answer("DELETE", "/sdk/sluice.js", &on()).status,
            "405 Method Not Allowed"
        );
        assert_eq!(
            answer("GET", "/v1/ws", &on()).status,
            "426 Upgrade Required"
        );
        let head = answer("HEAD", "/sdk/sluice.js", &on());
        assert_eq!((head.status, head.with_body), ("200 OK", false));
    }

    #[test]
    fn sdk_modules_are_all_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/js/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("sdk/js/src")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".js"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SDK_MODULES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "update sdk_modules! in plain_http.rs");
    }
}
