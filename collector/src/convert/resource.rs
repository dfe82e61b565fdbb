//! A resource's promoted values, computed once and shared by every row under it.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use xxhash_rust::xxh3::Xxh3;

use super::attrs::{MapColumn, value_bool, value_f64, value_str};
use crate::normalise::{
    ALL_SLOTS, RESOURCE_SLOTS, Slot, canonical_key, canonical_value, is_serverless_platform, memory_mb,
    slot_of,
};

/// Promoted values of one resource plus its remaining attributes.
#[derive(Debug)]
pub(crate) struct ResourceCtx<'a> {
    /// Values of every slot found on the resource (resource slots and span-level defaults).
    pub slots: [Option<Cow<'a, str>>; ALL_SLOTS],
    pub memory_mb: Option<i64>,
    pub coldstart: Option<bool>,
    /// Attributes that stay in `resource_attributes` (canonical key, value).
    pub rest: Vec<(&'a str, Cow<'a, str>)>,
    pub serverless: bool,
    /// Hash of the resource's sorted attributes (part of metric series identity).
    pub hash: u64,
}

impl<'a> ResourceCtx<'a> {
    pub(crate) fn new(attrs: &'a [KeyValue]) -> ResourceCtx<'a> {
        let mut slots: [Option<Cow<'a, str>>; ALL_SLOTS] = Default::default();
        let mut memory = None;
        let mut coldstart = None;
        let mut rest = Vec::with_capacity(attrs.len());
        let mut executable = None;
        for kv in attrs {
            let key = canonical_key(&kv.key);
            match slot_of(key) {
                Some(Slot::FaasMaxMemory) => memory = value_f64(kv.value.as_ref()).and_then(memory_mb),
                Some(Slot::FaasColdstart) => {
                    coldstart = value_bool(kv.value.as_ref());
                    rest.push((key, value_str(kv.value.as_ref())));
                }
                Some(slot) if slot.index() < RESOURCE_SLOTS => {
                    let v = value_str(kv.value.as_ref());
                    slots[slot.index()] = Some(match v {
                        Cow::Borrowed(s) => Cow::Borrowed(canonical_value(slot, s)),
                        Cow::Owned(s) => Cow::Owned(canonical_value(slot, &s).to_string()),
                    });
                }
                Some(slot) => {
                    // A span-level key on the resource: a default for spans, kept in the map.
                    let v = value_str(kv.value.as_ref());
                    slots[slot.index()] = Some(v.clone());
                    rest.push((key, v));
                }
                None => {
                    if key == "process.executable.name" {
                        executable = Some(value_str(kv.value.as_ref()));
                    }
                    rest.push((key, value_str(kv.value.as_ref())));
                }
            }
        }
        if slots[Slot::ServiceName.index()].is_none() {
            // OTel resource SDK spec: unknown_service[:<process.executable.name>].
            slots[Slot::ServiceName.index()] = Some(match executable {
                Some(exe) => Cow::Owned(format!("unknown_service:{exe}")),
                None => Cow::Borrowed("unknown_service"),
            });
        }
        let serverless = slots[Slot::CloudPlatform.index()]
            .as_deref()
            .is_some_and(is_serverless_platform)
            || slots[Slot::FaasName.index()].is_some();
        let mut sorted: Vec<(&str, Cow<'_, str>)> = attrs
            .iter()
            .map(|kv| (kv.key.as_str(), value_str(kv.value.as_ref())))
            .collect();
        sorted.sort_unstable();
        let mut h = Xxh3::new();
        for (k, v) in &sorted {
            h.update(k.as_bytes());
            h.update(&[0]);
            h.update(v.as_bytes());
            h.update(&[1]);
        }
        ResourceCtx {
            slots,
            memory_mb: memory,
            coldstart,
            rest,
            serverless,
            hash: h.digest(),
        }
    }

    pub(crate) fn slot(&self, slot: Slot) -> Option<&str> {
        self.slots[slot.index()].as_deref()
    }

    pub(crate) fn write_rest(&self, map: &mut MapColumn) {
        for (k, v) in &self.rest {
            map.entry(k, v);
        }
        map.end_row();
    }
}

/// Builders for the promoted resource columns every table has, in schema order.
#[derive(Debug)]
pub(crate) struct ResourceColumns {
    strings: Vec<StringBuilder>,
    memory: Int64Builder,
}

impl ResourceColumns {
    pub(crate) fn new() -> ResourceColumns {
        ResourceColumns {
            strings: (0..RESOURCE_SLOTS - 1).map(|_| StringBuilder::new()).collect(),
            memory: Int64Builder::new(),
        }
    }

    /// Appends one row; `get` returns the effective value of a resource slot.
    pub(crate) fn append<'s>(&mut self, get: impl Fn(Slot) -> Option<&'s str>, memory_mb: Option<i64>) {
        for (i, b) in self.strings.iter_mut().enumerate() {
            // INVARIANT: one builder per entry of SLOTS (see new()).
            let slot = SLOTS[i];
            match get(slot) {
                Some(v) => b.append_value(v),
                None if slot == Slot::ServiceName => b.append_value("unknown_service"),
                None => b.append_null(),
            }
        }
        self.memory.append_option(memory_mb);
    }

    pub(crate) fn finish(&mut self) -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> = self
            .strings
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        out.push(Arc::new(self.memory.finish()));
        out
    }
}

/// Resource string slots in column order (`FaasMaxMemory` is the Int64 column after them).
const SLOTS: [Slot; RESOURCE_SLOTS - 1] = [
    Slot::ServiceName,
    Slot::ServiceVersion,
    Slot::DeploymentEnvironment,
    Slot::CloudProvider,
    Slot::CloudPlatform,
    Slot::CloudRegion,
    Slot::CloudAccountId,
    Slot::CloudResourceId,
    Slot::FaasName,
    Slot::FaasVersion,
    Slot::FaasInstance,
];
