//! A real `slod serve` child process on free loopback ports, for the benchmarks.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::free_port;

/// The running daemon; SIGTERM (flush, clean exit) on [`Daemon::stop`], killed on drop.
#[derive(Debug)]
pub(super) struct Daemon {
    child: Option<Child>,
    pub(super) pid: u32,
    pub(super) http: u16,
    pub(super) api: u16,
    pub(super) pg: u16,
}

impl Daemon {
    /// Starts `slod serve --config <config> --data-dir <data>` and waits for `/readyz`.
    pub(super) async fn start(config: &Path, data: &Path, client: &reqwest::Client) -> Result<Daemon> {
        let (grpc, http, api, pg) = (free_port()?, free_port()?, free_port()?, free_port()?);
        let child = std::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .args(["--otlp-grpc-addr", &format!("127.0.0.1:{grpc}")])
            .args(["--otlp-http-addr", &format!("127.0.0.1:{http}")])
            .args(["--http-addr", &format!("127.0.0.1:{api}")])
            .args(["--pg-addr", &format!("127.0.0.1:{pg}")])
            .env("SLOD_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start slod serve")?;
        let mut d = Daemon {
            pid: child.id(),
            child: Some(child),
            http,
            api,
            pg,
        };
        let ready_url = format!("http://127.0.0.1:{api}/readyz");
        let started = Instant::now();
        while !client
            .get(&ready_url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("slod serve exited during start-up ({status})");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("slod did not become ready within 60s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(d)
    }

    /// SIGTERM: the daemon flushes its buffer to Parquet and exits.
    pub(super) fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        let status = child.wait()?;
        anyhow::ensure!(status.success(), "slod serve exited with {status} on SIGTERM");
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
