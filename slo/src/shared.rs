//! `invocations` derived once per evaluation tick and time scope, shared by the SLI rollups and
//! the rules' cached `function_minute`.
//!
//! Both recompute the same trailing minutes at each tick from raw spans scoped to
//! `[from − INSTANCE_LOOKBACK, to + DEDUPE_AHEAD)`, and deriving `invocations` there (window
//! functions for deduplication, attempts and first invocation per instance) is most of the
//! tick's cost. The first to need a scope collects it — only the columns its readers use — and
//! the others read it from memory. A scope with more than the row limit is never held: its
//! readers derive it themselves, inside the memory pool, like any query.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use tokio::sync::Mutex;

/// The columns of `invocations` held: what `function_minute` (with the views it reads) and the
/// rollups use. The others (error details, ids, attributes) are not materialised.
pub(crate) const COLUMNS: [&str; 22] = [
    "minute",
    "time",
    "end_time",
    "span_id",
    "service_name",
    "faas_name",
    "cloud_provider",
    "cloud_platform",
    "cloud_region",
    "attempt",
    "workflow_execution_id",
    "workflow_step",
    "is_error",
    "is_throttle",
    "is_cold_start",
    "is_timeout",
    "within_latency_threshold",
    "http_response_status_code",
    "duration_ms",
    "timeout_ms",
    "memory_mb",
    "gb_seconds",
];

/// Most `invocations` rows held for one scope (22 columns, ~100 bytes a row).
pub const MAX_ROWS: usize = 2_000_000;

type Scope = (i64, i64);

#[derive(Default)]
struct Memo {
    tick_ns: i64,
    /// Per scope: the table, or `None` when it had more rows than the limit.
    scopes: Vec<(Scope, Option<Arc<dyn TableProvider>>)>,
}

/// `invocations` per scope for the current tick. Cloning shares it.
#[derive(Clone)]
pub struct SharedInvocations {
    memo: Arc<Mutex<Memo>>,
    max_rows: usize,
}

impl Default for SharedInvocations {
    fn default() -> Self {
        SharedInvocations::new(MAX_ROWS)
    }
}

impl std::fmt::Debug for SharedInvocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInvocations")
            .field("max_rows", &self.max_rows)
            .finish_non_exhaustive()
    }
}

impl SharedInvocations {
    pub fn new(max_rows: usize) -> SharedInvocations {
        SharedInvocations {
            memo: Arc::default(),
            max_rows,
        }
    }

    /// `invocations` of spans with time in `[lo, hi)` (unix s) at the tick `tick_ns`, or `None`
    /// when it holds more rows than the limit. Scopes of an earlier tick are dropped.
    pub async fn get(
        &self,
        ctx: &SessionContext,
        lo: i64,
        hi: i64,
        tick_ns: i64,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut memo = self.memo.lock().await;
        if memo.tick_ns != tick_ns {
            *memo = Memo {
                tick_ns,
                scopes: Vec::new(),
            };
        }
        if let Some((_, table)) = memo.scopes.iter().find(|(s, _)| *s == (lo, hi)) {
            return Ok(table.clone());
        }
        let table = self.collect(ctx, lo, hi).await?;
        memo.scopes.push(((lo, hi), table.clone()));
        Ok(table)
    }

    /// Forgets every scope (their memory is released once no reader holds them).
    pub async fn clear(&self) {
        *self.memo.lock().await = Memo::default();
    }

    async fn collect(
        &self,
        ctx: &SessionContext,
        lo: i64,
        hi: i64,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let scoped = crate::rules::scope::scoped_with(ctx, lo, Some(hi), &[], Some("invocations")).await?;
        let df = scoped
            .sql(&format!("SELECT {} FROM invocations", COLUMNS.join(", ")))
            .await?;
        let mut stream = df.execute_stream().await?;
        let schema = stream.schema();
        let mut batches = Vec::new();
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows();
            if rows > self.max_rows {
                tracing::debug!(lo, hi, "more invocations than the limit: not held in memory");
                return Ok(None);
            }
            batches.push(batch);
        }
        Ok(Some(Arc::new(MemTable::try_new(schema, vec![batches])?)))
    }

    /// A context scoped to `[lo, hi)` whose catalogue views (up to `until`) read the shared
    /// `invocations` when it is held, and derive it themselves otherwise.
    pub async fn scoped(
        &self,
        ctx: &SessionContext,
        lo: i64,
        hi: i64,
        tick_ns: i64,
        until: &str,
    ) -> Result<SessionContext> {
        let overrides: Vec<(&str, Arc<dyn TableProvider>)> = match self.get(ctx, lo, hi, tick_ns).await? {
            Some(table) => vec![("invocations", table)],
            None => Vec::new(),
        };
        crate::rules::scope::scoped_with(ctx, lo, Some(hi), &overrides, Some(until)).await
    }
}
