//! The client keys of the routing snapshot: live (unrevoked) keys by the
//! SHA-256 of the key, in 256 shards (by the digest's first byte), each
//! behind its own `Arc`. A full load builds the table from the store's rows
//! in one pass, reusing the entry (and so the live rate state) of every key
//! that did not change; a key created or revoked is applied as a
//! [`KeyDelta`] that copies only the shard it falls in and shares the rest.
//! A lookup is one hash probe, as before.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::rate::KeyLive;
use crate::db::catalog::KeyRow;

const SHARDS: usize = 256;

/// One live client key as the request path needs it.
pub(crate) struct KeyRt {
    /// The key's row id (keys are revoked, never deleted: ids are not
    /// reused); what owns its stored `/v1/responses` answers.
    pub id: i64,
    pub name: Arc<str>,
    /// Public models this key may use; `None` means all.
    pub allowed: Option<Box<[Box<str>]>>,
    /// Requests per minute, 0 = unlimited.
    pub rpm: u32,
    pub live: KeyLive,
}

impl KeyRt {
    pub(crate) fn allows(&self, model: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|a| a.iter().any(|m| &**m == model))
    }

    fn from_row(row: &KeyRow<'_>, previous: Option<&KeyRt>) -> KeyRt {
        let rpm = rpm_of(row);
        KeyRt {
            id: row.id,
            name: Arc::from(row.name),
            allowed: row
                .models()
                .map(|ms| ms.into_iter().map(String::into_boxed_str).collect()),
            rpm,
            live: KeyLive::new(rpm, previous.map(|p| &p.live)),
        }
    }

    /// Whether the row says what this entry already holds.
    fn matches(&self, row: &KeyRow<'_>) -> bool {
        if &*self.name != row.name || self.rpm != rpm_of(row) {
            return false;
        }
        match (&self.allowed, row.models_json) {
            (None, None) => true,
            (Some(a), Some(_)) => row.models().is_some_and(|ms| {
                ms.len() == a.len() && ms.iter().zip(a.iter()).all(|(x, y)| **x == **y)
            }),
            _ => false,
        }
    }
}

fn rpm_of(row: &KeyRow<'_>) -> u32 {
    u32::try_from(row.rpm_limit).unwrap_or(u32::MAX)
}

/// Hashes a SHA-256 digest by folding its words: they are uniformly random
/// already. Only the operator's keys are stored (a client chooses what it
/// looks up, not what is in the table), so there is nothing to flood.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(23) ^ u64::from_le_bytes(w);
        }
    }

    /// The length prefix `[u8; 32]` hashes first: always 32, skipped.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

type Shard = HashMap<[u8; 32], Arc<KeyRt>, BuildHasherDefault<DigestHasher>>;

/// The live client keys by digest (see the module doc).
#[derive(Clone)]
pub(crate) struct KeyTable {
    shards: Box<[Arc<Shard>]>,
    len: usize,
}

impl Default for KeyTable {
    fn default() -> Self {
        let empty = Arc::new(Shard::default());
        KeyTable {
            shards: (0..SHARDS).map(|_| empty.clone()).collect(),
            len: 0,
        }
    }
}

impl KeyTable {
    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<&Arc<KeyRt>> {
        self.shards[usize::from(digest[0])].get(digest)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Builds a [`KeyTable`] from a full read of the keys, reusing `previous`'s
/// entry for every key that did not change.
pub(crate) struct KeyTableBuilder<'a> {
    previous: Option<&'a KeyTable>,
    shards: Vec<Shard>,
    len: usize,
}

impl<'a> KeyTableBuilder<'a> {
    pub(crate) fn new(previous: Option<&'a KeyTable>) -> Self {
        KeyTableBuilder {
            previous,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            len: 0,
        }
    }

    pub(crate) fn add(&mut self, row: KeyRow<'_>) {
        if row.revoked {
            return;
        }
        let prev = self.previous.and_then(|t| t.get(&row.digest));
        let rt = match prev {
            Some(p) if p.matches(&row) => p.clone(),
            _ => Arc::new(KeyRt::from_row(&row, prev.map(|p| &**p))),
        };
        if self.shards[usize::from(row.digest[0])]
            .insert(row.digest, rt)
            .is_none()
        {
            self.len += 1;
        }
    }

    pub(crate) fn finish(self) -> KeyTable {
        KeyTable {
            shards: self.shards.into_iter().map(Arc::new).collect(),
            len: self.len,
        }
    }
}

/// Key changes read since a table was loaded, to apply to it.
#[derive(Default)]
pub(crate) struct KeyDelta {
    upserts: Vec<([u8; 32], Arc<KeyRt>)>,
    removes: Vec<[u8; 32]>,
}

impl KeyDelta {
    /// Notes what `row` changes in `table`: nothing when the table already
    /// says the same (or does not have a revoked key).
    pub(crate) fn add(&mut self, table: &KeyTable, row: KeyRow<'_>) {
        let prev = table.get(&row.digest);
        if row.revoked {
            if prev.is_some() {
                self.removes.push(row.digest);
            }
            return;
        }
        match prev {
            Some(p) if p.matches(&row) => {}
            _ => self.upserts.push((
                row.digest,
                Arc::new(KeyRt::from_row(&row, prev.map(|p| &**p))),
            )),
        }
    }

    /// (keys added or changed, keys removed)
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.upserts.len(), self.removes.len())
    }

    /// `table` with the changes applied; only the shards they touch are
    /// copied, the others are shared with `table`.
    pub(crate) fn apply(self, table: &KeyTable) -> KeyTable {
        let mut shards: Vec<Arc<Shard>> = table.shards.to_vec();
        let mut len = table.len;
        for (d, rt) in self.upserts {
            if Arc::make_mut(&mut shards[usize::from(d[0])])
                .insert(d, rt)
                .is_none()
            {
                len += 1;
            }
        }
        for d in self.removes {
            if Arc::make_mut(&mut shards[usize::from(d[0])])
                .remove(&d)
                .is_some()
            {
                len -= 1;
            }
        }
        KeyTable {
            shards: shards.into_boxed_slice(),
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn digest(i: u32) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(i.to_le_bytes()).into()
    }

    fn row(i: u32, name: &str, rpm: i64, revoked: bool) -> KeyRow<'_> {
        KeyRow {
            id: i64::from(i),
            name,
            digest: digest(i),
            rpm_limit: rpm,
            models_json: None,
            revoked,
        }
    }

    fn table(n: u32) -> KeyTable {
        let mut b = KeyTableBuilder::new(None);
        for i in 0..n {
            b.add(row(i, &format!("k{i}"), 2, false));
        }
        b.finish()
    }

    fn shared_shards(a: &KeyTable, b: &KeyTable) -> usize {
        a.shards
            .iter()
            .zip(b.shards.iter())
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count()
    }

    #[test]
    fn a_delta_copies_only_the_shards_it_touches() {
        let old = table(5000);
        assert_eq!(old.len(), 5000);
        let kept = old.get(&digest(7)).unwrap().clone();
        assert!(kept.live.try_acquire(Instant::now()).is_ok());

        let mut d = KeyDelta::default();
        d.add(&old, row(5000, "new", 0, false));
        d.add(&old, row(3, "k3", 2, true));
        d.add(&old, row(9, "k9", 2, false)); // unchanged: no entry
        d.add(&old, row(77_777, "gone-before", 0, true)); // never loaded
        assert_eq!(d.counts(), (1, 1));
        let new = d.apply(&old);

        assert_eq!(new.len(), 5000);
        assert_eq!(&*new.get(&digest(5000)).unwrap().name, "new");
        assert!(new.get(&digest(3)).is_none());
        assert!(old.get(&digest(3)).is_some(), "the old table is untouched");
        let touched = usize::from(digest(5000)[0] != digest(3)[0]) + 1;
        assert_eq!(shared_shards(&old, &new), SHARDS - touched);
        // Every other key is the same entry, with the same rate window.
        let same = new.get(&digest(7)).unwrap();
        assert!(Arc::ptr_eq(same, &kept));
        assert!(same.live.try_acquire(Instant::now()).is_ok());
        assert!(
            same.live.try_acquire(Instant::now()).is_err(),
            "rpm 2 used up"
        );
    }

    #[test]
    fn a_full_load_reuses_unchanged_entries_and_keeps_live_state() {
        let old = table(300);
        let mut b = KeyTableBuilder::new(Some(&old));
        for i in 0..300 {
            let rpm = if i == 1 { 5 } else { 2 };
            b.add(row(i, &format!("k{i}"), rpm, i == 2));
        }
        let new = b.finish();
        assert_eq!(new.len(), 299);
        assert!(Arc::ptr_eq(
            new.get(&digest(0)).unwrap(),
            old.get(&digest(0)).unwrap()
        ));
        let changed = new.get(&digest(1)).unwrap();
        assert!(!Arc::ptr_eq(changed, old.get(&digest(1)).unwrap()));
        assert_eq!(changed.rpm, 5);
        assert!(changed.live.same_as(&old.get(&digest(1)).unwrap().live));
        assert!(new.get(&digest(2)).is_none());
    }

    #[test]
    fn model_lists_are_compared() {
        let models = r#"["a","b"]"#;
        let mut r = row(1, "k", 0, false);
        r.models_json = Some(models);
        let rt = KeyRt::from_row(&r, None);
        assert!(rt.allows("a") && !rt.allows("c"));
        assert!(rt.matches(&r));
        r.models_json = Some(r#"["a"]"#);
        assert!(!rt.matches(&r));
        r.models_json = None;
        assert!(!rt.matches(&r));
    }
}
