//! The PostgreSQL wire server (DESIGN §6): `psql`, drivers and Grafana's PostgreSQL data
//! source query the same engine, guard and limits as the HTTP API. Built on
//! datafusion-postgres and its re-export of pgwire 0.41 (DESIGN §9).
//!
//! `server` accepts connections; `auth` answers start-up; `service` handles simple and
//! extended queries; `session` keeps `SET` per connection; `encode` turns Arrow into rows;
//! `error` maps errors to SQLSTATE; `catalog` registers what clients look up.

mod auth;
pub(crate) mod catalog;
mod encode;
mod error;
mod server;
mod service;
mod session;

pub use server::{PgOptions, PgServer, PgSetupError};

use datafusion::sql::sqlparser::ast::Statement;

/// Command tag for a session statement answered as a no-op (`FETCH`, `CLOSE`).
fn guard_tag(statement: &Statement) -> String {
    crate::guard::statement_kind(statement)
}
