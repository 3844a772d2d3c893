//! The `sluice` command: run a gateway, or talk to one.

use sluice::config::Config;
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
}

fn main() -> std::process::ExitCode {
    init_logging();
    let cli = Cli::parse();
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

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`), so stdout stays clean
/// for `sluice sub` output.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let sluice::config::BrokerConfig::Memory { partitions, .. } = &config.broker;
    let partitions = *partitions;
    let topics = config.gateway.exposed_topics.join(", ");
    let mut server = Server::start(config).await?;
    println!("broker: embedded, in memory ({partitions} partitions per topic; nothing survives a restart)");
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
