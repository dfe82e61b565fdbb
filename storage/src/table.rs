//! DataFusion access: a `TableProvider` per table that scans one consistent snapshot of the
//! memtable and the committed Parquet files.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::SessionContext;

use crate::prune::{TimeRange, is_id_lookup};
use crate::schema::Table;
use crate::store::Storage;

/// File groups (concurrent file streams) for a lookup by id.
const ID_LOOKUP_PARTITIONS: usize = 8;

/// One telemetry table as DataFusion sees it.
#[derive(Debug)]
pub struct SnapshotTable {
    table: Table,
    storage: Storage,
}

impl SnapshotTable {
    pub fn new(table: Table, storage: Storage) -> SnapshotTable {
        SnapshotTable { table, storage }
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Used to prune Parquet row groups and pages; DataFusion still filters every row.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snap = self.storage.snapshot(self.table);
        let schema = self.table.schema();
        let parts = state.config().target_partitions().max(1);
        let mut plans: Vec<Arc<dyn ExecutionPlan>> = Vec::new();

        let mut mem: Vec<Vec<_>> = vec![Vec::new(); parts.min(snap.batches.len()).max(1)];
        let n = mem.len();
        for (i, b) in snap.batches.into_iter().enumerate() {
            mem[i % n].push(b);
        }
        plans.push(MemorySourceConfig::try_new_exec(
            &mem,
            schema.clone(),
            projection.cloned(),
        )?);

        // Only the files whose time range the filters allow (the manifest knows each range).
        let range = TimeRange::from_filters(filters, self.table.time_column());
        let files: Vec<_> = snap
            .files
            .iter()
            .filter(|f| range.overlaps(f.min_time_ns, f.max_time_ns))
            .collect();
        if !files.is_empty() {
            let lookup = is_id_lookup(filters);
            // Late materialisation: with the filters evaluated inside the reader, nested columns
            // (attribute maps, events, links — most of a span's bytes) are decoded only for the
            // rows that pass. Plain columns alone decode faster in bulk and filter afterwards.
            let late = !filters.is_empty() && projects_nested(&schema, projection);
            // Files are immutable (a new name for every write), so their footers and page
            // indexes are cached across queries in the runtime's metadata cache.
            let runtime = state.runtime_env();
            let store = runtime.object_store(ObjectStoreUrl::local_filesystem())?;
            let reader =
                CachedParquetFileReaderFactory::new(store, runtime.cache_manager.get_file_metadata_cache());
            let mut source = ParquetSource::new(schema.clone())
                .with_parquet_file_reader_factory(Arc::new(reader))
                .with_bloom_filter_on_read(true)
                .with_enable_page_index(true)
                .with_pushdown_filters(lookup || late)
                .with_reorder_filters(true);
            if let Some(expr) = conjunction(filters.iter().cloned()) {
                let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
                source = source.with_predicate(state.create_physical_expr(expr, &df_schema)?);
            }
            // An id lookup does little work per file but waits on a few small reads in each
            // (footer from cache, bloom filter): more file groups overlap those waits.
            let parts = if lookup {
                parts.max(ID_LOOKUP_PARTITIONS)
            } else {
                parts
            };
            let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); parts.min(files.len())];
            let n = groups.len();
            let root = self.storage.data_dir();
            for (i, f) in files.iter().enumerate() {
                let abs = root.join(&f.path);
                let key = abs.to_string_lossy().trim_start_matches('/').to_string();
                groups[i % n].push(PartitionedFile::new(key, f.bytes));
            }
            let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            plans.push(DataSourceExec::from_data_source(config));
        }
        UnionExec::try_new(plans)
    }
}

/// Whether `projection` (all columns when `None`) reads a map, list or struct column.
fn projects_nested(schema: &arrow::datatypes::Schema, projection: Option<&Vec<usize>>) -> bool {
    let nested = |i: usize| schema.fields().get(i).is_some_and(|f| f.data_type().is_nested());
    match projection {
        Some(p) => p.iter().any(|&i| nested(i)),
        None => (0..schema.fields().len()).any(nested),
    }
}

/// Registers every telemetry table in `ctx` under its name.
pub fn register_tables(storage: &Storage, ctx: &SessionContext) -> DfResult<()> {
    for t in Table::ALL {
        ctx.register_table(t.name(), Arc::new(SnapshotTable::new(t, storage.clone())))?;
    }
    Ok(())
}
