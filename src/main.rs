//! The `sluice` command: run a gateway, or talk to one.

mod cli_client;
mod token_command;

use sluice::config::{BrokerKind, Config, EmbeddedStorage};
use sluice::server::Server;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice_client::SubscribeOptions;

/// mimalloc instead of glibc's malloc: in a profile of the gateway at W1 (1,000
/// connections over 1,000 subjects, 40,000 publishes/s) glibc's `malloc`, `free`
/// and their bin upkeep (`malloc_consolidate`, `unlink_chunk`) took about a fifth
/// of its CPU. Figures in BENCHMARKS.md ("The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Real-time gateway that puts Kafka in front of web and mobile apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a gateway (on the embedded broker unless the config names another).
    Serve {
        /// TOML configuration file; every key is optional.
        #[arg(long, short, env = "SLUICE_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on; overrides `listen` of the config.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Address of the admin listener (metrics, health); overrides `admin.listen`.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
    /// Subscribe and print every message and status as a JSON line.
    Sub {
        /// Gateway URL(s), e.g. ws://127.0.0.1:8080/v1/ws, wss://…, quic://host:port;
        /// comma-separated for failover.
        servers: String,
        /// Subjects, e.g. /demo/greeting.
        #[arg(required = true)]
        subjects: Vec<String>,
        /// Start with up to N past messages instead of the snapshot.
        #[arg(long)]
        history: Option<u32>,
        /// Print each message's Kafka record headers too (protocol 1.1).
        #[arg(long)]
        headers: bool,
        /// At most one message per N milliseconds per subject, the latest (≥ 100).
        #[arg(long, value_name = "MS")]
        conflate_ms: Option<u32>,
        /// Exit after printing N messages.
        #[arg(long)]
        count: Option<u64>,
        /// Speak the binary encoding instead of JSON.
        #[arg(long)]
        binary: bool,
        /// Trust the gateway certificate with this SHA-256 fingerprint (as `sluice
        /// serve` prints it) instead of the public CAs; repeat for several.
        #[arg(long = "pin", value_name = "SHA256")]
        pins: Vec<String>,
    },
    /// Publish one message and print its ack.
    Pub {
        /// Gateway URL(s); comma-separated for failover.
        servers: String,
        /// Subject, e.g. /demo/greeting.
        subject: String,
        /// The payload, as text.
        data: String,
        /// Do not make this message the subject's snapshot.
        #[arg(long)]
        not_retained: bool,
        /// Mark the message qos "guaranteed".
        #[arg(long)]
        guaranteed: bool,
        /// Speak the binary encoding instead of JSON.
        #[arg(long)]
        binary: bool,
        /// Trust the gateway certificate with this SHA-256 fingerprint (as `sluice
        /// serve` prints it) instead of the public CAs; repeat for several.
        #[arg(long = "pin", value_name = "SHA256")]
        pins: Vec<String>,
    },
    /// Issue a token signed with an HS256/384/512 key of the config's `[auth]`.
    Token {
        /// TOML configuration file with the `[auth]` keys.
        #[arg(long, short, env = "SLUICE_CONFIG")]
        config: Option<PathBuf>,
        /// The key to sign with (`kid`); may be left out when there is one key.
        #[arg(long)]
        kid: Option<String>,
        /// The user (`sub` claim).
        #[arg(long)]
        user: String,
        /// A subject pattern the token may subscribe to (repeatable), e.g. '/demo/>'.
        #[arg(long)]
        subscribe: Vec<String>,
        /// A subject pattern the token may publish to (repeatable).
        #[arg(long)]
        publish: Vec<String>,
        /// A subject pattern the token may subscribe and publish to (repeatable).
        #[arg(long)]
        all: Vec<String>,
        /// Lifetime in seconds (`exp` = now + this).
        #[arg(long, default_value_t = 3600)]
        ttl_s: u64,
        /// Token id (`jti`), the handle for revocation; default: user and time.
        #[arg(long)]
        jti: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The gateway's config is read first: it says how to log. The client commands
    // keep stderr for trouble.
    let (config, default_level) = match &cli.command {
        Command::Serve {
            config,
            listen,
            admin_listen,
        } => match Config::load(config.as_deref()) {
            Ok(mut config) => {
                config.listen = listen.unwrap_or(config.listen);
                config.admin.listen = admin_listen.unwrap_or(config.admin.listen);
                // Before the async runtime is built from it.
                if let Err(err) = config.validate() {
                    return fail(anyhow::anyhow!(err));
                }
                (Some(config), "info")
            }
            Err(err) => return fail(err),
        },
        _ => (None, "warn"),
    };
    let telemetry = config
        .as_ref()
        .map(|c| c.telemetry.clone())
        .unwrap_or_default();
    // Declared before the async runtime, so it is dropped after it: buffered spans
    // are flushed once the gateway has stopped.
    let _telemetry = match sluice_observability::init_telemetry(&telemetry, default_level) {
        Ok(telemetry) => telemetry,
        Err(err) => return fail(err),
    };
    let runtime = match sluice::async_runtime::one_worker("sluice-shard-0") {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            // The config was loaded above for `serve`.
            Command::Serve { .. } => serve(config.context("no configuration")?).await,
            Command::Sub {
                servers,
                subjects,
                history,
                headers,
                conflate_ms,
                count,
                binary,
                pins,
            } => {
                let config = cli_client::client_config(&servers, binary, pins);
                let options = SubscribeOptions {
                    delta: false,
                    history_end: false,
                    history,
                    headers,
                    conflate_ms,
                };
                cli_client::subscribe(config, &subjects, options, count).await
            }
            Command::Token {
                config,
                kid,
                user,
                subscribe,
                publish,
                all,
                ttl_s,
                jti,
            } => {
                let config = Config::load(config.as_deref())?;
                let request = token_command::TokenRequest {
                    kid,
                    user,
                    subscribe,
                    publish,
                    all,
                    ttl_s,
                    jti,
                };
                token_command::issue(&config, request)
            }
            Command::Pub {
                servers,
                subject,
                data,
                not_retained,
                guaranteed,
                binary,
                pins,
            } => {
                let config = cli_client::client_config(&servers, binary, pins);
                cli_client::publish(config, &subject, data, not_retained, guaranteed).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => fail(err),
    }
}

fn fail(err: anyhow::Error) -> std::process::ExitCode {
    eprintln!("error: {err:#}");
    std::process::ExitCode::FAILURE
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let kafka = &config.broker.kafka;
    let broker = match config.broker.kind {
        BrokerKind::Embedded => {
            let embedded = &config.broker.embedded;
            match embedded.storage {
                EmbeddedStorage::Disk => format!(
                    "embedded, log in {} (fsync {:?}, {} partitions per topic)",
                    embedded.data_dir.display(),
                    embedded.fsync,
                    embedded.partitions
                )
                .to_lowercase(),
                EmbeddedStorage::Memory => format!(
                    "embedded, in memory ({} partitions per topic; nothing survives a restart)",
                    embedded.partitions
                ),
            }
        }
        BrokerKind::Kafka => match &kafka.exposed_topic_pattern {
            Some(pattern) => format!(
                "Kafka at {} (also exposing topics matching {pattern})",
                kafka.bootstrap_servers
            ),
            None => format!("Kafka at {}", kafka.bootstrap_servers),
        },
    };
    let topics = config.gateway.exposed_topics.join(", ");
    println!("broker: {broker}");
    let launched = Server::launch(config, None).await?;
    println!(
        "admin on http://{} (/metrics, /healthz, /readyz; the Portal: console at /, API under /api/v1/)",
        launched.admin_addr()
    );
    let mut server = launched.listen().await?;
    println!("exposed topics: {topics}");
    if let Some(fingerprint) = server.tls_fingerprint() {
        if server.tls_is_reloadable() {
            println!("TLS certificate SHA-256 {fingerprint} (reloaded on SIGHUP)");
        } else {
            println!("TLS: self-signed dev certificate, SHA-256 {fingerprint}");
            println!("  clients pin it: sluice sub --pin {fingerprint} URL SUBJECT");
        }
    }
    if let Some(url) = server.quic_url() {
        println!("QUIC on {url}");
    }
    println!("listening on {}", server.url());
    let mut hangups = signals(Signal::Hangup)?;
    let mut terminations = signals(Signal::Terminate)?;
    loop {
        tokio::select! {
            result = server.wait() => return result,
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = terminations.recv() => break,
            Some(()) = hangups.recv() => match server.reload_tls() {
                Ok(Some(fingerprint)) => tracing::info!(%fingerprint, "TLS certificate reloaded"),
                Ok(None) => tracing::info!("SIGHUP: no TLS certificate to reload"),
                Err(err) => tracing::error!("TLS reload failed, keeping the old certificate: {err:#}"),
            },
        }
    }
    println!("shutting down");
    if let Some(broker) = server.broker() {
        // Syncs the embedded log and marks the stop clean.
        broker.close();
    }
    Ok(())
}

/// The signals `serve` acts on: SIGHUP reloads the TLS certificate, SIGTERM stops
/// the gateway as Ctrl-C does.
enum Signal {
    Hangup,
    Terminate,
}

/// Receives `()` when `which` arrives (one pending covers any number of them);
/// never fires off Unix.
fn signals(which: Signal) -> anyhow::Result<tokio::sync::mpsc::Receiver<()>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let kind = match which {
            Signal::Hangup => SignalKind::hangup(),
            Signal::Terminate => SignalKind::terminate(),
        };
        let mut arrivals = signal(kind)?;
        tokio::spawn(async move {
            while arrivals.recv().await.is_some() {
                let _ = tx.try_send(());
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = which;
        std::mem::forget(tx);
    }
    Ok(rx)
}
