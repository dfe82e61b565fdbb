//! `ExportLogsServiceRequest` → one `logs` batch.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, Int32Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
    UInt32Builder,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use slod_storage::Table;

use super::attrs::{MapColumn, value_str};
use super::resource::{ResourceColumns, ResourceCtx};
use super::{Converted, Rejections};
use crate::normalise::{Slot, canonical_key};

pub(crate) fn convert(
    req: &ExportLogsServiceRequest,
    ingest_ns: i64,
) -> Result<Converted, arrow::error::ArrowError> {
    let mut c = LogColumns::new();
    let mut rejected = Rejections::default();
    let mut total = 0u64;
    for rl in &req.resource_logs {
        let empty = Vec::new();
        let res = ResourceCtx::new(rl.resource.as_ref().map_or(&empty, |r| &r.attributes));
        for sl in &rl.scope_logs {
            let scope = sl
                .scope
                .as_ref()
                .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            for rec in &sl.log_records {
                total += 1;
                match validate(rec) {
                    Ok(()) => c.append(rec, &res, scope, ingest_ns),
                    Err(why) => rejected.add(why),
                }
            }
        }
    }
    let mut batches = Vec::new();
    if c.rows > 0 {
        batches.push((Table::Logs, c.finish()?));
    }
    Ok(Converted {
        batches,
        accepted: total - rejected.count,
        rejected,
    })
}

fn validate(rec: &LogRecord) -> Result<(), String> {
    if !(rec.trace_id.is_empty() || rec.trace_id.len() == 16) {
        return Err(format!(
            "log record: trace_id must be empty or 16 bytes, got {} bytes",
            rec.trace_id.len()
        ));
    }
    if !(rec.span_id.is_empty() || rec.span_id.len() == 8) {
        return Err(format!(
            "log record: span_id must be empty or 8 bytes, got {} bytes",
            rec.span_id.len()
        ));
    }
    if rec.time_unix_nano == 0 && rec.observed_time_unix_nano == 0 {
        return Err("log record: neither time_unix_nano nor observed_time_unix_nano is set".into());
    }
    Ok(())
}

struct LogColumns {
    rows: usize,
    time: TimestampNanosecondBuilder,
    observed: TimestampNanosecondBuilder,
    severity_number: Int32Builder,
    severity_text: StringBuilder,
    body: StringBuilder,
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    flags: UInt32Builder,
    event_name: StringBuilder,
    invocation_id: StringBuilder,
    resource: ResourceColumns,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    resource_attributes: MapColumn,
    attributes: MapColumn,
    ingest: TimestampNanosecondBuilder,
}

impl LogColumns {
    fn new() -> LogColumns {
        let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
        LogColumns {
            rows: 0,
            time: ts(),
            observed: ts(),
            severity_number: Int32Builder::new(),
            severity_text: StringBuilder::new(),
            body: StringBuilder::new(),
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
            flags: UInt32Builder::new(),
            event_name: StringBuilder::new(),
            invocation_id: StringBuilder::new(),
            resource: ResourceColumns::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            resource_attributes: MapColumn::new(),
            attributes: MapColumn::new(),
            ingest: ts(),
        }
    }

    fn append(&mut self, rec: &LogRecord, res: &ResourceCtx<'_>, scope: (&str, &str), ingest_ns: i64) {
        self.rows += 1;
        let ns = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
        let observed = if rec.observed_time_unix_nano != 0 {
            rec.observed_time_unix_nano
        } else {
            rec.time_unix_nano
        };
        // OTLP: when the event time is unknown, the observed time stands in for it.
        let time = if rec.time_unix_nano != 0 {
            rec.time_unix_nano
        } else {
            observed
        };
        self.time.append_value(ns(time));
        self.observed.append_value(ns(observed));
        self.severity_number.append_value(rec.severity_number);
        self.severity_text
            .append_option(Some(rec.severity_text.as_str()).filter(|s| !s.is_empty()));
        self.body
            .append_option(rec.body.as_ref().map(|b| value_str(Some(b))));
        if rec.trace_id.len() == 16 && rec.trace_id.iter().any(|b| *b != 0) {
            self.trace_id.append_value(&rec.trace_id).ok();
        } else {
            self.trace_id.append_null();
        }
        if rec.span_id.len() == 8 && rec.span_id.iter().any(|b| *b != 0) {
            self.span_id.append_value(&rec.span_id).ok();
        } else {
            self.span_id.append_null();
        }
        self.flags.append_value(rec.flags);
        self.event_name
            .append_option(Some(rec.event_name.as_str()).filter(|s| !s.is_empty()));
        let mut invocation: Option<Cow<'_, str>> = None;
        for kv in &rec.attributes {
            let key = canonical_key(&kv.key);
            let v = value_str(kv.value.as_ref());
            // Promoted to the `faas_invocation_id` column; not repeated in the map.
            if key == "faas.invocation_id" {
                invocation = Some(v);
                continue;
            }
            self.attributes.entry(key, &v);
        }
        self.attributes.end_row();
        self.invocation_id.append_option(invocation.as_deref());
        self.resource.append(|s: Slot| res.slot(s), res.memory_mb);
        self.scope_name
            .append_option(Some(scope.0).filter(|s| !s.is_empty()));
        self.scope_version
            .append_option(Some(scope.1).filter(|s| !s.is_empty()));
        res.write_rest(&mut self.resource_attributes);
        self.ingest.append_value(ingest_ns);
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.observed.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.invocation_id.finish()),
        ];
        cols.extend(self.resource.finish());
        cols.extend([
            Arc::new(self.scope_name.finish()) as ArrayRef,
            Arc::new(self.scope_version.finish()),
            self.resource_attributes.finish(),
            self.attributes.finish(),
            Arc::new(self.ingest.finish()),
        ]);
        RecordBatch::try_new(Table::Logs.schema(), cols)
    }
}
