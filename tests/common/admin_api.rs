//! Raw HTTP/1.1 requests to the Portal's admin API: any method, headers and body
//! (hostile ones too), one request per connection; the answer's status and JSON.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The admin listener of a gateway, with the token to send (if any).
#[derive(Clone)]
pub struct Admin {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Admin {
    pub fn new(addr: SocketAddr) -> Admin {
        Admin { addr, token: None }
    }

    /// From a base URL such as `http://127.0.0.1:40123`.
    pub fn from_url(url: &str) -> Admin {
        Admin::new(
            url.trim_start_matches("http://")
                .parse()
                .expect("an admin address"),
        )
    }

    pub fn with_token(mut self, token: &str) -> Admin {
        self.token = Some(token.to_owned());
        self
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    pub async fn put(&self, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call("PUT", path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    /// A request with this gateway's token (if any) and a JSON body (if any).
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ));
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body.as_bytes());
        let (status, body) = raw_request(self.addr, &raw).await;
        let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, json)
    }
}

/// Sends `raw` bytes as they are; the status and the body.
pub async fn raw_request(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let response = raw_response(addr, raw).await;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return (0, response);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// Sends `raw` and returns the whole answer, head and body, as text.
pub async fn raw_response(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    // The server may answer (and close) before reading a large body.
    let _ = stream.write_all(raw).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}
