//! The SLO evaluation loop of `slod serve`: every `slo.evaluation_interval`, update rollups,
//! evaluate the SLOs, evaluate the SQL alert rules, publish `slo_status` / `slo_rules` / gauges
//! / `/api/v1/slos` / `/api/v1/rules`; snapshot rollups to disk every few minutes and at
//! shutdown so a restart resumes instead of rebuilding. A failing rule never stops SLO
//! evaluation, and a failing SLO tick never stops the rules. The loop queries through
//! [`engine_context`]: its own memory pool, spilling to `data/_tmp`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use slod_slo::evaluator::Evaluator;
use slod_slo::rollup::persist;
use slod_slo::rules::RuleEngine;
use slod_slo::rules::output::RuleMetrics;
use slod_slo::tables::{SloHandle, SloMetrics, history_batch, status_batch};
use slod_storage::{Clock, SystemClock};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::SloSettings;

const SAVE_EVERY: Duration = Duration::from_secs(300);
/// Most disk the SLO engine's spill files may take.
const SPILL_LIMIT: u64 = 4 << 30;

/// The SLO engine's own view of the shared catalog: the same tables, catalogue views, SLO tables
/// and functions (one catalog list), but its own memory pool of `memory_bytes` and a spill
/// directory (`data/_tmp`, emptied here: spill files of an earlier process are garbage). A heavy
/// evaluation tick (rollups and rules over the last hours of raw spans under a high ingest
/// rate) then spills and slows down instead of failing with "Memory Exhausted", and never
/// takes memory from interactive queries, which keep their own pool and no spilling.
pub(crate) fn engine_context(
    shared: &SessionContext,
    spill_dir: &std::path::Path,
    memory_bytes: usize,
) -> anyhow::Result<SessionContext> {
    use datafusion::execution::SessionStateBuilder;
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    if spill_dir.exists() {
        std::fs::remove_dir_all(spill_dir)?;
    }
    std::fs::create_dir_all(spill_dir)?;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(memory_bytes, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![spill_dir.to_path_buf()]))
                .with_max_temp_directory_size(SPILL_LIMIT),
        )
        .build_arc()?;
    let state = SessionStateBuilder::new_from_existing(shared.state())
        .with_runtime_env(runtime)
        .build();
    Ok(SessionContext::new_with_state(state))
}

pub(crate) async fn run(
    settings: SloSettings,
    ctx: SessionContext,
    handle: SloHandle,
    metrics: SloMetrics,
    rule_metrics: RuleMetrics,
    dir: PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    let names: Vec<&str> = settings.specs.iter().map(|s| s.name.as_str()).collect();
    info!(slos = names.len(), names = %names.join(","), "SLO evaluation starts");
    let rule_names: Vec<&str> = settings.rules.iter().map(|r| r.name.as_str()).collect();
    info!(rules = rule_names.len(), names = %rule_names.join(","), "SQL alert rules loaded");
    let mut evaluator = Evaluator::new(settings.specs.clone(), settings.eval.clone());
    let mut rules = RuleEngine::new(settings.rules.clone(), settings.rule_timeout);
    // The rollups and the rules' per-minute cache derive `invocations` for the same scopes
    // in a tick: once, shared.
    let shared = slod_slo::shared::SharedInvocations::default();
    evaluator.rollups.share(shared.clone());
    rules.share(shared.clone());
    match persist::load(&mut evaluator.rollups, &dir) {
        Ok(true) => info!(
            series = evaluator.rollups.series().len(),
            "rollups resumed from snapshot"
        ),
        Ok(false) => info!("no rollup snapshot: rollups are built from stored data"),
        Err(e) => warn!(error = %e, "rollup snapshot unreadable; rebuilding from stored data"),
    }
    // The first tick waits one interval: start-up (WAL replay, readiness) does not compete with
    // the initial rollup build.
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + settings.interval, settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_save = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let started = Instant::now();
        let now_ns = SystemClock.now_ns();
        // A tick is abandoned at shutdown (dropping it cancels its queries) rather than holding
        // the shutdown up: its half-updated rollups are then not saved, the last snapshot is,
        // and a restart recomputes the minutes after it from stored data.
        let work = async {
            let slo = evaluator.tick(&ctx, now_ns).await;
            let rule_out = rules.tick(&ctx, now_ns).await;
            shared.clear().await;
            (slo, rule_out)
        };
        let (slo, rule_out) = tokio::select! {
            out = work => out,
            _ = stop.wait_for(|s| *s) => {
                info!("shutdown during an SLO tick: the tick is abandoned");
                return;
            }
        };
        rule_metrics.update(&rule_out);
        // Start from the previous snapshot so a failed SLO tick keeps its last SLO results.
        let mut snapshot = (*handle.get()).clone();
        match &slo {
            Ok(out) => {
                metrics.update(&out.statuses);
                let tables = (|| {
                    Ok::<_, datafusion::error::DataFusionError>((
                        status_batch(&out.statuses)?,
                        history_batch(evaluator.history())?,
                    ))
                })();
                match tables {
                    Ok((status, history)) => {
                        snapshot.status = status;
                        snapshot.history = history;
                        snapshot.rollup = std::sync::Arc::new(slod_slo::tables::RollupView::new(
                            evaluator.rollups.series().clone(),
                        ));
                        snapshot.statuses = out.statuses.clone();
                        snapshot.conditions = out.conditions.clone();
                    }
                    Err(e) => warn!(error = %e, "cannot build the SLO tables"),
                }
            }
            Err(e) => warn!(error = %e, "SLO evaluation failed; retrying at the next interval"),
        }
        // Rule conditions sit beside the SLO conditions (the same type, for alerting).
        snapshot.conditions.retain(|c| c.objective.is_some());
        snapshot.conditions.extend(rule_out.conditions.iter().cloned());
        match slod_slo::rules::output::batch(&rule_out.instances) {
            Ok(b) => snapshot.rules_table = b,
            Err(e) => warn!(error = %e, "cannot build the slo_rules table"),
        }
        snapshot.rules = rule_out.statuses;
        snapshot.rule_instances = rule_out.instances;
        handle.publish(snapshot);
        metrics.observe_tick(started.elapsed().as_secs_f64());
        if let Ok(out) = &slo {
            debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                minutes = out.rollup.minutes_recomputed,
                hours = out.rollup.hours_recomputed,
                series = out.rollup.series,
                conditions = out.conditions.len(),
                rule_failures = rule_out.failed.len(),
                rule_minutes = rule_out.minutes.map_or(0, |(u, _)| u.minutes),
                rule_minutes_ms = rule_out.minutes.map_or(0, |(_, d)| d.as_millis() as u64),
                "SLO tick"
            );
        }
        if last_save.elapsed() >= SAVE_EVERY {
            // Encoding and fsyncing the snapshot is blocking work: keep it off the async workers.
            tokio::task::block_in_place(|| save(&evaluator, &dir));
            last_save = Instant::now();
        }
    }
    save(&evaluator, &dir);
}

fn save(evaluator: &Evaluator, dir: &std::path::Path) {
    if let Err(e) = persist::save(&evaluator.rollups, dir) {
        warn!(error = %e, dir = %dir.display(), "cannot save the rollup snapshot");
    }
}
