//! Arrow schemas of the four telemetry tables (DESIGN §2).
//!
//! One row per span, metric point, distribution point or log record; typed columns for what
//! SLIs read, `Map<Utf8, Utf8>` for every other attribute. Promoted attribute keys never appear
//! in the maps as well, so nothing is stored twice.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The tables storage owns. Their names are the SQL table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Spans,
    MetricPoints,
    MetricDistributions,
    Logs,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Spans,
        Table::MetricPoints,
        Table::MetricDistributions,
        Table::Logs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::MetricPoints => "metric_points",
            Table::MetricDistributions => "metric_distributions",
            Table::Logs => "logs",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Spans => SPANS.clone(),
            Table::MetricPoints => METRIC_POINTS.clone(),
            Table::MetricDistributions => METRIC_DISTRIBUTIONS.clone(),
            Table::Logs => LOGS.clone(),
        }
    }

    /// The event-time column: it decides the hour partition and is the last sort key.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Spans => "start_time",
            _ => "time",
        }
    }

    /// Sort order inside a Parquet file: groups one function's rows together so min/max
    /// statistics prune by function and time.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Spans => &["service_name", "faas_name", "start_time"],
            Table::MetricPoints | Table::MetricDistributions => {
                &["metric_name", "service_name", "series_id", "time"]
            }
            Table::Logs => &["service_name", "faas_name", "time"],
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// `Map<Utf8, Utf8>` with the field names arrow's `MapBuilder` produces.
pub fn string_map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

fn ts(name: &str, nullable: bool) -> Field {
    Field::new(name, timestamp_type(), nullable)
}
fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn map(name: &str) -> Field {
    Field::new(name, string_map_type(), false)
}

/// Resource columns promoted in every table, in schema order.
pub const RESOURCE_COLUMNS: [&str; 11] = [
    "service_version",
    "deployment_environment",
    "cloud_provider",
    "cloud_platform",
    "cloud_region",
    "cloud_account_id",
    "cloud_resource_id",
    "faas_name",
    "faas_version",
    "faas_instance",
    "faas_max_memory_mb",
];

fn resource_fields() -> Vec<Field> {
    let mut fields = vec![Field::new("service_name", DataType::Utf8, false)];
    for name in RESOURCE_COLUMNS {
        if name == "faas_max_memory_mb" {
            fields.push(Field::new(name, DataType::Int64, true));
        } else {
            fields.push(utf8(name));
        }
    }
    fields
}

pub fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time_offset_ns", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        map("attributes"),
    ])
}

pub fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        map("attributes"),
    ])
}

pub fn quantile_fields() -> Fields {
    Fields::from(vec![
        Field::new("quantile", DataType::Float64, false),
        Field::new("value", DataType::Float64, false),
    ])
}

fn list_of(name: &str, item: DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        true,
    )
}

static SPANS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent_span_id", DataType::FixedSizeBinary(8), true),
        utf8("trace_state"),
        ts("start_time", false),
        ts("end_time", false),
        Field::new("duration_ns", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Int8, false),
        Field::new("status_code", DataType::Int8, false),
        utf8("status_message"),
        Field::new("is_root", DataType::Boolean, false),
        Field::new("is_error", DataType::Boolean, false),
    ];
    f.extend(resource_fields());
    f.extend([
        utf8("faas_trigger"),
        utf8("faas_invocation_id"),
        Field::new("faas_coldstart", DataType::Boolean, true),
        Field::new("is_invocation", DataType::Boolean, false),
        Field::new("is_throttle", DataType::Boolean, false),
        utf8("http_route"),
        utf8("http_request_method"),
        Field::new("http_response_status_code", DataType::Int32, true),
        utf8("messaging_system"),
        utf8("messaging_destination_name"),
        utf8("messaging_operation"),
        utf8("error_type"),
        utf8("exception_type"),
        utf8("workflow_name"),
        utf8("workflow_execution_id"),
        utf8("workflow_step"),
        utf8("scope_name"),
        utf8("scope_version"),
        map("resource_attributes"),
        map("attributes"),
        list_of("events", DataType::Struct(event_fields())),
        list_of("links", DataType::Struct(link_fields())),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
        Field::new("dropped_events_count", DataType::UInt32, false),
        Field::new("dropped_links_count", DataType::UInt32, false),
        ts("ingest_time", false),
    ]);
    Arc::new(Schema::new(f))
});

fn metric_identity() -> Vec<Field> {
    let mut f = vec![
        ts("time", false),
        ts("start_time", true),
        Field::new("metric_name", DataType::Utf8, false),
        Field::new("metric_type", DataType::Utf8, false),
        utf8("unit"),
        Field::new("series_id", DataType::UInt64, false),
    ];
    f.extend(resource_fields());
    f
}

fn metric_tail() -> Vec<Field> {
    vec![
        Field::new("flags", DataType::UInt32, false),
        utf8("scope_name"),
        utf8("scope_version"),
        map("resource_attributes"),
        map("attributes"),
        ts("ingest_time", false),
    ]
}

static METRIC_POINTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = metric_identity();
    f.extend([
        Field::new("value", DataType::Float64, false),
        utf8("temporality"),
        Field::new("is_monotonic", DataType::Boolean, true),
    ]);
    f.extend(metric_tail());
    Arc::new(Schema::new(f))
});

static METRIC_DISTRIBUTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = metric_identity();
    f.extend([
        utf8("temporality"),
        Field::new("count", DataType::UInt64, false),
        Field::new("sum", DataType::Float64, true),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        list_of("explicit_bounds", DataType::Float64),
        list_of("bucket_counts", DataType::UInt64),
        Field::new("scale", DataType::Int32, true),
        Field::new("zero_count", DataType::UInt64, true),
        Field::new("zero_threshold", DataType::Float64, true),
        Field::new("positive_offset", DataType::Int32, true),
        list_of("positive_bucket_counts", DataType::UInt64),
        Field::new("negative_offset", DataType::Int32, true),
        list_of("negative_bucket_counts", DataType::UInt64),
        list_of("quantiles", DataType::Struct(quantile_fields())),
    ]);
    f.extend(metric_tail());
    Arc::new(Schema::new(f))
});

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = vec![
        ts("time", false),
        ts("observed_time", false),
        Field::new("severity_number", DataType::Int32, false),
        utf8("severity_text"),
        utf8("body"),
        Field::new("trace_id", DataType::FixedSizeBinary(16), true),
        Field::new("span_id", DataType::FixedSizeBinary(8), true),
        Field::new("flags", DataType::UInt32, false),
        utf8("event_name"),
        utf8("faas_invocation_id"),
    ];
    f.extend(resource_fields());
    f.extend([
        utf8("scope_name"),
        utf8("scope_version"),
        map("resource_attributes"),
        map("attributes"),
        ts("ingest_time", false),
    ]);
    Arc::new(Schema::new(f))
});
