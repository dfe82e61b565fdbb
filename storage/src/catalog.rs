//! The manifest: which Parquet files hold committed rows, and up to which WAL sequence.
//!
//! Every change (flush, compaction, retention) writes a complete new manifest to a temporary
//! file, fsyncs it and renames it over `_catalog/manifest.json`, then fsyncs the directory.
//! The rename is the commit point: a crash before it leaves the old manifest (and orphan files
//! that the next start deletes), a crash after it leaves the new one (and stale files the next
//! start deletes). Files are immutable once listed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Error, Result, io};
use crate::schema::Table;
use crate::wal::sync_dir;

const FORMAT: u32 = 1;

/// One committed Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    #[serde(with = "table_name")]
    pub table: Table,
    /// Path relative to the data directory, `/`-separated.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// Start of the hour partition (ns since epoch, UTC).
    pub hour_ns: i64,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
}

mod table_name {
    use super::Table;
    use serde::{Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(t: &Table, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.name())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
        let name = String::deserialize(d)?;
        Table::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown table {name}")))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: u32,
    /// Every WAL record with a sequence number up to this one is in the listed files.
    pub flushed_seq: u64,
    pub files: Vec<FileMeta>,
}

#[derive(Debug)]
pub(crate) struct Catalog {
    root: PathBuf,
}

impl Catalog {
    pub(crate) fn new(root: &Path) -> Catalog {
        Catalog {
            root: root.to_path_buf(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("_catalog")
    }

    fn path(&self) -> PathBuf {
        self.dir().join("manifest.json")
    }

    pub(crate) fn load(&self) -> Result<Manifest> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => {
                let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::ManifestCorrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                if m.format != FORMAT {
                    return Err(Error::ManifestCorrupt {
                        path,
                        reason: format!("format {} is not supported (expected {FORMAT})", m.format),
                    });
                }
                Ok(m)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                format: FORMAT,
                ..Default::default()
            }),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Atomically replaces the manifest (the commit point of every storage change).
    pub(crate) fn commit(&self, m: &Manifest) -> Result<()> {
        let dir = self.dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = dir.join("manifest.json.tmp");
        let bytes = serde_json::to_vec(m).map_err(|e| Error::ManifestCorrupt {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&tmp, &bytes).map_err(io(&tmp))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        fs::rename(&tmp, self.path()).map_err(io(self.path()))?;
        sync_dir(&dir)
    }

    /// Deletes Parquet and temporary files that the manifest does not list: leftovers of a
    /// flush or compaction that crashed before its commit, or of one that crashed after it
    /// but before deleting what it replaced. Reports listed files that are missing.
    pub(crate) fn remove_orphans(&self, m: &Manifest) -> Result<usize> {
        let listed: HashSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        let mut removed = 0;
        for table in Table::ALL {
            let dir = self.root.join(table.name());
            for path in walk(&dir)? {
                let rel = relative(&self.root, &path);
                let is_data = rel.ends_with(".parquet") || rel.ends_with(".tmp");
                if is_data && !listed.contains(rel.as_str()) {
                    fs::remove_file(&path).map_err(io(&path))?;
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            info!(
                files = removed,
                "removed files left by an interrupted flush or compaction"
            );
        }
        for f in &m.files {
            if !self.root.join(&f.path).exists() {
                warn!(file = %f.path, "manifest lists a file that is missing");
            }
        }
        Ok(removed)
    }
}

pub(crate) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&d)(e)),
        };
        for e in entries {
            let p = e.map_err(io(&d))?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Removes now-empty partition directories below `dir` (best effort).
pub(crate) fn prune_empty_dirs(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                prune_empty_dirs(&p);
                let _ = fs::remove_dir(&p);
            }
        }
    }
}
