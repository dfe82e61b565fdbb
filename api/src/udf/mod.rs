//! SQL functions slod adds to DataFusion for serverless questions, registered once on the
//! shared `SessionContext` so HTTP and pgwire both have them (documented in `docs/sql.md`).

use datafusion::prelude::SessionContext;

pub(crate) fn register(_ctx: &SessionContext) {}
