//! Connection start-up: no authentication by default (any user name), SCRAM-SHA-256 when a
//! password is configured; database `slod` only.
//!
//! pgwire 0.41 keeps SCRAM state inside the handler object, so the server builds a fresh
//! handler for every connection (`PgWireServerHandlers::startup_handler` is called once per
//! connection).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, ServerParameterProvider, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, METADATA_DATABASE,
    PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::Sink;

use super::catalog::SERVER_VERSION;
use crate::engine::CATALOG;

/// SCRAM iteration count (RFC 7677 minimum, PostgreSQL's default).
const SCRAM_ITERATIONS: usize = 4096;

/// The server parameters every client receives after authentication.
#[derive(Debug)]
pub(crate) struct Parameters(DefaultServerParameterProvider);

impl Parameters {
    pub(crate) fn new() -> Parameters {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = format!("{SERVER_VERSION} (slod {})", env!("CARGO_PKG_VERSION"));
        p.is_superuser = false;
        p.default_transaction_read_only = true;
        p.time_zone = "UTC".into();
        p.scram_iterations = SCRAM_ITERATIONS;
        Parameters(p)
    }
}

impl ServerParameterProvider for Parameters {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        self.0.server_parameters(client)
    }
}

/// The configured password, salted once for SCRAM.
#[derive(Debug)]
pub(crate) struct PasswordSource {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

impl PasswordSource {
    pub(crate) fn new(password: &str) -> PasswordSource {
        let salt: [u8; 16] = rand_salt();
        PasswordSource {
            salted: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
            salt: salt.to_vec(),
        }
    }
}

fn rand_salt() -> [u8; 16] {
    // A per-process salt: only has to differ between servers, not be secret.
    let mut out = [0u8; 16];
    let seed = std::collections::hash_map::RandomState::new();
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        use std::hash::{BuildHasher, Hasher};
        let mut h = seed.build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

#[async_trait]
impl AuthSource for PasswordSource {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// Refuses connections to another database than `slod` (SQLSTATE 3D000).
fn check_database<C: ClientInfo>(client: &C) -> PgWireResult<()> {
    match client.metadata().get(METADATA_DATABASE) {
        None => Ok(()),
        Some(db) if db == CATALOG => Ok(()),
        Some(db) => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".into(),
            "3D000".into(),
            format!(
                "database \"{db}\" does not exist: slod serves one database, connect to \"{CATALOG}\" (e.g. psql -d {CATALOG})"
            ),
        )))),
    }
}

fn register<C: ClientInfo>(client: &mut C, manager: &Arc<ConnectionManager>) {
    let (pid, key) = RandomPidSecretKeyGenerator::default().generate(client);
    client.set_pid_and_secret_key(pid, key.clone());
    let (handle, guard) = manager.register(pid, key);
    client
        .session_extensions()
        .insert::<Arc<ConnectionHandle>>(handle);
    client.session_extensions().insert::<ConnectionGuard>(guard);
}

/// The start-up handler of one connection.
pub(crate) enum Startup {
    Trust {
        params: Arc<Parameters>,
        manager: Arc<ConnectionManager>,
    },
    Scram(Box<SASLAuthStartupHandler<Parameters>>),
}

impl Startup {
    pub(crate) fn new(
        password: Option<&Arc<PasswordSource>>,
        params: Arc<Parameters>,
        manager: Arc<ConnectionManager>,
    ) -> Startup {
        match password {
            None => Startup::Trust { params, manager },
            Some(source) => {
                let source: Arc<dyn AuthSource> = source.clone();
                let mut scram = ScramAuth::new(source);
                scram.set_iterations(SCRAM_ITERATIONS);
                Startup::Scram(Box::new(
                    SASLAuthStartupHandler::new(params)
                        .with_scram(scram)
                        .with_connection_manager(manager),
                ))
            }
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(ref startup) = message {
            save_startup_parameters_to_metadata(client, startup);
            check_database(client)?;
        }
        match self {
            Startup::Scram(h) => h.on_startup(client, message).await,
            Startup::Trust { params, manager } => {
                if let PgWireFrontendMessage::Startup(ref startup) = message {
                    protocol_negotiation(client, startup).await?;
                    client.set_state(PgWireConnectionState::AuthenticationInProgress);
                    register(client, manager);
                    finish_authentication(client, params.as_ref()).await?;
                }
                Ok(())
            }
        }
    }
}
