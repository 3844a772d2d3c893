//! The admin API's routes (`docs/portal.md` documents each request and answer).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_auth::{Claims, PermissionClaims};
use sluice_core::subject::is_valid_topic;
use sluice_core::{ExposureChange, SubjectPattern};

use crate::http::{
    constant_time_eq, json, parse_json, percent_decode, query_param, read_body, ApiError,
};
use crate::stats::{connections_by_transport, merged_stats, now_ms};
use crate::{BackendError, Inner, StoredChange};

/// Longest `prefix` or `cursor` of the subject browser, in bytes.
const QUERY_TEXT_BYTES_MAX: usize = 2048;
/// Subjects per page when the request names no `limit`.
const SUBJECTS_PAGE_DEFAULT: usize = 100;
/// Patterns of each kind one issued token may carry.
const TOKEN_PATTERNS_MAX: usize = 64;

pub async fn handle(
    inner: &Inner,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if !path.starts_with("/api/") {
        return static_file(request.method(), &path);
    }
    let result = match same_origin(&request).and_then(|()| authorize(inner, &request)) {
        Ok(by_token) => {
            let by = format!(
                "{} from {peer}",
                if by_token { "admin-token" } else { "anonymous" }
            );
            route(inner, request, &path, &by).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(response) => {
            inner.metrics.requests.with_label_values(&["ok"]).inc();
            response
        }
        Err(err) => {
            inner.metrics.requests.with_label_values(&[err.code]).inc();
            tracing::info!(target: "sluice::admin", path, status = err.status.as_u16(), code = err.code, "admin request refused: {}", err.message);
            err.response()
        }
    }
}

/// Refuses requests a browser sent from a page of another origin: another site
/// must not drive the admin API through an operator's browser (without a token,
/// on loopback, nothing else would stop it). Browsers send `Origin` on every
/// cross-origin request and on same-origin ones other than GET; tools send none.
fn same_origin(request: &Request<Incoming>) -> Result<(), ApiError> {
    let Some(origin) = request.headers().get(hyper::header::ORIGIN) else {
        return Ok(());
    };
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin = origin.to_str().unwrap_or_default();
    let same = !host.is_empty()
        && origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            == Some(host);
    if same {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            format!("requests from pages of {origin} are refused; the admin API serves its own console only"),
        ))
    }
}

/// Without an admin token the listener is on loopback (`sluice serve` refuses
/// anything else), and a request must name a loopback host. Otherwise a page
/// whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) would be "same
/// origin" with the listener, and could read subjects and mint tokens through an
/// operator's browser.
fn loopback_host(request: &Request<Incoming>) -> Result<(), ApiError> {
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if is_loopback_host(host) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!("without [admin] token this API answers only requests to a loopback host (localhost, 127.0.0.1, [::1]), not {host:?}"),
        ))
    }
}

/// `localhost`, a 127/8 address or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the request carries the admin token (true), or none is needed (false).
fn authorize(inner: &Inner, request: &Request<Incoming>) -> Result<bool, ApiError> {
    let Some(expected) = &inner.admin_token else {
        return loopback_host(request).map(|()| false);
    };
    let unauthorized = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("this admin API needs Authorization: Bearer <admin token>"))?;
    let given = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("the Authorization header must be: Bearer <admin token>"))?;
    if constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) {
        Ok(true)
    } else {
        Err(unauthorized("wrong admin token"))
    }
}

async fn route(
    inner: &Inner,
    request: Request<Incoming>,
    path: &str,
    by: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_owned);
    let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    if !path.starts_with("/api/v1/") {
        return Err(not_found(path));
    }
    match (&method, segments.as_slice()) {
        (&Method::GET, ["info"]) => Ok(json(StatusCode::OK, &info(inner))),
        (&Method::GET, ["topics"]) => Ok(json(StatusCode::OK, &topics(inner))),
        (&Method::PUT, ["topics", name]) => {
            let name = topic_name(name)?;
            // A body is not needed; one that is sent must still be bounded.
            read_body(request, inner.config.body_bytes_max).await?;
            expose_topic(inner, name, by).await
        }
        (&Method::DELETE, ["topics", name]) => {
            let name = topic_name(name)?;
            unexpose_topic(inner, name, by).await
        }
        (&Method::GET, ["topics", name, "subjects"]) => {
            let name = topic_name(name)?;
            subjects(inner, &name, query.as_deref())
        }
        (&Method::GET, ["patterns"]) => {
            Ok(json(StatusCode::OK, &json!({"patterns": patterns(inner)})))
        }
        (&Method::PUT, ["patterns"]) => {
            let body = read_body(request, inner.config.body_bytes_max).await?;
            let PatternBody { regex } = parse_json(&body)?;
            change_pattern(inner, regex, true, by).await
        }
        (&Method::DELETE, ["patterns"]) => {
            let regex = query_param(query.as_deref(), "regex")?.ok_or_else(|| {
                ApiError::bad_request(
                    "bad_request",
                    "name the pattern: DELETE /api/v1/patterns?regex=<percent-encoded regex>",
                )
            })?;
            change_pattern(inner, regex, false, by).await
        }
        (&Method::GET, ["stats"]) => Ok(json(StatusCode::OK, &stats(inner))),
        (&Method::GET, ["broker"]) => Ok(json(StatusCode::OK, &inner.backend.broker_view().await)),
        (&Method::POST, ["tokens"]) => {
            let body = read_body(request, inner.config.body_bytes_max).await?;
            issue_token(inner, parse_json(&body)?, by)
        }
        (_, ["info" | "topics" | "patterns" | "stats" | "broker" | "tokens"])
        | (_, ["topics", _])
        | (_, ["topics", _, "subjects"]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(not_found(path)),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {path}; see docs/portal.md"),
    )
}

fn topic_name(segment: &str) -> Result<String, ApiError> {
    let name = percent_decode(segment)?;
    if !is_valid_topic(&name) {
        return Err(ApiError::bad_request(
            "invalid_topic",
            format!("{name:?} is not a valid topic name (1 to 249 characters of [a-zA-Z0-9._-])"),
        ));
    }
    Ok(name)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternBody {
    regex: String,
}

fn info(inner: &Inner) -> Value {
    let can_issue = inner
        .auth
        .keys
        .iter()
        .any(|k| k.secret.is_some() && k.algorithm.is_hmac());
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "broker": inner.backend.kind(),
        "changes_durable": inner.backend.durable(),
        "websocket_url": inner.websocket_url.get(),
        "auth_mode": match inner.auth.mode { sluice_auth::AuthMode::None => "none", sluice_auth::AuthMode::Jwt => "jwt" },
        "admin_token_required": inner.admin_token.is_some(),
        "can_issue_tokens": can_issue,
        "allowed_origins": inner.allowed_origins,
        "shards": inner.runtimes.len(),
    })
}

/// Every shard's topics: counts from the first shard (every shard reads every
/// record), subscribers summed over all.
fn topics(inner: &Inner) -> Value {
    let mut infos = inner
        .runtimes
        .first()
        .map(|r| r.inspect(|g| g.topic_infos()))
        .unwrap_or_default();
    for runtime in inner.runtimes.iter().skip(1) {
        let others: BTreeMap<String, u64> = runtime
            .inspect(|g| g.topic_infos())
            .into_iter()
            .map(|t| (t.name, t.subscribers))
            .collect();
        for info in &mut infos {
            info.subscribers += others.get(&info.name).copied().unwrap_or(0);
        }
    }
    let rates = inner.stats.topic_rates();
    let topics: Vec<Value> = infos
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "listed": t.listed,
                "ready": t.partitions > 0,
                "partitions": t.partitions,
                "records_seen": t.records_seen,
                "records_per_s": rates.get(&t.name).copied().unwrap_or(0.0),
                "subjects_with_snapshot": t.subjects_with_snapshot,
                "subscribers": t.subscribers,
            })
        })
        .collect();
    json!({"topics": topics, "patterns": patterns(inner)})
}

fn patterns(inner: &Inner) -> Vec<Value> {
    let Some(runtime) = inner.runtimes.first() else {
        return Vec::new();
    };
    runtime.inspect(|g| {
        let infos = g.topic_infos();
        g.exposed_patterns()
            .into_iter()
            .map(|regex| {
                let matching: Vec<&str> = match sluice_core::compile_pattern(&regex) {
                    Ok(compiled) => infos
                        .iter()
                        .filter(|t| t.partitions > 0 && compiled.is_match(&t.name))
                        .map(|t| t.name.as_str())
                        .collect(),
                    Err(_) => Vec::new(),
                };
                json!({"regex": regex, "topics": matching})
            })
            .collect()
    })
}

async fn expose_topic(
    inner: &Inner,
    name: String,
    by: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let change = ExposureChange::Topic {
        name: name.clone(),
        exposed: true,
    };
    let applied = apply(inner, change, "expose_topic", by).await?;
    let topic = topics(inner)["topics"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == name.as_str()).cloned());
    Ok(change_answer(
        applied,
        json!({"topic": name, "exposed": true, "applied": applied, "info": topic}),
    ))
}

async fn unexpose_topic(
    inner: &Inner,
    name: String,
    by: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let (listed, by_pattern) = inner
        .runtimes
        .first()
        .map(|r| {
            r.inspect(|g| {
                (
                    g.exposed_topics().contains(&name),
                    g.pattern_matches(&name) && g.topic_known(&name),
                )
            })
        })
        .unwrap_or_default();
    if by_pattern {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exposed_by_pattern",
            format!("topic {name} matches an exposed pattern; stop the pattern to stop it"),
        ));
    }
    if !listed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_exposed",
            format!("topic {name} is not exposed"),
        ));
    }
    let change = ExposureChange::Topic {
        name: name.clone(),
        exposed: false,
    };
    let applied = apply(inner, change, "unexpose_topic", by).await?;
    Ok(change_answer(
        applied,
        json!({"topic": name, "exposed": false, "applied": applied}),
    ))
}

async fn change_pattern(
    inner: &Inner,
    regex: String,
    exposed: bool,
    by: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    if let Err(err) = sluice_core::compile_pattern(&regex) {
        return Err(ApiError::bad_request("invalid_pattern", err.to_string()));
    }
    let present = inner
        .runtimes
        .first()
        .is_some_and(|r| r.inspect(|g| g.exposed_patterns().contains(&regex)));
    if !exposed && !present {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_exposed",
            format!("pattern {regex:?} is not exposed"),
        ));
    }
    let change = ExposureChange::Pattern {
        regex: regex.clone(),
        exposed,
    };
    let action = if exposed {
        "expose_pattern"
    } else {
        "unexpose_pattern"
    };
    let applied = apply(inner, change, action, by).await?;
    Ok(change_answer(
        applied,
        json!({"regex": regex, "exposed": exposed, "applied": applied}),
    ))
}

/// 200 when this gateway applied the change, 202 when it was stored but is still
/// applying.
fn change_answer(applied: bool, body: Value) -> Response<Full<Bytes>> {
    let status = if applied {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    json(status, &body)
}

/// Stores a change, then waits (bounded) until every shard's core has it. True if
/// it did in time.
async fn apply(
    inner: &Inner,
    change: ExposureChange,
    action: &'static str,
    by: &str,
) -> Result<bool, ApiError> {
    let _one_at_a_time = inner.changing.lock().await;
    inner
        .backend
        .prepare(&change)
        .await
        .map_err(backend_error)?;
    let stored = StoredChange {
        change: change.clone(),
        by: by.to_owned(),
        at_ms: now_ms(),
    };
    inner.backend.store(&stored).await.map_err(backend_error)?;
    inner.metrics.changes.with_label_values(&[action]).inc();
    tracing::info!(target: "sluice::admin", by, action, change = ?change, "admin change stored");
    let deadline = Instant::now() + Duration::from_millis(inner.config.apply_timeout_ms);
    loop {
        if inner
            .runtimes
            .iter()
            .all(|r| r.inspect(|g| has_applied(g, &change)))
        {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            tracing::info!(target: "sluice::admin", action, "change stored, still applying when answered");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn has_applied(g: &sluice_core::Gateway, change: &ExposureChange) -> bool {
    match change {
        // An exposed topic is usable once the broker announced its partitions.
        ExposureChange::Topic {
            name,
            exposed: true,
        } => g.exposed_topics().contains(name) && g.topic_known(name),
        ExposureChange::Topic {
            name,
            exposed: false,
        } => !g.exposed_topics().contains(name),
        ExposureChange::Pattern { regex, exposed } => {
            g.exposed_patterns().contains(regex) == *exposed
        }
    }
}

fn backend_error(err: BackendError) -> ApiError {
    match err {
        BackendError::UnknownTopic(name) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_topic",
            format!("topic {name} does not exist in Kafka; create it first"),
        ),
        BackendError::Unavailable(why) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why)
        }
    }
}

fn subjects(
    inner: &Inner,
    topic: &str,
    query: Option<&str>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let prefix = query_param(query, "prefix")?.unwrap_or_default();
    let cursor = query_param(query, "cursor")?.filter(|c| !c.is_empty());
    if prefix.len() > QUERY_TEXT_BYTES_MAX
        || cursor
            .as_ref()
            .is_some_and(|c| c.len() > QUERY_TEXT_BYTES_MAX)
    {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("prefix and cursor are at most {QUERY_TEXT_BYTES_MAX} bytes"),
        ));
    }
    let max = inner.config.subjects_page_max;
    let limit = match query_param(query, "limit")? {
        None => SUBJECTS_PAGE_DEFAULT.min(max),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "bad_request",
                    format!("limit must be 1 to {max} (portal.subjects_page_max)"),
                ))
            }
        },
    };
    let Some(first) = inner.runtimes.first() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no gateway core",
        ));
    };
    if !first.inspect(|g| g.is_exposed(topic)) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_exposed",
            format!("topic {topic} is not exposed"),
        ));
    }
    let preview = inner.config.snapshot_preview_bytes_max;
    let page = |g: &sluice_core::Gateway| {
        g.subject_infos(topic, &prefix, cursor.as_deref(), limit, preview)
    };
    let (mut subjects, next) = first.inspect(page);
    for runtime in inner.runtimes.iter().skip(1) {
        let (others, _) = runtime.inspect(page);
        let counts: BTreeMap<String, u64> = others
            .into_iter()
            .map(|s| (s.subject, s.subscribers))
            .collect();
        for subject in &mut subjects {
            subject.subscribers += counts.get(&subject.subject).copied().unwrap_or(0);
        }
    }
    Ok(json(
        StatusCode::OK,
        &json!({"topic": topic, "subjects": subjects, "next_cursor": next}),
    ))
}

fn stats(inner: &Inner) -> Value {
    let stats = merged_stats(inner);
    let (snapshot_max, message_max) = inner
        .runtimes
        .first()
        .map(|r| {
            r.inspect(|g| {
                (
                    g.config().snapshot_cache_bytes_max,
                    g.config().message_cache_bytes_max,
                )
            })
        })
        .unwrap_or_default();
    let samples = inner.stats.samples();
    let last = samples.last();
    let topics: Vec<Value> = inner
        .stats
        .topic_rates()
        .into_iter()
        .map(|(name, rate)| json!({"name": name, "records_per_s": rate}))
        .collect();
    json!({
        "connections": connections_by_transport(inner),
        "clients": stats.clients_connected,
        "subscriptions": stats.subscriptions_active,
        "deliveries_per_s": last.map_or(0.0, |s| s.deliveries_per_s),
        "publishes_per_s": last.map_or(0.0, |s| s.publishes_per_s),
        "deliveries_total": stats.messages_out_total,
        "publishes_total": stats.publishes_total,
        "slow_consumer_closes_total": stats.slow_consumer_disconnects_total,
        "cache": {
            "snapshot_bytes": stats.snapshot_cache_bytes,
            "snapshot_entries": stats.snapshot_cache_entries,
            "snapshot_bytes_max_per_shard": snapshot_max,
            "message_bytes": stats.message_cache_bytes,
            "message_messages": stats.message_cache_messages,
            "message_bytes_max_per_shard": message_max,
        },
        "topics": topics,
        "interval_ms": inner.config.stats_interval_ms,
        "history": samples,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    user: String,
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    all: Vec<String>,
    ttl_s: u64,
    #[serde(default)]
    kid: Option<String>,
}

fn issue_token(
    inner: &Inner,
    body: TokenBody,
    by: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    if body.user.is_empty() || body.user.len() > 256 {
        return Err(ApiError::bad_request(
            "bad_request",
            "user is 1 to 256 bytes",
        ));
    }
    let max = inner.config.token_ttl_s_max;
    if body.ttl_s == 0 || body.ttl_s > max {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("ttl_s must be 1 to {max} (portal.token_ttl_s_max)"),
        ));
    }
    for list in [&body.subscribe, &body.publish, &body.all] {
        if list.len() > TOKEN_PATTERNS_MAX {
            return Err(ApiError::bad_request(
                "bad_request",
                format!("at most {TOKEN_PATTERNS_MAX} patterns per list"),
            ));
        }
        for pattern in list {
            SubjectPattern::parse(pattern).map_err(|e| {
                ApiError::bad_request("invalid_pattern", format!("{pattern:?}: {e}"))
            })?;
        }
    }
    let hmac = |k: &&sluice_auth::KeyConfig| k.secret.is_some() && k.algorithm.is_hmac();
    let key = match &body.kid {
        Some(kid) => inner.auth.keys.iter().filter(hmac).find(|k| &k.kid == kid),
        None => inner.auth.keys.iter().find(hmac),
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_signing_key",
            "no HS256/384/512 key with a secret in [auth] keys (or not the kid named) to sign with",
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let jti = format!("portal-{}-{}", body.user, now.as_nanos());
    let exp = now.as_secs() + body.ttl_s;
    let claims = Claims {
        sub: body.user.clone(),
        exp,
        nbf: None,
        iat: Some(now.as_secs()),
        jti: Some(jti.clone()),
        permissions: PermissionClaims {
            sub: body.subscribe,
            publish: body.publish,
            all: body.all,
        },
    };
    let token = sluice_auth::issue_token(key, &claims)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    inner
        .metrics
        .changes
        .with_label_values(&["issue_token"])
        .inc();
    tracing::info!(target: "sluice::admin", by, action = "issue_token", user = %body.user, jti, kid = %key.kid, exp, "admin issued a token");
    Ok(json(
        StatusCode::OK,
        &json!({"token": token, "jti": jti, "kid": key.kid, "expires_at_s": exp}),
    ))
}

fn static_file(method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET",
        )
        .response();
    }
    match crate::console::asset(path) {
        Some(asset) => {
            let mut response = Response::new(Full::new(Bytes::from_static(asset.body.as_bytes())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            // The console has buttons that expose topics and issue tokens: no
            // other site may frame it and trick a click (clickjacking).
            response
                .headers_mut()
                .insert("x-frame-options", HeaderValue::from_static("DENY"));
            response.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static("frame-ancestors 'none'"),
            );
            response
        }
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such page: {path}; the console is at /, the API under /api/v1/"),
        )
        .response(),
    }
}
