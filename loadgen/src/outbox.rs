//! Spans and log records wait here until the simulated clock passes their end, as an
//! exporter sends a span only once it has ended; then they are grouped by resource and
//! scope into export requests.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::scope::Scope;

/// Index of a resource in the [`Resources`] registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ResId(u32);

/// Every resource the simulation has created (instances, workers, exporters).
#[derive(Debug, Default)]
pub(crate) struct Resources {
    all: Vec<Resource>,
}

impl Resources {
    pub(crate) fn add(&mut self, r: Resource) -> ResId {
        self.all.push(r);
        ResId(self.all.len() as u32 - 1)
    }

    pub(crate) fn get(&self, id: ResId) -> Resource {
        self.all.get(id.0 as usize).cloned().unwrap_or_default()
    }
}

#[derive(Debug)]
enum Item {
    Span(Span),
    Log(LogRecord),
}

/// Spans and records by the time they become visible.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pending: BTreeMap<(u64, u64), (ResId, Scope, Item)>,
    seq: u64,
}

impl Outbox {
    pub(crate) fn span(&mut self, res: ResId, scope: Scope, span: Span) {
        self.seq += 1;
        self.pending.insert(
            (span.end_time_unix_nano, self.seq),
            (res, scope, Item::Span(span)),
        );
    }

    pub(crate) fn log(&mut self, res: ResId, scope: Scope, rec: LogRecord) {
        self.seq += 1;
        self.pending
            .insert((rec.time_unix_nano, self.seq), (res, scope, Item::Log(rec)));
    }

    /// Everything visible before `until` (all of it with `None`), as at most one request per
    /// signal.
    pub(crate) fn drain(
        &mut self,
        until: Option<u64>,
        resources: &Resources,
    ) -> (
        Option<ExportTraceServiceRequest>,
        Option<ExportLogsServiceRequest>,
    ) {
        let rest = match until {
            Some(t) => self.pending.split_off(&(t, 0)),
            None => BTreeMap::new(),
        };
        let due = std::mem::replace(&mut self.pending, rest);
        let mut spans = Grouper::default();
        let mut logs = Grouper::default();
        for (_, (res, scope, item)) in due {
            match item {
                Item::Span(s) => spans.push(res, scope, s),
                Item::Log(l) => logs.push(res, scope, l),
            }
        }
        let traces = (!spans.is_empty()).then(|| ExportTraceServiceRequest {
            resource_spans: spans
                .finish(resources)
                .into_iter()
                .map(|(resource, scopes)| ResourceSpans {
                    resource: Some(resource),
                    scope_spans: scopes
                        .into_iter()
                        .map(|(scope, spans)| {
                            let (scope, schema) = scope.message();
                            ScopeSpans {
                                scope: Some(scope),
                                spans,
                                schema_url: schema.into(),
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        });
        let logs = (!logs.is_empty()).then(|| ExportLogsServiceRequest {
            resource_logs: logs
                .finish(resources)
                .into_iter()
                .map(|(resource, scopes)| ResourceLogs {
                    resource: Some(resource),
                    scope_logs: scopes
                        .into_iter()
                        .map(|(scope, log_records)| {
                            let (scope, schema) = scope.message();
                            ScopeLogs {
                                scope: Some(scope),
                                log_records,
                                schema_url: schema.into(),
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        });
        (traces, logs)
    }
}

/// Items of one resource, by scope.
type Scoped<T> = Vec<(Scope, Vec<T>)>;

/// Groups items by resource, then scope, in order of first appearance (deterministic).
#[derive(Debug)]
struct Grouper<T> {
    order: Vec<(ResId, Scoped<T>)>,
    index: HashMap<ResId, usize>,
}

impl<T> Default for Grouper<T> {
    fn default() -> Self {
        Grouper {
            order: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T> Grouper<T> {
    fn push(&mut self, res: ResId, scope: Scope, item: T) {
        let r = *self.index.entry(res).or_insert_with(|| {
            self.order.push((res, Vec::new()));
            self.order.len() - 1
        });
        // INVARIANT: `index` only holds positions of `order`.
        let scopes = &mut self.order[r].1;
        match scopes.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, items)) => items.push(item),
            None => scopes.push((scope, vec![item])),
        }
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn finish(self, resources: &Resources) -> Vec<(Resource, Scoped<T>)> {
        self.order
            .into_iter()
            .map(|(res, scopes)| (resources.get(res), scopes))
            .collect()
    }
}
