use super::*;
use prometheus_client::registry::Registry;

fn start(dir: &Path, next_seq: u64) -> (Wal, Arc<Memtable>) {
    let memtable = Arc::new(Memtable::default());
    let metrics = Arc::new(StorageMetrics::new(&mut Registry::default()));
    let wal = Wal::start(
        WalOptions {
            dir: dir.to_path_buf(),
            group_commit: Duration::from_millis(1),
            segment_max_bytes: 1 << 20,
        },
        next_seq,
        memtable.clone(),
        metrics,
    )
    .unwrap();
    (wal, memtable)
}

fn write(dir: &Path, payloads: &[&[u8]]) -> Vec<u64> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (wal, _) = start(dir, 1);
    let seqs = payloads
        .iter()
        .map(|p| {
            rt.block_on(wal.append(7, 42, Bytes::copy_from_slice(p), vec![]))
                .unwrap()
        })
        .collect();
    wal.shutdown();
    seqs
}

fn read_all(dir: &Path, after: u64) -> (Vec<WalRecord>, ReplayReport) {
    let mut got = Vec::new();
    let report = replay(dir, after, |r| got.push(r)).unwrap();
    (got, report)
}

#[test]
fn records_round_trip_in_order_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let seqs = write(dir.path(), &[b"one", b"", b"three"]);
    assert_eq!(seqs, vec![1, 2, 3]);
    let (got, report) = read_all(dir.path(), 0);
    let payloads: Vec<&[u8]> = got.iter().map(|r| r.payload.as_ref()).collect();
    assert_eq!(payloads, vec![&b"one"[..], b"", b"three"]);
    assert!(got.iter().all(|r| r.kind == 7 && r.ingest_time_ns == 42));
    assert_eq!(report.max_seq, 3);
    assert!(report.torn.is_empty());
}

#[test]
fn records_at_or_below_the_flushed_sequence_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[b"a", b"b", b"c"]);
    let (got, report) = read_all(dir.path(), 2);
    assert_eq!(got.len(), 1, "only seq 3 is newer than the flushed seq 2");
    assert_eq!(got[0].seq, 3);
    assert_eq!(report.already_flushed, 2);
}

/// Each way a tail can be damaged: the good prefix replays, the tail is reported and cut.
#[test]
fn damaged_tails_replay_the_good_prefix_and_are_truncated() {
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage); 4] = [
        // A crash mid-record: the last record is cut short.
        ("truncated mid-record", |d| {
            let n = d.len();
            d.truncate(n - 3);
        }),
        // A bit flip in the last record's payload: its CRC no longer matches.
        ("corrupt crc", |d| {
            let n = d.len();
            d[n - 1] ^= 0xff;
        }),
        // Pre-allocated zeroes after the last record.
        ("zero-filled tail", |d| d.extend_from_slice(&[0u8; 64])),
        // A length field pointing far past the end of the file.
        ("absurd length", |d| {
            d.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1])
        }),
    ];
    for (name, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[b"first", b"second", b"third"]);
        let (_, path) = list_segments(dir.path()).unwrap().pop().unwrap();
        let mut data = fs::read(&path).unwrap();
        let intact_len = data.len();
        damage(&mut data);
        fs::write(&path, &data).unwrap();

        let (got, report) = read_all(dir.path(), 0);
        let expected = if data.len() > intact_len { 3 } else { 2 };
        assert_eq!(got.len(), expected, "{name}: records replayed");
        assert_eq!(report.torn.len(), 1, "{name}: torn tail reported");
        let good = report.torn[0].1;
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            good,
            "{name}: file cut to good prefix"
        );
        // A second replay finds a clean file.
        let (again, report2) = read_all(dir.path(), 0);
        assert_eq!(again.len(), expected, "{name}: stable after truncation");
        assert!(report2.torn.is_empty(), "{name}: nothing torn the second time");
    }
}

#[test]
fn a_segment_without_a_header_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[b"kept"]);
    fs::write(segment_path(dir.path(), 99), b"SLO").unwrap();
    let (got, report) = read_all(dir.path(), 0);
    assert_eq!(got.len(), 1);
    assert_eq!(report.torn.len(), 1);
}

#[test]
fn appends_become_visible_in_the_memtable_after_fsync() {
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (wal, memtable) = start(dir.path(), 10);
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1, 2]))]).unwrap();
    let seq = rt
        .block_on(wal.append(1, 5, Bytes::from_static(b"p"), vec![(Table::Logs, batch)]))
        .unwrap();
    assert_eq!(seq, 10, "sequence continues from next_seq");
    assert_eq!(memtable.max_seq(), 10);
    assert_eq!(memtable.snapshot(Table::Logs).batches[0].num_rows(), 2);
    wal.shutdown();
}
