//! The SLO evaluation loop of `slod serve`: every `slo.evaluation_interval`, update rollups,
//! evaluate, publish `slo_status` / gauges / `/api/v1/slos`; snapshot rollups to disk every few
//! minutes and at shutdown so a restart resumes instead of rebuilding.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use slod_slo::evaluator::Evaluator;
use slod_slo::rollup::persist;
use slod_slo::tables::{SloHandle, SloMetrics, Snapshot, history_batch, status_batch};
use slod_storage::{Clock, SystemClock};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::SloSettings;

const SAVE_EVERY: Duration = Duration::from_secs(300);

pub(crate) async fn run(
    settings: SloSettings,
    ctx: SessionContext,
    handle: SloHandle,
    metrics: SloMetrics,
    dir: PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    let names: Vec<&str> = settings.specs.iter().map(|s| s.name.as_str()).collect();
    info!(slos = names.len(), names = %names.join(","), "SLO evaluation starts");
    let mut evaluator = Evaluator::new(settings.specs.clone(), settings.eval.clone());
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
        match evaluator.tick(&ctx, SystemClock.now_ns()).await {
            Ok(out) => {
                metrics.update(&out.statuses);
                let snapshot = (|| {
                    Ok::<_, datafusion::error::DataFusionError>(Snapshot {
                        status: status_batch(&out.statuses)?,
                        history: history_batch(evaluator.history())?,
                        rollup: std::sync::Arc::new(slod_slo::tables::RollupView::new(
                            evaluator.rollups.series().clone(),
                        )),
                        statuses: out.statuses.clone(),
                        conditions: out.conditions.clone(),
                    })
                })();
                match snapshot {
                    Ok(s) => handle.publish(s),
                    Err(e) => warn!(error = %e, "cannot build the SLO tables"),
                }
                debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    minutes = out.rollup.minutes_recomputed,
                    hours = out.rollup.hours_recomputed,
                    series = out.rollup.series,
                    conditions = out.conditions.len(),
                    "SLO tick"
                );
            }
            Err(e) => warn!(error = %e, "SLO evaluation failed; retrying at the next interval"),
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
