//! Inhibition, as Alertmanager's `<inhibit_rule>`: a firing alert matching `source_matchers`
//! mutes every alert matching `target_matchers` that has the same values (a missing label is
//! the empty string) for the labels in `equal`. An alert matching both sides is not muted by
//! another alert that also matches both (no mutual self-inhibition). Only firing alerts inhibit.
//! slod's default: a firing page mutes the ticket of the same SLO and function or workflow.

use serde::Deserialize;

use crate::labels::LabelSet;
use crate::matcher::{MatcherError, Matchers};

/// An `inhibit_rules:` entry as written in the config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Matchers,
    pub target: Matchers,
    pub equal: Vec<String>,
}

impl InhibitRule {
    pub fn from_config(c: &InhibitRuleConfig) -> Result<InhibitRule, MatcherError> {
        Ok(InhibitRule {
            source: Matchers::parse(&c.source_matchers)?,
            target: Matchers::parse(&c.target_matchers)?,
            equal: c.equal.clone(),
        })
    }

    /// slod's default rule: `severity="page"` inhibits `severity="ticket"` with equal `slo`,
    /// `faas_name` and `workflow`.
    pub fn page_inhibits_ticket() -> InhibitRule {
        InhibitRule::from_config(&InhibitRuleConfig {
            name: None,
            source_matchers: vec![r#"severity="page""#.into()],
            target_matchers: vec![r#"severity="ticket""#.into()],
            equal: vec!["slo".into(), "faas_name".into(), "workflow".into()],
        })
        // INVARIANT: literal matchers above are valid.
        .unwrap_or_else(|_| unreachable!())
    }

    fn equal_labels(&self, a: &LabelSet, b: &LabelSet) -> bool {
        self.equal
            .iter()
            .all(|n| a.get(n).map_or("", String::as_str) == b.get(n).map_or("", String::as_str))
    }
}

/// Whether `target` is muted by any rule, given the alerts firing now.
pub fn is_inhibited<'a>(
    rules: &[InhibitRule],
    target: &LabelSet,
    firing: impl IntoIterator<Item = &'a LabelSet> + Clone,
) -> bool {
    !inhibited_by(rules, target, firing).is_empty()
}

/// The firing alerts that mute `target` (Alertmanager's `inhibitedBy`).
pub fn inhibited_by<'a>(
    rules: &[InhibitRule],
    target: &LabelSet,
    firing: impl IntoIterator<Item = &'a LabelSet> + Clone,
) -> Vec<&'a LabelSet> {
    let mut by = Vec::new();
    for r in rules {
        if !r.target.matches(target) {
            continue;
        }
        let target_is_source = r.source.matches(target);
        by.extend(firing.clone().into_iter().filter(|source| {
            *source != target
                && r.source.matches(source)
                && !(target_is_source && r.target.matches(source))
                && r.equal_labels(source, target)
        }));
    }
    by
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    #[test]
    fn a_firing_page_mutes_the_ticket_of_the_same_slo_and_function_only() {
        let rules = [InhibitRule::page_inhibits_ticket()];
        let page = labels([
            ("severity", "page"),
            ("slo", "availability"),
            ("faas_name", "checkout"),
        ]);
        let ticket = labels([
            ("severity", "ticket"),
            ("slo", "availability"),
            ("faas_name", "checkout"),
        ]);
        let other_fn = labels([
            ("severity", "ticket"),
            ("slo", "availability"),
            ("faas_name", "search"),
        ]);
        let other_slo = labels([
            ("severity", "ticket"),
            ("slo", "latency"),
            ("faas_name", "checkout"),
        ]);
        let firing = [page.clone(), ticket.clone(), other_fn.clone()];
        assert!(is_inhibited(&rules, &ticket, firing.iter()));
        assert!(!is_inhibited(&rules, &other_fn, firing.iter()));
        assert!(!is_inhibited(&rules, &other_slo, firing.iter()));
        assert!(!is_inhibited(&rules, &page, firing.iter())); // pages are never targets
        // Without the page firing, the ticket goes out.
        assert!(!is_inhibited(&rules, &ticket, [ticket.clone()].iter()));
    }

    #[test]
    fn missing_equal_labels_count_as_empty_and_both_sided_alerts_do_not_mute_each_other() {
        let rule = InhibitRule::from_config(&InhibitRuleConfig {
            name: None,
            source_matchers: vec![r#"alertname=~"A|B""#.into()],
            target_matchers: vec![r#"alertname=~"A|B""#.into()],
            equal: vec!["cluster".into()],
        })
        .unwrap();
        let a = labels([("alertname", "A")]);
        let b = labels([("alertname", "B")]);
        // Each matches both sides: neither mutes the other.
        assert!(!is_inhibited(
            std::slice::from_ref(&rule),
            &a,
            [a.clone(), b.clone()].iter()
        ));
        // A source-only alert without `cluster` mutes a target without `cluster`.
        let src_only = InhibitRule::from_config(&InhibitRuleConfig {
            name: None,
            source_matchers: vec![r#"alertname="Outage""#.into()],
            target_matchers: vec![r#"alertname="A""#.into()],
            equal: vec!["cluster".into()],
        })
        .unwrap();
        let outage = labels([("alertname", "Outage")]);
        assert!(is_inhibited(
            std::slice::from_ref(&src_only),
            &a,
            std::slice::from_ref(&outage).iter()
        ));
        let a_in_eu = labels([("alertname", "A"), ("cluster", "eu")]);
        assert!(!is_inhibited(&[src_only], &a_in_eu, [outage].iter()));
    }
}
