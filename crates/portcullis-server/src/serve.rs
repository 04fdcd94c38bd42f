//! The HTTP(S) accept loop. `axum::serve` has no header timeout and no connection limit, so
//! a few thousand clients that open a connection and trickle (or never finish) a request
//! head hold sockets and tasks forever. Here every connection takes a permit first (the rest
//! wait in the kernel's listen backlog), a TLS handshake must finish within the header
//! timeout, hyper closes a connection whose request head is not complete within it, and
//! shutdown lets in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::Service as _;

/// Limits the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request head (and, over TLS, the handshake before it) must be complete this long
    /// after the connection opens or after the previous response; otherwise the connection
    /// is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown` resolves, then stops
/// accepting and waits for open connections to finish their current request. Handlers see
/// the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        // Take the permit before accepting: beyond the limit, connections are not accepted
        // (and so cost nothing here) until one closes.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out as they are written: with Nagle's algorithm on, a response written
        // in two parts waits for the client's delayed ACK of the first (up to 40 ms here).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, client.address = %peer, "cannot set TCP_NODELAY");
        }
        let Ok(service) = make_service.call(peer).await;
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let io: Box<dyn Io> = match tls {
                None => Box::new(stream),
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, client.address = %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(client.address = %peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let conn =
                builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, client.address = %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A plain or TLS connection.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
