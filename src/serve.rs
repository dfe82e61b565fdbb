//! `slod serve`: wires storage, receivers and the API; shuts down cleanly on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;
use slod_api::{ApiMetrics, ApiState, PgOptions, PgServer, QueryEngine, QueryLimits};
use slod_collector::{CollectorMetrics, Ingest, WalDecoder};
use slod_storage::{Storage, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::ServeArgs;
use crate::config::{Config, Settings};

/// Config file (or defaults) with the command-line overrides applied, validated.
pub(crate) fn settings(args: &ServeArgs) -> Result<Settings, Vec<String>> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| vec![format!("{e:#}")])?,
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        config.storage.data_dir = d.clone();
    }
    for (flag, target) in [
        (args.otlp_grpc_addr, &mut config.server.otlp_grpc_addr),
        (args.otlp_http_addr, &mut config.server.otlp_http_addr),
        (args.http_addr, &mut config.server.http_addr),
        (args.pg_addr, &mut config.server.pg_addr),
    ] {
        if let Some(a) = flag {
            *target = a.to_string();
        }
    }
    let mut settings = config.validate()?;
    // SLO files are relative to the config file; without a config file only the default
    // templates apply.
    if let Some(path) = &args.config {
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        let loaded = slod_slo::spec::load_files(&settings.slo.files, base);
        if !loaded.errors.is_empty() {
            return Err(loaded.errors.iter().map(ToString::to_string).collect());
        }
        settings.slo.specs = loaded.slos;
    }
    if settings.slo.specs.is_empty() && settings.slo.default_templates {
        settings.slo.specs = slod_slo::spec::SloSpec::default_templates();
    }
    // Rule files are relative to the config file too; the built-in rules apply either way.
    let base = args
        .config
        .as_ref()
        .map(|p| p.parent().unwrap_or(std::path::Path::new(".")));
    let rules = slod_slo::rules::load_effective(
        &settings.slo.rule_files,
        base,
        settings.slo.default_rules,
        &settings.catalogue,
    );
    if !rules.errors.is_empty() {
        return Err(rules.errors.iter().map(ToString::to_string).collect());
    }
    settings.slo.rules = rules.rules;
    Ok(settings)
}

async fn bind(addr: SocketAddr, what: &str, flag: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}: is another process using it? choose another address with {flag}"))
}

pub(crate) async fn serve(settings: Settings) -> Result<()> {
    serve_until(settings, shutdown_signal()).await
}

/// Runs until `shutdown` completes (`slod serve`: SIGTERM or Ctrl-C; `slod demo`: its end).
pub(crate) async fn serve_until(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let mut registry = Registry::default();
    let data_dir = settings.storage.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let mut opts = settings.storage.clone();
    opts.data_dir =
        std::fs::canonicalize(&data_dir).with_context(|| format!("cannot resolve {}", data_dir.display()))?;
    let (storage, report) = Storage::open(opts, Arc::new(SystemClock), &mut registry, &WalDecoder)
        .with_context(|| format!("cannot open storage in {}", data_dir.display()))?;
    if !report.torn.is_empty() {
        warn!(
            torn = report.torn.len(),
            "wal had torn tails (interrupted writes that were never acknowledged); they were skipped"
        );
    }
    let collector_metrics = Arc::new(CollectorMetrics::new(&mut registry));
    let ingest = Ingest::new(
        storage.clone(),
        collector_metrics,
        settings.max_request_bytes,
        settings.ingest_token.clone(),
    );
    let engine = QueryEngine::new(
        &storage,
        QueryLimits {
            timeout: settings.query_timeout,
            memory_bytes: settings.query_memory_bytes,
        },
    )?;
    let api_metrics = Arc::new(ApiMetrics::new(&mut registry));
    slod_slo::catalogue::register_catalogue(engine.context(), &settings.catalogue)
        .context("cannot register the signal catalogue views")?;
    let slo_handle = slod_slo::tables::SloHandle::default();
    slo_handle
        .register(engine.context())
        .context("cannot register the SLO tables")?;
    let slo_metrics = slod_slo::tables::SloMetrics::new(&mut registry);
    let pg_server = PgServer::new(
        engine.clone(),
        api_metrics.clone(),
        PgOptions {
            password: settings.pg_password.clone(),
            tls: settings.pg_tls.clone(),
        },
    )?;
    let rule_names: Vec<String> = settings.slo.rules.iter().map(|r| r.name.clone()).collect();
    let rule_metrics = slod_slo::rules::output::RuleMetrics::new(&mut registry, &rule_names);
    for key in &settings.alerting.ignored {
        warn!(key = %format!("alerting.{key}"), "Alertmanager config key accepted but not used by slod");
    }
    let alerting_dir = data_dir.join("_alerting");
    let alerting = slod_alerting::service::AlertingHandle::open(&alerting_dir)
        .with_context(|| format!("cannot open the silences in {}", alerting_dir.display()))?;
    let alerting_metrics = slod_alerting::service::AlertingMetrics::new(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let api_state = ApiState {
        alerting: alerting.clone(),
        engine: engine.clone(),
        registry: Arc::new(registry),
        metrics: api_metrics,
        query_token: settings.query_token.as_deref().map(Arc::from),
        ready: ready.clone(),
        slo: slo_handle.clone(),
    };

    let grpc_listener = bind(settings.otlp_grpc_addr, "OTLP/gRPC", "--otlp-grpc-addr").await?;
    let otlp_http_listener = bind(settings.otlp_http_addr, "OTLP/HTTP", "--otlp-http-addr").await?;
    let api_listener = bind(settings.http_addr, "the HTTP API", "--http-addr").await?;
    let pg_listener = bind(settings.pg_addr, "the PostgreSQL wire protocol", "--pg-addr").await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let grpc = tokio::spawn({
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
        let routes = slod_collector::grpc::routes(ingest.clone());
        let rx = stop_rx.clone();
        async move {
            tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, stopped(rx))
                .await
        }
    });
    let otlp_http = tokio::spawn({
        let app = slod_collector::http::router(ingest.clone());
        let rx = stop_rx.clone();
        async move {
            axum::serve(otlp_http_listener, app)
                .with_graceful_shutdown(stopped(rx))
                .await
        }
    });
    let api = tokio::spawn({
        let app = slod_api::router(api_state);
        let rx = stop_rx.clone();
        async move {
            axum::serve(api_listener, app)
                .with_graceful_shutdown(stopped(rx))
                .await
        }
    });
    let slo_ctx = crate::slo::engine_context(
        engine.context(),
        &data_dir.join("_tmp"),
        settings.query_memory_bytes,
    )
    .context("cannot set up the SLO engine's query context")?;
    let slo_loop = tokio::spawn(crate::slo::run(
        settings.slo.clone(),
        slo_ctx,
        slo_handle.clone(),
        slo_metrics,
        rule_metrics,
        data_dir.join("_slo"),
        stop_rx.clone(),
    ));
    let alerting_loop = tokio::spawn(slod_alerting::service::run(
        settings.alerting.clone(),
        slod_alerting::service::RunOpts {
            dir: alerting_dir,
            for_: Duration::ZERO,
            hold_down: settings.slo.hold_down,
            tick: Duration::from_secs(1),
        },
        slo_handle,
        alerting,
        alerting_metrics,
        stop_rx.clone(),
    ));
    let pg = tokio::spawn(pg_server.serve(pg_listener, stopped(stop_rx.clone())));
    let background = tokio::spawn({
        let storage = storage.clone();
        let rx = stop_rx.clone();
        async move { storage.run_background(rx).await }
    });

    ready.store(true, Ordering::Release);
    info!(
        otlp_grpc = %settings.otlp_grpc_addr,
        otlp_http = %settings.otlp_http_addr,
        http = %settings.http_addr,
        pg = %settings.pg_addr,
        pg_auth = if settings.pg_password.is_some() { "scram-sha-256" } else { "none" },
        pg_tls = settings.pg_tls.is_some(),
        data_dir = %data_dir.display(),
        replayed = report.records,
        "slod is ready"
    );

    shutdown.await;
    info!("shutting down: draining requests, then flushing");
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    let aborts = [
        grpc.abort_handle(),
        otlp_http.abort_handle(),
        api.abort_handle(),
        pg.abort_handle(),
        slo_loop.abort_handle(),
        alerting_loop.abort_handle(),
    ];
    let drain = async {
        let _ = grpc.await;
        let _ = otlp_http.await;
        let _ = api.await;
        let _ = pg.await;
        let _ = background.await;
        let _ = slo_loop.await;
        match alerting_loop.await {
            Ok(Err(e)) => warn!(error = %e, "alerting stopped with an error"),
            Err(e) if e.is_cancelled() => {}
            Err(e) => warn!(error = %e, "alerting stopped with a panic"),
            Ok(Ok(())) => {}
        }
    };
    tokio::pin!(drain);
    if tokio::time::timeout(Duration::from_secs(20), &mut drain)
        .await
        .is_err()
    {
        warn!("requests still open after 20s; cancelling them and flushing");
        // Whatever still runs is cancelled and awaited, so nothing writes after `serve`
        // returns. Storage maintenance is not cancelled: it ends at its next pass.
        for task in &aborts {
            task.abort();
        }
        if tokio::time::timeout(Duration::from_secs(20), drain)
            .await
            .is_err()
        {
            warn!("background work still running after 40s; flushing anyway");
        }
    }
    storage
        .shutdown()
        .await
        .context("final flush failed; the WAL still holds every acknowledged write")?;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
