//! Gateway shards a listener hands its connections to.
//!
//! A shard is one core runtime and the one-thread tokio runtime its tasks run on:
//! its connections, broker pump and core never leave that thread, so a delivery
//! wakes no other thread and meets no other thread's lock. The accept loop deals
//! connections out in turn; the socket is moved to the shard's own reactor.

use std::future::Future;
use std::io;

use sluice_driver::Runtime;
use tokio::net::TcpStream;

/// One shard other than the accept loop's own. Not under madsim, whose sockets
/// cannot move between runtimes.
#[cfg(not(madsim))]
#[derive(Clone)]
pub struct Shard {
    pub runtime: Runtime,
    /// The tokio runtime its tasks run on.
    pub tasks: tokio::runtime::Handle,
}

/// The accept loop's own shard and the others, dealt connections in turn.
pub(crate) struct Shards {
    local: Runtime,
    #[cfg(not(madsim))]
    others: Vec<Shard>,
    #[cfg(not(madsim))]
    next: usize,
}

impl Shards {
    /// Only the accept loop's own shard.
    pub fn local_only(local: Runtime) -> Self {
        Shards {
            local,
            #[cfg(not(madsim))]
            others: Vec::new(),
            #[cfg(not(madsim))]
            next: 0,
        }
    }

    #[cfg(not(madsim))]
    pub fn new(local: Runtime, others: Vec<Shard>) -> Self {
        Shards {
            local,
            others,
            next: 0,
        }
    }

    /// The runtime the transport's refusals are counted on.
    pub fn local(&self) -> &Runtime {
        &self.local
    }

    /// Serves `stream` with `serve` on this runtime (under madsim).
    #[cfg(madsim)]
    pub fn spawn<F, Fut>(&mut self, stream: TcpStream, serve: F) -> io::Result<()>
    where
        F: FnOnce(TcpStream, Runtime) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(serve(stream, self.local.clone()));
        Ok(())
    }

    /// Serves `stream` with `serve` on the next shard in turn.
    #[cfg(not(madsim))]
    pub fn spawn<F, Fut>(&mut self, stream: TcpStream, serve: F) -> io::Result<()>
    where
        F: FnOnce(TcpStream, Runtime) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let turn = self.next % (self.others.len() + 1);
        self.next = self.next.wrapping_add(1);
        let Some(shard) = turn.checked_sub(1).map(|i| &self.others[i]) else {
            tokio::spawn(serve(stream, self.local.clone()));
            return Ok(());
        };
        // Registered with this thread's reactor; the shard registers it with its own.
        let stream = stream.into_std()?;
        let runtime = shard.runtime.clone();
        shard.tasks.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => serve(stream, runtime).await,
                Err(err) => tracing::warn!(%err, "cannot move a connection to its shard"),
            }
        });
        Ok(())
    }
}
