//! Write-ahead log: framed records, group commit, replay (format in `storage/README.md`).
//!
//! Contract: [`Wal::append`] resolves only after the record is written **and fsynced**; the
//! writer thread then hands the record's batches to the memtable in sequence order, so the
//! memtable always holds exactly the durable records not yet flushed. Many concurrent appends
//! share one fsync: the writer drains everything queued (and waits up to `group_commit` for
//! more) before each `fdatasync`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::{error, warn};

use crate::error::{Error, Result, io};
use crate::memtable::Memtable;
use crate::metrics::StorageMetrics;
use crate::schema::Table;

/// Segment header: magic, format version, reserved.
pub(crate) const MAGIC: &[u8; 8] = b"SLODWAL\0";
pub(crate) const VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
/// len (u32) + crc32c (u32).
const FRAME_LEN: usize = 8;
/// seq (u64) + kind (u8) + ingest_time_ns (i64).
const BODY_PREFIX: usize = 17;
/// A record longer than this is corruption, not data (requests are capped far below).
const MAX_RECORD: usize = 1 << 30;

/// One durable request.
#[derive(Debug, Clone)]
pub struct WalRecord {
    pub seq: u64,
    /// What the payload is; opaque to storage (the collector uses it for the OTLP signal).
    pub kind: u8,
    pub ingest_time_ns: i64,
    pub payload: Bytes,
}

/// What replay found.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    pub segments: usize,
    pub records: u64,
    /// Records already in Parquet (seq ≤ the manifest's flushed sequence), skipped.
    pub already_flushed: u64,
    pub max_seq: u64,
    /// A torn or corrupt tail: the segment and the byte offset where the good prefix ends.
    pub torn: Vec<(PathBuf, u64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct WalOptions {
    pub dir: PathBuf,
    pub group_commit: Duration,
    pub segment_max_bytes: u64,
}

struct Request {
    kind: u8,
    ingest_time_ns: i64,
    payload: Bytes,
    batches: Vec<(Table, RecordBatch)>,
    reply: oneshot::Sender<Result<u64>>,
}

/// Handle to the WAL writer thread.
pub(crate) struct Wal {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    rotate: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").finish_non_exhaustive()
    }
}

impl Wal {
    /// Starts the writer with a fresh segment whose first sequence number is `next_seq`.
    pub(crate) fn start(
        opts: WalOptions,
        next_seq: u64,
        memtable: Arc<Memtable>,
        metrics: Arc<StorageMetrics>,
    ) -> Result<Wal> {
        fs::create_dir_all(&opts.dir).map_err(io(&opts.dir))?;
        let segment = Segment::create(&opts.dir, next_seq)?;
        let (tx, rx) = mpsc::channel();
        let rotate = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let mut writer = Writer {
            opts,
            segment,
            next_seq,
            rx,
            memtable,
            metrics,
            rotate: rotate.clone(),
            failed: failed.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("slod-wal".into())
            .spawn(move || writer.run())
            .map_err(io("wal writer thread"))?;
        Ok(Wal {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            rotate,
            failed,
        })
    }

    /// Appends one record; resolves with its sequence number once it is fsynced and visible.
    pub(crate) async fn append(
        &self,
        kind: u8,
        ingest_time_ns: i64,
        payload: Bytes,
        batches: Vec<(Table, RecordBatch)>,
    ) -> Result<u64> {
        if self.failed.load(Ordering::Acquire) {
            return Err(Error::WalFailed);
        }
        let (reply, rx) = oneshot::channel();
        let req = Request {
            kind,
            ingest_time_ns,
            payload,
            batches,
            reply,
        };
        {
            let tx = self.tx.lock();
            let tx = tx.as_ref().ok_or(Error::ShuttingDown)?;
            tx.send(req).map_err(|_| Error::ShuttingDown)?;
        }
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Asks the writer to start a new segment before its next write, so that every record up
    /// to now lives in sealed segments that a flush can delete.
    pub(crate) fn request_rotation(&self) {
        self.rotate.store(true, Ordering::Release);
    }

    /// Stops accepting appends and waits for the writer to drain what is queued.
    pub(crate) fn shutdown(&self) {
        self.tx.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

struct Segment {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
}

impl Segment {
    fn create(dir: &Path, first_seq: u64) -> Result<Segment> {
        let path = segment_path(dir, first_seq);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out.write_all(&header).map_err(io(&path))?;
        out.flush().map_err(io(&path))?;
        out.get_ref().sync_all().map_err(io(&path))?;
        sync_dir(dir)?;
        Ok(Segment {
            path,
            out,
            len: HEADER_LEN as u64,
        })
    }
}

struct Writer {
    opts: WalOptions,
    segment: Segment,
    next_seq: u64,
    rx: mpsc::Receiver<Request>,
    memtable: Arc<Memtable>,
    metrics: Arc<StorageMetrics>,
    rotate: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
}

impl Writer {
    fn run(&mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut group = vec![first];
            // INVARIANT: the group starts with the request just received.
            let mut bytes = group[0].payload.len();
            let deadline = Instant::now() + self.opts.group_commit;
            loop {
                match self.rx.try_recv() {
                    Ok(r) => {
                        bytes += r.payload.len();
                        group.push(r);
                        continue;
                    }
                    Err(mpsc::TryRecvError::Disconnected) => break,
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                let now = Instant::now();
                if bytes >= (4 << 20) || now >= deadline {
                    break;
                }
                match self.rx.recv_timeout(deadline - now) {
                    Ok(r) => {
                        bytes += r.payload.len();
                        group.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
        let _ = self.segment.out.flush();
    }

    fn commit(&mut self, group: Vec<Request>) {
        if self.failed.load(Ordering::Acquire) {
            for r in group {
                let _ = r.reply.send(Err(Error::WalFailed));
            }
            return;
        }
        let started = Instant::now();
        let result = self.write_group(&group);
        match result {
            Ok(first_seq) => {
                self.metrics
                    .wal_fsync_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.wal_records.inc_by(group.len() as u64);
                // Visible in sequence order, and only once durable.
                let mut replies = Vec::with_capacity(group.len());
                for (seq, r) in (first_seq..).zip(group) {
                    self.memtable.insert(seq, r.ingest_time_ns, r.batches);
                    replies.push((seq, r.reply));
                }
                for (seq, reply) in replies {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(err) => {
                // After a failed fsync the page cache state is unknown (fsyncgate): stop
                // acknowledging anything rather than risk acknowledging lost data.
                error!(segment = %self.segment.path.display(), error = %err, "wal write failed; refusing further writes");
                self.failed.store(true, Ordering::Release);
                for r in group {
                    let _ = r.reply.send(Err(Error::WalFailed));
                }
            }
        }
    }

    fn write_group(&mut self, group: &[Request]) -> Result<u64> {
        if self.rotate.swap(false, Ordering::AcqRel) || self.segment.len >= self.opts.segment_max_bytes {
            self.segment = Segment::create(&self.opts.dir, self.next_seq)?;
        }
        let first_seq = self.next_seq;
        let path = self.segment.path.clone();
        for (i, r) in group.iter().enumerate() {
            let seq = first_seq + i as u64;
            let body_len = BODY_PREFIX + r.payload.len();
            let mut prefix = [0u8; BODY_PREFIX];
            prefix[..8].copy_from_slice(&seq.to_le_bytes());
            prefix[8] = r.kind;
            prefix[9..17].copy_from_slice(&r.ingest_time_ns.to_le_bytes());
            let crc = crc32c::crc32c_append(crc32c::crc32c(&prefix), &r.payload);
            let len = u32::try_from(body_len).map_err(|_| Error::Io {
                path: path.clone(),
                source: std::io::Error::other("record larger than 4 GiB"),
            })?;
            let out = &mut self.segment.out;
            out.write_all(&len.to_le_bytes()).map_err(io(&path))?;
            out.write_all(&crc.to_le_bytes()).map_err(io(&path))?;
            out.write_all(&prefix).map_err(io(&path))?;
            out.write_all(&r.payload).map_err(io(&path))?;
            self.segment.len += (FRAME_LEN + body_len) as u64;
        }
        self.segment.out.flush().map_err(io(&path))?;
        crate::failpoint::hit("wal-before-fsync");
        self.segment.out.get_ref().sync_data().map_err(io(&path))?;
        self.next_seq += group.len() as u64;
        Ok(first_seq)
    }
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

/// The segments in `dir`, oldest first, with their first sequence numbers.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
        else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every segment in order and calls `f` for each intact record with `seq > after_seq`.
/// A torn or corrupt tail ends that segment's replay: it is reported, and the file is
/// truncated to its good prefix so the damage is not read again. Replay never fails on bad
/// data, only on I/O errors, so a damaged WAL cannot crash-loop the daemon.
pub(crate) fn replay(dir: &Path, after_seq: u64, mut f: impl FnMut(WalRecord)) -> Result<ReplayReport> {
    let mut report = ReplayReport {
        max_seq: after_seq,
        ..Default::default()
    };
    for (_, path) in list_segments(dir)? {
        report.segments += 1;
        let mut data = Vec::new();
        File::open(&path)
            .and_then(|mut file| file.read_to_end(&mut data))
            .map_err(io(&path))?;
        if data.len() < HEADER_LEN || &data[..8] != MAGIC {
            // A segment cut before its header was fsynced holds no acknowledged record.
            warn!(segment = %path.display(), bytes = data.len(), "wal segment without a valid header skipped");
            report.torn.push((path.clone(), 0));
            continue;
        }
        let (good_end, records) = parse_records(&data[HEADER_LEN..]);
        for rec in records {
            report.max_seq = report.max_seq.max(rec.seq);
            if rec.seq <= after_seq {
                report.already_flushed += 1;
                continue;
            }
            report.records += 1;
            f(rec);
        }
        let good_end = (HEADER_LEN + good_end) as u64;
        if good_end < data.len() as u64 {
            warn!(segment = %path.display(), offset = good_end, bytes = data.len() as u64 - good_end, "wal replay stopped at torn tail; truncating it");
            report.torn.push((path.clone(), good_end));
            let file = OpenOptions::new().write(true).open(&path).map_err(io(&path))?;
            file.set_len(good_end).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
    }
    Ok(report)
}

/// Parses framed records; returns the byte length of the intact prefix and its records.
fn parse_records(mut buf: &[u8]) -> (usize, Vec<WalRecord>) {
    let total = buf.len();
    let mut out = Vec::new();
    while buf.len() >= FRAME_LEN {
        // INVARIANT: the loop condition guarantees FRAME_LEN (8) bytes.
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if !(BODY_PREFIX..=MAX_RECORD).contains(&len) || buf.len() < FRAME_LEN + len {
            break;
        }
        let body = &buf[FRAME_LEN..FRAME_LEN + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&body[..8]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&body[9..17]);
        out.push(WalRecord {
            seq: u64::from_le_bytes(seq),
            kind: body[8],
            ingest_time_ns: i64::from_le_bytes(t),
            payload: Bytes::copy_from_slice(&body[BODY_PREFIX..]),
        });
        buf = &buf[FRAME_LEN + len..];
    }
    (total - buf.len(), out)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests;
