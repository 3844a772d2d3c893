//! The admin listener, on its own address: `GET /metrics`, `GET /healthz` (the
//! process is alive), `GET /readyz` (the gateway accepts clients; if not, the body
//! says why). Every other request goes to the [`AdminRoutes`] given, if any (the
//! Portal: its API and console).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::exposition::Metrics;

/// Admin connections open at once; one more is closed as soon as it is accepted.
pub const CONNECTIONS_MAX: usize = 128;

/// Time a client has to send a request's head before its connection is closed.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The content type of the Prometheus text format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A response on its way.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// Serves the admin listener's other paths: the peer's address and the request in,
/// the response out.
pub type AdminRoutes = Arc<dyn Fn(SocketAddr, Request<Incoming>) -> ResponseFuture + Send + Sync>;

/// A running admin listener. Dropping it stops accepting.
pub struct AdminServer {
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl AdminServer {
    /// Binds `listen` and serves until dropped.
    pub async fn start(listen: SocketAddr, metrics: Arc<Metrics>) -> io::Result<AdminServer> {
        Self::start_with(listen, metrics, None).await
    }

    /// [`AdminServer::start`], handing paths other than `/metrics`, `/healthz` and
    /// `/readyz` to `routes`.
    pub async fn start_with(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
        routes: Option<AdminRoutes>,
    ) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(listen).await?;
        Self::serve(listener, metrics, routes)
    }

    /// Serves on a listener already bound (so its address is known before the
    /// routes are built).
    pub fn serve(
        listener: TcpListener,
        metrics: Arc<Metrics>,
        routes: Option<AdminRoutes>,
    ) -> io::Result<AdminServer> {
        let local_addr = listener.local_addr()?;
        let accept = tokio::spawn(accept_loop(listener, metrics, routes));
        Ok(AdminServer { local_addr, accept })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, metrics: Arc<Metrics>, routes: Option<AdminRoutes>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%err, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "admin connection refused: {CONNECTIONS_MAX} already open");
            drop(stream);
            continue;
        };
        let metrics = metrics.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request: Request<Incoming>| {
                let built_in = matches!(request.uri().path(), "/metrics" | "/healthz" | "/readyz");
                let response = match (&routes, built_in) {
                    (Some(routes), false) => either(Some(routes(peer, request)), None),
                    _ => either(None, Some(respond(&metrics, &request))),
                };
                async move { Ok::<_, Infallible>(response.await) }
            });
            if let Err(err) = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%err, "admin connection ended with an error");
            }
        });
    }
}

/// The response of a route, or one already made.
async fn either(
    future: Option<ResponseFuture>,
    ready: Option<Response<Full<Bytes>>>,
) -> Response<Full<Bytes>> {
    match (future, ready) {
        (Some(future), _) => future.await,
        (None, Some(ready)) => ready,
        (None, None) => text(StatusCode::INTERNAL_SERVER_ERROR, "no response\n".into()),
    }
}

fn respond(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics.render());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let health = metrics.probe().health();
            if health.is_ready() {
                text(StatusCode::OK, "ready\n".into())
            } else {
                let mut body = String::from("not ready\n");
                for reason in health.reasons() {
                    body.push_str(&reason);
                    body.push('\n');
                }
                text(StatusCode::SERVICE_UNAVAILABLE, body)
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /healthz, /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
