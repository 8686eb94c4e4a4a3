//! The Responses API's state: the responses llmo stored (`POST
//! /v1/responses` with `store` on, the default), for `previous_response_id`
//! and `GET`/`DELETE /v1/responses/{id}`.
//!
//! - **Writes never wait on the database**: a stored response goes into the
//!   in-memory map below and onto the request-log writer's queue
//!   ([`Recorder::store_response`]: the same thread and connection as the
//!   logs, so no second writer contends for SQLite's lock; its queued bytes
//!   are bounded, past that the response lives in memory only). Deletes go
//!   the same way, behind any queued put of the same id.
//! - **Reads look in memory first**: a bounded map of recent responses (by
//!   bytes, the `responses_cache` setting, default 64 MiB, and by count,
//!   [`MAX_ENTRIES`]; the oldest go first) answers at once, so a follow-up
//!   request right after a response finds it even before its write landed.
//!   A miss reads the database on the blocking pool, on the state's own
//!   connection (opened on first use, like the admin API's), never on a
//!   runtime worker. A deleted id leaves a small tombstone in the map, so a
//!   read right after the delete does not find a row whose delete is still
//!   queued.
//! - **Ownership**: every row carries its owner, the client key's id (`""`
//!   for anonymous requests); a lookup with another owner finds nothing, so
//!   another key's id is a 404 like an unknown one.
//! - Rows are kept as long as request logs (`log_retention_days`): the
//!   writer's retention prunes them in the same pass.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use super::recorder::Recorder;
use crate::db::responses::{ResponseKey, ResponseRow};
use crate::db::{Store, StoreError};

/// Most responses the in-memory map holds, whatever their size.
pub const MAX_ENTRIES: usize = 10_000;

/// The owner of what a request stores: its client key's id, or `""` when
/// the request is anonymous.
pub(crate) fn owner(key_id: Option<i64>) -> Box<str> {
    key_id.map_or_else(|| "".into(), |id| id.to_string().into())
}

/// What the map knows about an id.
#[derive(Debug, Clone)]
enum Entry {
    Live(Arc<ResponseRow>),
    /// Deleted by its owner; the delete may still be queued.
    Deleted {
        owner: Box<str>,
    },
}

impl Entry {
    fn size(&self, id: &str) -> usize {
        const OVERHEAD: usize = 96;
        OVERHEAD
            + match self {
                Entry::Live(r) => r.size(),
                Entry::Deleted { owner } => id.len() + owner.len(),
            }
    }
}

/// The bounded map: ids in insertion order, the oldest evicted first.
#[derive(Debug)]
struct Recent {
    map: HashMap<Box<str>, (Entry, u64)>,
    /// `(id, generation)`: an id put again gets a new generation, and its
    /// older queue slot is skipped on eviction.
    order: VecDeque<(Box<str>, u64)>,
    generation: u64,
    bytes: usize,
    max_bytes: usize,
    max_entries: usize,
}

impl Recent {
    fn new(max_bytes: usize, max_entries: usize) -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
            bytes: 0,
            max_bytes,
            max_entries,
        }
    }

    fn insert(&mut self, id: Box<str>, entry: Entry) {
        let size = entry.size(&id);
        self.remove(&id);
        // One entry larger than a quarter of the budget would evict too
        // much: it lives in the database only.
        if size > self.max_bytes / 4 || self.max_entries == 0 {
            return;
        }
        self.generation += 1;
        self.bytes += size;
        self.order.push_back((id.clone(), self.generation));
        self.map.insert(id, (entry, self.generation));
        while self.bytes > self.max_bytes || self.map.len() > self.max_entries {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|(_, g)| *g == generation) {
                self.remove(&old);
            }
        }
        // Slots of ids put again pile up in `order`: compact when they
        // outnumber the live ones.
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(id, g)| map.get(id).is_some_and(|(_, live)| live == g));
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some((e, _)) = self.map.remove(id) {
            self.bytes -= e.size(id);
        }
    }

    fn get(&self, id: &str) -> Option<&Entry> {
        self.map.get(id).map(|(e, _)| e)
    }
}

/// What the map says about an id for an owner.
#[derive(Debug)]
enum Cached {
    /// The owner's response.
    Found(Arc<ResponseRow>),
    /// Known and not the owner's, or deleted: a 404 without a database read.
    Gone,
    /// Not in the map: ask the database.
    Unknown,
}

/// The stored responses: the recent map and the read connection.
pub(crate) struct ResponsesState {
    recent: Mutex<Recent>,
    db_path: crate::db::DbLocation,
    /// The read connection, opened on first use, used on the blocking pool.
    reader: Arc<Mutex<Option<Store>>>,
}

impl std::fmt::Debug for ResponsesState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponsesState")
            .field("db_path", &self.db_path)
            .finish()
    }
}

impl ResponsesState {
    /// A state keeping up to `cache_bytes` of recent responses in memory.
    pub(crate) fn new(db_path: impl Into<crate::db::DbLocation>, cache_bytes: u64) -> Self {
        Self::with_bounds(
            db_path,
            usize::try_from(cache_bytes).unwrap_or(usize::MAX),
            MAX_ENTRIES,
        )
    }

    fn with_bounds(
        db_path: impl Into<crate::db::DbLocation>,
        max_bytes: usize,
        max_entries: usize,
    ) -> Self {
        ResponsesState {
            recent: Mutex::new(Recent::new(max_bytes, max_entries)),
            db_path: db_path.into(),
            reader: Arc::new(Mutex::new(None)),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a response: in memory at once, in the database through the
    /// writer's queue (when there is a recorder). Never blocks.
    pub(crate) fn put(&self, recorder: Option<&Recorder>, row: ResponseRow) {
        let row = Arc::new(row);
        self.recent()
            .insert(row.id.clone(), Entry::Live(row.clone()));
        if let Some(r) = recorder {
            r.store_response(row);
        }
    }

    fn cached(&self, id: &str, owner: &str) -> Cached {
        match self.recent().get(id) {
            Some(Entry::Live(r)) if *r.owner == *owner => Cached::Found(r.clone()),
            Some(_) => Cached::Gone,
            None => Cached::Unknown,
        }
    }

    /// The response `id` if `owner` stored it: from memory, else from the
    /// database on the blocking pool.
    pub(crate) async fn get(
        &self,
        id: &str,
        owner: &str,
    ) -> Result<Option<Arc<ResponseRow>>, StoreError> {
        match self.cached(id, owner) {
            Cached::Found(r) => return Ok(Some(r)),
            Cached::Gone => return Ok(None),
            Cached::Unknown => {}
        }
        let (id, owner) = (id.to_string(), owner.to_string());
        let row = self
            .with_reader(move |s| s.get_response(&id, &owner))
            .await?;
        Ok(row.map(Arc::new))
    }

    /// Deletes the response `id` if `owner` stored it; false when there is
    /// none of theirs. The delete is queued behind any pending put of it
    /// (or done here when the queue refuses it).
    pub(crate) async fn delete(
        &self,
        recorder: Option<&Recorder>,
        id: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        if self.get(id, owner).await?.is_none() {
            return Ok(false);
        }
        self.recent().insert(
            id.into(),
            Entry::Deleted {
                owner: owner.into(),
            },
        );
        let key = ResponseKey {
            id: id.into(),
            owner: owner.into(),
        };
        if recorder.is_some_and(|r| r.delete_response(key.clone())) {
            return Ok(true);
        }
        self.with_reader(move |s| s.delete_response(&key.id, &key.owner))
            .await?;
        Ok(true)
    }

    /// Runs `f` on the read connection on the blocking pool.
    async fn with_reader<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let slot = self.reader.clone();
        let path = self.db_path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
            let store = match guard.as_mut() {
                Some(s) => s,
                None => guard.insert(Store::open(&path)?.0),
            };
            f(store)
        })
        .await
        .map_err(|e| StoreError::Io {
            context: "stored-responses database task".into(),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, owner: &str, items: usize) -> ResponseRow {
        ResponseRow {
            id: id.into(),
            owner: owner.into(),
            model: "m".into(),
            created_at_ms: 1,
            response: bytes::Bytes::from(format!(r#"{{"id":"{id}"}}"#)),
            items: bytes::Bytes::from(vec![b' '; items]),
        }
    }

    fn temp_state(max_bytes: usize, max_entries: usize) -> (ResponsesState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Store::open(&path).unwrap();
        (
            ResponsesState::with_bounds(path, max_bytes, max_entries),
            dir,
        )
    }

    #[test]
    fn the_map_is_bounded_by_count_oldest_first() {
        let mut r = Recent::new(usize::MAX, 3);
        for i in 0..5 {
            let id = format!("resp_{i}");
            r.insert(id.clone().into(), Entry::Live(Arc::new(row(&id, "1", 10))));
        }
        assert_eq!(r.map.len(), 3);
        assert!(r.get("resp_1").is_none());
        assert!(r.get("resp_2").is_some() && r.get("resp_4").is_some());
    }

    #[test]
    fn the_map_is_bounded_by_bytes_and_skips_huge_rows() {
        let one = Entry::Live(Arc::new(row("resp_0", "1", 1000))).size("resp_0");
        let mut r = Recent::new(one * 4, 100);
        for i in 0..10 {
            let id = format!("resp_{i}");
            r.insert(
                id.clone().into(),
                Entry::Live(Arc::new(row(&id, "1", 1000))),
            );
            assert!(r.bytes <= r.max_bytes);
        }
        assert_eq!(r.map.len(), 4);
        assert!(r.get("resp_9").is_some() && r.get("resp_5").is_none());
        // Larger than a quarter of the budget: not kept in memory.
        r.insert(
            "big".into(),
            Entry::Live(Arc::new(row("big", "1", one * 2))),
        );
        assert!(r.get("big").is_none());
        // Putting an id again replaces it and keeps the byte count exact.
        r.insert(
            "resp_9".into(),
            Entry::Live(Arc::new(row("resp_9", "1", 10))),
        );
        let sum: usize = r.map.iter().map(|(id, (e, _))| e.size(id)).sum();
        assert_eq!(r.bytes, sum);
        for _ in 0..500 {
            r.insert(
                "resp_9".into(),
                Entry::Live(Arc::new(row("resp_9", "1", 10))),
            );
        }
        assert!(r.order.len() <= 2 * r.map.len() + 64, "{}", r.order.len());
    }

    #[tokio::test]
    async fn another_owner_never_sees_a_response_in_memory_or_stored() {
        let (st, _dir) = temp_state(1 << 20, 100);
        st.put(None, row("resp_a", "1", 10));
        assert!(st.get("resp_a", "1").await.unwrap().is_some());
        assert!(st.get("resp_a", "2").await.unwrap().is_none());
        assert!(st.get("resp_a", "").await.unwrap().is_none());
        // Only in the database (as after a restart): same rule.
        let (st, dir) = temp_state(1 << 20, 100);
        let (mut store, _) = Store::open(dir.path().join("t.db")).unwrap();
        store.put_responses(&[row("resp_b", "7", 10)]).unwrap();
        assert!(st.get("resp_b", "7").await.unwrap().is_some());
        assert!(st.get("resp_b", "8").await.unwrap().is_none());
        assert!(!st.delete(None, "resp_b", "8").await.unwrap());
        assert!(st.delete(None, "resp_b", "7").await.unwrap());
        assert!(st.get("resp_b", "7").await.unwrap().is_none());
        assert_eq!(store.count_responses().unwrap(), 0);
        assert!(!st.delete(None, "resp_b", "7").await.unwrap());
    }

    #[tokio::test]
    async fn a_delete_hides_a_response_whose_write_is_still_queued() {
        let (st, _dir) = temp_state(1 << 20, 100);
        st.put(None, row("resp_c", "", 10));
        assert!(st.delete(None, "resp_c", "").await.unwrap());
        assert!(st.get("resp_c", "").await.unwrap().is_none());
        assert_eq!(&*owner(None), "");
        assert_eq!(&*owner(Some(42)), "42");
    }
}
