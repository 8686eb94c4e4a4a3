//! Read-only facts about a database file for `llmo doctor`: its header, the
//! sizes of the file and its `-wal`/`-shm` companions, page counts, and an
//! inspection connection that leaves no trace.
//!
//! Why a special connection: a plain `SQLITE_OPEN_READONLY` open of a WAL
//! database creates `-wal` and `-shm` files next to it and leaves them there.
//! Run as root (`sudo llmo doctor`), that would leave root-owned files which
//! then make the gateway fail with "attempt to write a readonly database".
//! So when no `-wal`/`-shm` exists (the database was closed cleanly), doctor
//! opens it with `immutable=1`: no locks, no companion files, nothing written.
//! When a `-wal` exists (a gateway is running, or one crashed), the committed
//! data may live in it, so doctor opens read-only the normal way; the
//! companions already exist then.
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{open_error, SqliteStore};
use crate::db::{Result, StoreError};

/// Whether the filesystem holding `path` is mounted read-only (statvfs's
/// `ST_RDONLY`): then no permission or owner change helps, only a writable
/// mount. `false` when it cannot tell.
pub fn read_only_mount(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call,
    // and `st` points at writable memory of the struct's size.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let st = unsafe { st.assume_init() };
    st.f_flag & libc::ST_RDONLY != 0
}

/// The magic string at the start of every SQLite 3 database file.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What the first 100 bytes of a file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A zero-length file: SQLite treats it as an empty database.
    Empty,
    /// Not an SQLite 3 database (wrong magic, or too short).
    NotSqlite,
    /// An SQLite 3 database; `wal` when the file is in WAL mode (header bytes
    /// 18 and 19 are 2), which is persistent across connections.
    Sqlite { wal: bool, page_size: u32 },
}

/// Reads and classifies the database header without opening it with SQLite.
pub fn read_header(path: &Path) -> std::io::Result<Header> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = [0u8; 100];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    if n == 0 {
        return Ok(Header::Empty);
    }
    if n < buf.len() || &buf[..16] != MAGIC {
        return Ok(Header::NotSqlite);
    }
    // Page size: big-endian u16 at offset 16; the value 1 means 65536.
    let raw = u16::from_be_bytes([buf[16], buf[17]]);
    let page_size = if raw == 1 { 65536 } else { u32::from(raw) };
    Ok(Header::Sqlite {
        wal: buf[18] == 2 && buf[19] == 2,
        page_size,
    })
}

/// The companion file SQLite keeps next to `path` (`-wal`, `-shm`).
pub fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Sizes in bytes of the database and its companions (`None`: no such file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSizes {
    pub db: u64,
    pub wal: Option<u64>,
    pub shm: Option<u64>,
}

/// Page accounting from SQLite's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageStats {
    pub page_size: i64,
    pub page_count: i64,
    /// Pages on the free list (space `VACUUM` would give back).
    pub freelist_count: i64,
}

/// Sizes of the files at `path` (the database need not be open).
fn file_sizes(path: &Path) -> std::io::Result<FileSizes> {
    let len = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
    Ok(FileSizes {
        db: std::fs::metadata(path)?.len(),
        wal: len(&companion(path, "-wal")),
        shm: len(&companion(path, "-shm")),
    })
}

/// `file:` URI for a path, escaping the characters SQLite's URI parser treats
/// specially.
fn file_uri(path: &Path, params: &str) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push('?');
    uri.push_str(params);
    uri
}

impl SqliteStore {
    /// Opens an existing database for inspection only: never creates, writes,
    /// migrates or changes its journal mode, and leaves no `-wal`/`-shm`
    /// behind when there were none (see the module docs).
    pub(crate) fn open_for_inspection(path: &Path) -> Result<SqliteStore> {
        let live = companion(path, "-wal").exists() || companion(path, "-shm").exists();
        let params = if live {
            "mode=ro"
        } else {
            "mode=ro&immutable=1"
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(file_uri(path, params), flags)
            .map_err(|e| open_error(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(|e| open_error(path, e))?;
        // SQLite reads the file lazily: touch the schema now so a file that is
        // not a database fails here, with the clear message, not later.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| open_error(path, e))?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Sizes of this database's files.
    pub(crate) fn file_sizes(&self) -> Result<FileSizes> {
        file_sizes(&self.path).map_err(|source| StoreError::Io {
            context: format!("reading the size of `{}`", self.path.display()),
            source,
        })
    }

    /// Page size, page count and free-list length.
    pub(crate) fn page_stats(&self) -> Result<PageStats> {
        let get = |pragma: &str| -> Result<i64> {
            Ok(self
                .conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))?)
        };
        Ok(PageStats {
            page_size: get("page_size")?,
            page_count: get("page_count")?,
            freelist_count: get("freelist_count")?,
        })
    }

    /// Whether the database has a table of this name (e.g. to tell a database
    /// whose first migration never ran from one that lost a table).
    pub(crate) fn has_table(&self, name: &str) -> Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Store;

    #[test]
    fn header_classifies_files() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read_header(&empty).unwrap(), Header::Empty);
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        assert_eq!(read_header(&junk).unwrap(), Header::NotSqlite);
        let db = dir.path().join("llmo.db");
        drop(Store::open(&db).unwrap());
        assert!(matches!(
            read_header(&db).unwrap(),
            Header::Sqlite { wal: true, .. }
        ));
    }

    #[test]
    fn inspection_leaves_no_companion_files_and_reads_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("we?ird#name%.db");
        drop(Store::open(&db).unwrap());
        assert!(!companion(&db, "-wal").exists());
        let before = std::fs::read(&db).unwrap();
        let store = Store::open_for_inspection(&db).unwrap();
        assert_eq!(store.integrity_check().unwrap(), vec!["ok".to_string()]);
        assert!(store.has_table("providers").unwrap());
        assert!(!store.has_table("nope").unwrap());
        let stats = store.page_stats().unwrap();
        assert!(stats.page_count > 0);
        drop(store);
        assert!(!companion(&db, "-wal").exists());
        assert!(!companion(&db, "-shm").exists());
        assert_eq!(std::fs::read(&db).unwrap(), before);
    }

    #[test]
    fn inspection_sees_rows_still_in_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("llmo.db");
        // Keep a writer open so its commit stays in the -wal file.
        let (mut writer, _) = Store::open(&db).unwrap();
        writer
            .add_provider(
                "p",
                &crate::catalog::ProviderInput {
                    kind: Some("openai".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let store = Store::open_for_inspection(&db).unwrap();
        assert_eq!(store.list_providers().unwrap().len(), 1);
    }

    #[test]
    fn inspection_of_garbage_says_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("llmo.db");
        std::fs::write(&db, vec![b'x'; 4096]).unwrap();
        let err = Store::open_for_inspection(&db).unwrap_err().to_string();
        assert!(err.contains("not an SQLite database"), "{err}");
    }
}
