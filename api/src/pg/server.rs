//! The listener: accepts connections, negotiates TLS, hands each socket to pgwire with this
//! server's handlers; stops accepting on shutdown and drops open connections.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::PgWireError;
use datafusion_postgres::pgwire::tokio::process_socket;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::auth::{Parameters, PasswordSource, Startup};
use super::service::PgService;
use crate::engine::QueryEngine;
use crate::metrics::ApiMetrics;

/// Runtime options of the PostgreSQL wire server (config `server.pg_*`, `pg:`).
#[derive(Clone, Default)]
pub struct PgOptions {
    /// Password required from every client (SCRAM-SHA-256); `None` accepts anyone.
    pub password: Option<String>,
    /// PEM certificate chain and private key; both set turns TLS on.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    #[error("pg.tls_cert {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("pg.tls_key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
}

struct Handlers {
    service: Arc<PgService>,
    params: Arc<Parameters>,
    password: Option<Arc<PasswordSource>>,
    connections: Arc<ConnectionManager>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        // A fresh handler per connection: pgwire 0.41 keeps SCRAM state in it.
        Arc::new(Startup::new(
            self.password.as_ref(),
            self.params.clone(),
            self.connections.clone(),
        ))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LogErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.connections.clone()))
    }
}

struct LogErrors;

impl ErrorHandler for LogErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        tracing::debug!(peer = %client.socket_addr(), error = %error, "pgwire error sent to client");
    }
}

/// The PostgreSQL wire server over the shared query engine.
pub struct PgServer {
    handlers: Arc<Handlers>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PgServer {
    /// Builds the server; a TLS certificate or key that cannot be used is an error (never a
    /// silent fall-back to plain text).
    pub fn new(
        engine: QueryEngine,
        metrics: Arc<ApiMetrics>,
        options: PgOptions,
    ) -> Result<PgServer, PgSetupError> {
        let tls = match &options.tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        Ok(PgServer {
            handlers: Arc::new(Handlers {
                service: Arc::new(PgService::new(engine, metrics)),
                params: Arc::new(Parameters::new()),
                password: options
                    .password
                    .as_deref()
                    .map(|p| Arc::new(PasswordSource::new(p))),
                connections: Arc::new(ConnectionManager::new()),
            }),
            tls,
        })
    }

    /// Serves connections from `listener` until `shutdown` resolves.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        let _ = socket.set_nodelay(true);
                        let handlers = self.handlers.clone();
                        let tls = self.tls.clone();
                        connections.spawn(async move {
                            if let Err(e) = process_socket(socket, tls, handlers).await {
                                tracing::debug!(%peer, error = %e, "pgwire connection ended with an error");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "pgwire accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Clients hold pooled connections open indefinitely; dropping them at shutdown is
        // what PostgreSQL's "fast" shutdown does too.
        connections.shutdown().await;
    }
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, PgSetupError> {
    let cert_err = |reason: String| PgSetupError::Cert {
        path: cert.to_path_buf(),
        reason,
    };
    let key_err = |reason: String| PgSetupError::Key {
        path: key.to_path_buf(),
        reason,
    };
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut BufReader::new(
        File::open(cert).map_err(|e| cert_err(e.to_string()))?,
    ))
    .collect::<Result<_, _>>()
    .map_err(|e| cert_err(format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(cert_err("no PEM certificate found".into()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut BufReader::new(
        File::open(key).map_err(|e| key_err(e.to_string()))?,
    ))
    .map_err(|e| key_err(format!("not a PEM private key: {e}")))?
    .ok_or_else(|| key_err("no PEM private key (PKCS#8, PKCS#1 or SEC1) found".into()))?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| key_err(format!("does not match the certificate: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
