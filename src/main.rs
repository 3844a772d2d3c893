//! The `sluice` command: run a gateway, or talk to one.

mod cli_client;
mod token_command;

use sluice::config::{BrokerKind, Config};
use sluice::server::Server;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    },
    /// Subscribe and print every message and status as a JSON line.
    Sub {
        /// Gateway URL(s), e.g. ws://127.0.0.1:8080/v1/ws; comma-separated for failover.
        servers: String,
        /// Subjects, e.g. /demo/greeting.
        #[arg(required = true)]
        subjects: Vec<String>,
        /// Start with up to N past messages instead of the snapshot.
        #[arg(long)]
        history: Option<u32>,
        /// Exit after printing N messages.
        #[arg(long)]
        count: Option<u64>,
        /// Speak the binary encoding instead of JSON.
        #[arg(long)]
        binary: bool,
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
    // The gateway reports its progress; the client commands keep stderr for trouble.
    init_logging(if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config, listen } => {
                let mut config = Config::load(config.as_deref())?;
                if let Some(listen) = listen {
                    config.listen = listen;
                }
                serve(config).await
            }
            Command::Sub {
                servers,
                subjects,
                history,
                count,
                binary,
            } => cli_client::subscribe(&servers, &subjects, history, count, binary).await,
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
            } => {
                cli_client::publish(&servers, &subject, data, not_retained, guaranteed, binary)
                    .await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (else `default_level`), so stdout stays
/// clean for `sluice sub` output.
fn init_logging(default_level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
async fn serve(config: Config) -> anyhow::Result<()> {
    let kafka = &config.broker.kafka;
    let broker = match config.broker.kind {
        BrokerKind::Memory => format!(
            "embedded, in memory ({} partitions per topic; nothing survives a restart)",
            config.broker.memory.partitions
        ),
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
    let mut server = Server::start(config).await?;
    println!("exposed topics: {topics}");
    println!("listening on {}", server.url());
    tokio::select! {
        result = server.wait() => result,
        _ = tokio::signal::ctrl_c() => {
            println!("shutting down");
            Ok(())
        }
    }
}
