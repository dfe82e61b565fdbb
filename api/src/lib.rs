//! slod API: the HTTP API (SQL, health, `/metrics`) and, with the PostgreSQL wire issue, the
//! pgwire server — every SQL interface over one [`QueryEngine`].
//!
//! Right of storage in the DESIGN §1 diagram; depends on storage, slo and alerting, never
//! the reverse.

mod alerts;
mod engine;
mod error;
mod format;
mod guard;
mod http;
mod metrics;
mod pg;
mod slos;
mod udf;

pub use engine::{QueryEngine, QueryLimits, QueryResult};
pub use error::QueryError;
pub use format::{Format, encode};
pub use guard::check_read_only;
pub use http::{ApiState, error_response, router};
pub use metrics::ApiMetrics;
pub use pg::{PgOptions, PgServer, PgSetupError};
