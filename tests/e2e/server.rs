//! `TestServer`: the real `slod serve` binary on free loopback ports, with helpers to query
//! it, kill it (`kill -9`) and restart it on the same data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Builder {
    config: String,
    env: Vec<(String, String)>,
}

impl Builder {
    /// Extra YAML appended to the generated config (e.g. a `storage:` section).
    pub fn config(mut self, yaml: &str) -> Self {
        self.config.push_str(yaml);
        self.config.push('\n');
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn start(self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = TestServer {
            data: dir.path().join("data"),
            config_path: dir.path().join("slod.yaml"),
            log_path: dir.path().join("slod.log"),
            _dir: dir,
            grpc: free_port(),
            http: free_port(),
            api: free_port(),
            pg: free_port(),
            child: None,
            env: self.env,
            client: reqwest::Client::new(),
        };
        std::fs::write(&s.config_path, &self.config).unwrap();
        // A port from free_port() can be taken again before slod binds it (by another test's
        // server or as the local port of an outgoing connection): retry on fresh ports.
        for _ in 0..3 {
            match s.try_spawn() {
                Err(log) if log.contains("cannot listen") => {
                    (s.grpc, s.http, s.api, s.pg) = (free_port(), free_port(), free_port(), free_port());
                    std::fs::write(&s.log_path, "").unwrap();
                }
                other => {
                    if let Err(log) = other {
                        panic!("slod exited during start-up; log:\n{log}");
                    }
                    return s;
                }
            }
        }
        panic!("slod could not bind free ports three times; log:\n{}", s.log());
    }
}

pub struct TestServer {
    pub data: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    _dir: tempfile::TempDir,
    pub grpc: u16,
    pub http: u16,
    pub api: u16,
    /// PostgreSQL wire port.
    pub pg: u16,
    child: Option<Child>,
    pub env: Vec<(String, String)>,
    pub client: reqwest::Client,
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder {
            config: String::new(),
            env: Vec::new(),
        }
    }

    pub fn start() -> TestServer {
        Self::builder().start()
    }

    pub fn otlp_http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api)
    }

    /// libpq connection string for the PostgreSQL wire port (database `slod`).
    pub fn pg_dsn(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname=slod user={user} sslmode=disable connect_timeout=10",
            self.pg
        )
    }

    /// A tokio-postgres client on the PostgreSQL wire port (its connection task spawned).
    pub async fn pg_connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.pg_dsn("e2e"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("pgwire connect failed: {e}\n{}", self.log()));
        tokio::spawn(conn);
        client
    }

    /// Starts the process (logs appended to `log_path`) and waits until it is ready; panics
    /// with the log if it exits first.
    pub fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("slod exited during start-up; log:\n{log}");
        }
    }

    /// Like [`TestServer::spawn`]; an early exit returns the log.
    fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slod"));
        cmd.args(["serve", "--config"])
            .arg(&self.config_path)
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--otlp-grpc-addr", &format!("127.0.0.1:{}", self.grpc)])
            .args(["--otlp-http-addr", &format!("127.0.0.1:{}", self.http)])
            .args(["--http-addr", &format!("127.0.0.1:{}", self.api)])
            .args(["--pg-addr", &format!("127.0.0.1:{}", self.pg)])
            .env("SLOD_LOG", "info")
            .env_remove("SLOD_FAILPOINTS")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("cannot start the slod binary"));
        self.try_wait_ready()
    }

    /// Waits until `/readyz` answers 200; an early exit returns the log.
    fn try_wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                return Err(format!("({status})\n{}", self.log()));
            }
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.api)).is_ok()
                && ureq_like_get(self.api, "/readyz").is_some_and(|s| s == 200);
            if ok {
                return Ok(());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "slod not ready after 60s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("not running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `kill -9`: no flush, no cleanup.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself (e.g. at a failpoint).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM and wait: graceful shutdown must flush and exit 0.
    pub fn stop(&mut self) -> ExitStatus {
        let pid = self.pid();
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        self.wait_exit(Duration::from_secs(60))
            .expect("slod did not stop within 60s after SIGTERM")
    }

    /// Peak resident set size of the server so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib * 1024
    }

    /// POSTs an OTLP/HTTP request body (`application/x-protobuf`).
    pub async fn post_protobuf(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.otlp_http(path))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Runs SQL over `POST /api/v1/sql`; returns the rows as JSON objects.
    pub async fn sql(&self, q: &str) -> Vec<serde_json::Map<String, Value>> {
        let resp = self
            .client
            .post(self.api_url("/api/v1/sql"))
            .body(q.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "query failed ({status}): {q}\n{body}");
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    }

    /// A single integer from a one-row, one-column query.
    pub async fn count(&self, q: &str) -> i64 {
        let rows = self.sql(q).await;
        rows[0].values().next().and_then(Value::as_i64).unwrap()
    }

    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.api_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A tiny blocking HTTP GET returning the status code (readiness polling without a runtime).
fn ureq_like_get(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// Python interpreter of the project's venv (`scripts/setup-python.sh` creates it).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SLOD_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the e2e tests need the OpenTelemetry Python SDK: run ./scripts/setup-python.sh (./scripts/test.sh does)"
    );
    venv
}
