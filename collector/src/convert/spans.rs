//! `ExportTraceServiceRequest` → one `spans` batch.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, FixedSizeBinaryBuilder, Int8Builder, Int32Builder, Int64Builder, ListArray,
    RecordBatch, StringBuilder, StructArray, TimestampNanosecondBuilder, UInt32Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use slod_storage::{Table, event_fields, link_fields};

use super::attrs::{MapColumn, value_bool, value_f64, value_str};
use super::resource::{ResourceColumns, ResourceCtx};
use super::{Converted, Rejections};
use crate::normalise::{
    ALL_SLOTS, Slot, ThrottleEvidence, canonical_key, canonical_value, invocation, is_derivation_input,
    is_error, is_throttle, memory_mb, slot_of, workflow,
};

pub(crate) fn convert(
    req: &ExportTraceServiceRequest,
    ingest_ns: i64,
) -> Result<Converted, arrow::error::ArrowError> {
    let n: usize = req
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let mut b = SpanColumns::new(n);
    let mut rejected = Rejections::default();
    for rs in &req.resource_spans {
        let empty = Vec::new();
        let attrs = rs.resource.as_ref().map_or(&empty, |r| &r.attributes);
        let res = ResourceCtx::new(attrs);
        for ss in &rs.scope_spans {
            let (scope_name, scope_version) = ss
                .scope
                .as_ref()
                .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            for span in &ss.spans {
                if let Err(why) = validate(span) {
                    rejected.add(why);
                    continue;
                }
                b.append(span, &res, scope_name, scope_version, ingest_ns);
            }
        }
    }
    let batch = b.finish()?;
    Ok(Converted {
        batches: if batch.num_rows() > 0 {
            vec![(Table::Spans, batch)]
        } else {
            vec![]
        },
        accepted: (n as u64) - rejected.count,
        rejected,
    })
}

fn validate(span: &Span) -> Result<(), String> {
    if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
        return Err(format!(
            "span {:?}: trace_id must be 16 bytes and not all zero (32 hex characters in JSON), got {} bytes",
            span.name,
            span.trace_id.len()
        ));
    }
    if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
        return Err(format!(
            "span {:?}: span_id must be 8 bytes and not all zero (16 hex characters in JSON), got {} bytes",
            span.name,
            span.span_id.len()
        ));
    }
    if !(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8) {
        return Err(format!(
            "span {:?}: parent_span_id must be empty or 8 bytes, got {} bytes",
            span.name,
            span.parent_span_id.len()
        ));
    }
    Ok(())
}

struct SpanColumns {
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    parent_span_id: FixedSizeBinaryBuilder,
    trace_state: StringBuilder,
    start: TimestampNanosecondBuilder,
    end: TimestampNanosecondBuilder,
    duration: Int64Builder,
    name: StringBuilder,
    kind: Int8Builder,
    status_code: Int8Builder,
    status_message: StringBuilder,
    is_root: BooleanBuilder,
    is_error: BooleanBuilder,
    resource: ResourceColumns,
    faas_trigger: StringBuilder,
    faas_invocation_id: StringBuilder,
    faas_coldstart: BooleanBuilder,
    is_invocation: BooleanBuilder,
    is_throttle: BooleanBuilder,
    http_route: StringBuilder,
    http_method: StringBuilder,
    http_status: Int32Builder,
    messaging_system: StringBuilder,
    messaging_destination: StringBuilder,
    messaging_operation: StringBuilder,
    error_type: StringBuilder,
    exception_type: StringBuilder,
    workflow_name: StringBuilder,
    workflow_execution_id: StringBuilder,
    workflow_step: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    resource_attributes: MapColumn,
    attributes: MapColumn,
    events: EventColumns,
    links: LinkColumns,
    dropped_attributes: UInt32Builder,
    dropped_events: UInt32Builder,
    dropped_links: UInt32Builder,
    ingest_time: TimestampNanosecondBuilder,
}

fn ts(n: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC")
}

fn nanos(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl SpanColumns {
    fn new(n: usize) -> SpanColumns {
        let s = || StringBuilder::with_capacity(n, n * 8);
        SpanColumns {
            trace_id: FixedSizeBinaryBuilder::with_capacity(n, 16),
            span_id: FixedSizeBinaryBuilder::with_capacity(n, 8),
            parent_span_id: FixedSizeBinaryBuilder::with_capacity(n, 8),
            trace_state: s(),
            start: ts(n),
            end: ts(n),
            duration: Int64Builder::with_capacity(n),
            name: s(),
            kind: Int8Builder::with_capacity(n),
            status_code: Int8Builder::with_capacity(n),
            status_message: s(),
            is_root: BooleanBuilder::with_capacity(n),
            is_error: BooleanBuilder::with_capacity(n),
            resource: ResourceColumns::new(),
            faas_trigger: s(),
            faas_invocation_id: s(),
            faas_coldstart: BooleanBuilder::with_capacity(n),
            is_invocation: BooleanBuilder::with_capacity(n),
            is_throttle: BooleanBuilder::with_capacity(n),
            http_route: s(),
            http_method: s(),
            http_status: Int32Builder::with_capacity(n),
            messaging_system: s(),
            messaging_destination: s(),
            messaging_operation: s(),
            error_type: s(),
            exception_type: s(),
            workflow_name: s(),
            workflow_execution_id: s(),
            workflow_step: s(),
            scope_name: s(),
            scope_version: s(),
            resource_attributes: MapColumn::new(),
            attributes: MapColumn::new(),
            events: EventColumns::new(),
            links: LinkColumns::new(),
            dropped_attributes: UInt32Builder::with_capacity(n),
            dropped_events: UInt32Builder::with_capacity(n),
            dropped_links: UInt32Builder::with_capacity(n),
            ingest_time: ts(n),
        }
    }

    fn append(
        &mut self,
        span: &Span,
        res: &ResourceCtx<'_>,
        scope_name: &str,
        scope_version: &str,
        ingest_ns: i64,
    ) {
        // Promoted values: resource first, span attributes override.
        let mut slots: [Option<Cow<'_, str>>; ALL_SLOTS] = res.slots.clone();
        let mut memory = res.memory_mb;
        let mut coldstart = res.coldstart;
        let mut http_status: Option<i32> = None;
        let mut rest: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(span.attributes.len());
        let mut inputs: Vec<(&str, Cow<'_, str>)> = Vec::new();
        for kv in &span.attributes {
            let key = canonical_key(&kv.key);
            match slot_of(key) {
                Some(Slot::FaasMaxMemory) => {
                    memory = value_f64(kv.value.as_ref()).and_then(memory_mb).or(memory)
                }
                Some(Slot::FaasColdstart) => coldstart = value_bool(kv.value.as_ref()),
                Some(Slot::HttpResponseStatusCode) => {
                    http_status = value_f64(kv.value.as_ref()).map(|v| v as i32);
                }
                Some(slot) => {
                    let v = value_str(kv.value.as_ref());
                    slots[slot.index()] = Some(Cow::Owned(canonical_value(slot, &v).to_string()));
                }
                None => {
                    let v = value_str(kv.value.as_ref());
                    if is_derivation_input(key) {
                        inputs.push((key, v.clone()));
                    }
                    rest.push((key, v));
                }
            }
        }
        if http_status.is_none() {
            http_status = slots[Slot::HttpResponseStatusCode.index()]
                .as_deref()
                .and_then(|s| s.parse().ok());
        }
        let get = |slot: Slot| slots[slot.index()].as_deref();
        // Derivations look only at the few keys kept aside above (usually none).
        let attr = |k: &str| {
            inputs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };

        // The first `exception` event names the exception (all SDKs still record one).
        let exception = span.events.iter().find(|e| e.name == "exception").map(|e| {
            let find = |k: &str| {
                e.attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .map(|kv| value_str(kv.value.as_ref()))
            };
            (find("exception.type"), find("exception.message"))
        });
        let (exc_type, exc_message) = exception.unwrap_or((None, None));
        let status = span.status.as_ref();
        let status_code = status.map_or(0, |s| s.code);
        let status_message = status.map(|s| s.message.as_str()).filter(|m| !m.is_empty());
        let grpc_status = attr("rpc.grpc.status_code").or_else(|| attr("rpc.status_code"));
        let throttle = is_throttle(&ThrottleEvidence {
            http_status,
            error_type: get(Slot::ErrorType),
            status_message,
            exception_type: exc_type.as_deref(),
            exception_message: exc_message.as_deref(),
            grpc_status: grpc_status.as_deref(),
        });
        let has_parent = !span.parent_span_id.is_empty();
        let is_inv = invocation(
            get(Slot::FaasInvocationId).is_some(),
            span.kind,
            res.serverless,
            has_parent,
            span.flags,
        );
        let wf = workflow(&span.name, &attr);
        let start = nanos(span.start_time_unix_nano);
        let end = nanos(span.end_time_unix_nano);

        self.trace_id.append_value(&span.trace_id).ok();
        self.span_id.append_value(&span.span_id).ok();
        if has_parent {
            self.parent_span_id.append_value(&span.parent_span_id).ok();
        } else {
            self.parent_span_id.append_null();
        }
        self.trace_state
            .append_option(Some(span.trace_state.as_str()).filter(|s| !s.is_empty()));
        self.start.append_value(start);
        self.end.append_value(end);
        self.duration.append_value(end.saturating_sub(start).max(0));
        self.name.append_value(&span.name);
        self.kind.append_value(span.kind.clamp(0, 127) as i8);
        self.status_code.append_value(status_code.clamp(0, 127) as i8);
        self.status_message.append_option(status_message);
        self.is_root.append_value(!has_parent);
        self.is_error.append_value(is_error(
            status_code,
            get(Slot::ErrorType).is_some(),
            span.kind,
            http_status,
        ));
        self.resource.append(get, memory);
        self.faas_trigger.append_option(get(Slot::FaasTrigger));
        self.faas_invocation_id.append_option(get(Slot::FaasInvocationId));
        self.faas_coldstart.append_option(coldstart);
        self.is_invocation.append_value(is_inv);
        self.is_throttle.append_value(throttle);
        self.http_route.append_option(get(Slot::HttpRoute));
        self.http_method.append_option(get(Slot::HttpRequestMethod));
        self.http_status.append_option(http_status);
        self.messaging_system.append_option(get(Slot::MessagingSystem));
        self.messaging_destination
            .append_option(get(Slot::MessagingDestinationName));
        self.messaging_operation
            .append_option(get(Slot::MessagingOperation));
        self.error_type.append_option(get(Slot::ErrorType));
        self.exception_type.append_option(exc_type.as_deref());
        self.workflow_name.append_option(wf.name);
        self.workflow_execution_id.append_option(wf.execution_id);
        self.workflow_step.append_option(wf.step);
        self.scope_name
            .append_option(Some(scope_name).filter(|s| !s.is_empty()));
        self.scope_version
            .append_option(Some(scope_version).filter(|s| !s.is_empty()));
        res.write_rest(&mut self.resource_attributes);
        for (k, v) in &rest {
            self.attributes.entry(k, v);
        }
        self.attributes.end_row();
        self.events.append(span, start);
        let bad_links = self.links.append(span);
        self.dropped_attributes
            .append_value(span.dropped_attributes_count);
        self.dropped_events.append_value(span.dropped_events_count);
        self.dropped_links
            .append_value(span.dropped_links_count.saturating_add(bad_links));
        self.ingest_time.append_value(ingest_ns);
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.is_root.finish()),
            Arc::new(self.is_error.finish()),
        ];
        cols.extend(self.resource.finish());
        cols.extend([
            Arc::new(self.faas_trigger.finish()) as ArrayRef,
            Arc::new(self.faas_invocation_id.finish()),
            Arc::new(self.faas_coldstart.finish()),
            Arc::new(self.is_invocation.finish()),
            Arc::new(self.is_throttle.finish()),
            Arc::new(self.http_route.finish()),
            Arc::new(self.http_method.finish()),
            Arc::new(self.http_status.finish()),
            Arc::new(self.messaging_system.finish()),
            Arc::new(self.messaging_destination.finish()),
            Arc::new(self.messaging_operation.finish()),
            Arc::new(self.error_type.finish()),
            Arc::new(self.exception_type.finish()),
            Arc::new(self.workflow_name.finish()),
            Arc::new(self.workflow_execution_id.finish()),
            Arc::new(self.workflow_step.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            self.resource_attributes.finish(),
            self.attributes.finish(),
            self.events.finish()?,
            self.links.finish()?,
            Arc::new(self.dropped_attributes.finish()),
            Arc::new(self.dropped_events.finish()),
            Arc::new(self.dropped_links.finish()),
            Arc::new(self.ingest_time.finish()),
        ]);
        RecordBatch::try_new(Table::Spans.schema(), cols)
    }
}

/// `events`: List<Struct{time_offset_ns, name, attributes}>, offsets relative to span start.
struct EventColumns {
    offsets: Vec<i32>,
    time: Int64Builder,
    name: StringBuilder,
    attributes: MapColumn,
}

impl EventColumns {
    fn new() -> EventColumns {
        EventColumns {
            offsets: vec![0],
            time: Int64Builder::new(),
            name: StringBuilder::new(),
            attributes: MapColumn::new(),
        }
    }

    fn append(&mut self, span: &Span, start: i64) {
        for e in &span.events {
            self.time
                .append_value(nanos(e.time_unix_nano).saturating_sub(start));
            self.name.append_value(&e.name);
            for kv in &e.attributes {
                self.attributes.entry(&kv.key, &value_str(kv.value.as_ref()));
            }
            self.attributes.end_row();
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        self.offsets.push(last + span.events.len() as i32);
    }

    fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        let values = StructArray::try_new(
            event_fields(),
            vec![
                Arc::new(self.time.finish()),
                Arc::new(self.name.finish()),
                self.attributes.finish(),
            ],
            None,
        )?;
        list(values, std::mem::replace(&mut self.offsets, vec![0]))
    }
}

/// `links`: List<Struct{trace_id, span_id, attributes}>.
struct LinkColumns {
    offsets: Vec<i32>,
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    attributes: MapColumn,
}

impl LinkColumns {
    fn new() -> LinkColumns {
        LinkColumns {
            offsets: vec![0],
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
            attributes: MapColumn::new(),
        }
    }

    /// Appends the span's links; returns how many were dropped for malformed ids.
    fn append(&mut self, span: &Span) -> u32 {
        let mut n = 0;
        for l in &span.links {
            // A link with malformed ids cannot be followed: dropped, and counted in the
            // span's dropped_links_count.
            if l.trace_id.len() != 16 || l.span_id.len() != 8 {
                continue;
            }
            self.trace_id.append_value(&l.trace_id).ok();
            self.span_id.append_value(&l.span_id).ok();
            for kv in &l.attributes {
                self.attributes.entry(&kv.key, &value_str(kv.value.as_ref()));
            }
            self.attributes.end_row();
            n += 1;
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        self.offsets.push(last + n);
        (span.links.len() as u32).saturating_sub(n as u32)
    }

    fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        let values = StructArray::try_new(
            link_fields(),
            vec![
                Arc::new(self.trace_id.finish()),
                Arc::new(self.span_id.finish()),
                self.attributes.finish(),
            ],
            None,
        )?;
        list(values, std::mem::replace(&mut self.offsets, vec![0]))
    }
}

pub(crate) fn list(values: StructArray, offsets: Vec<i32>) -> Result<ArrayRef, arrow::error::ArrowError> {
    let field = Arc::new(Field::new(
        "item",
        DataType::Struct(values.fields().clone()),
        true,
    ));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        None,
    )?))
}
