//! The replica heartbeat through [`Store`], on any engine: beat (insert,
//! then update), the live window, the stale rows' deletion, gone.
use super::TestStore;
use crate::db::replicas::{Replica, STALE_MS};

fn replica(id: &str, redis: bool, seen_at_ms: i64) -> Replica {
    Replica {
        id: id.into(),
        host: "web-1".into(),
        pid: 4242,
        listen: "0.0.0.0:4000".into(),
        version: "0.1.0".into(),
        redis,
        started_at_ms: seen_at_ms,
        seen_at_ms,
    }
}

const NOW: i64 = 1_700_000_000_000;

pub(super) fn replicas_beat_and_are_seen_within_the_window(mut t: TestStore) {
    let a = replica("aaaaaaaaaaaaaaaa", false, NOW - 40_000);
    t.store.replica_beat(&a).unwrap();
    t.store
        .replica_beat(&replica("bbbbbbbbbbbbbbbb", true, NOW - 1_000))
        .unwrap();
    // `a` was last seen 40 s ago: out of a 30 s window.
    let live = t.store.replicas_alive(NOW, 30_000).unwrap();
    assert_eq!(
        live.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["bbbbbbbbbbbbbbbb"]
    );
    assert!(live[0].redis);
    // A beat moves seen_at (and keeps started_at); another connection sees it.
    let mut again = a.clone();
    again.seen_at_ms = NOW;
    again.started_at_ms = 0;
    t.store.replica_beat(&again).unwrap();
    let live = t.reopen().replicas_alive(NOW, 30_000).unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(
        live[0],
        Replica {
            seen_at_ms: NOW,
            ..a
        }
    );
    assert!(!live[0].redis);
}

pub(super) fn stale_replicas_are_deleted_and_gone_ones_too(mut t: TestStore) {
    let crashed = replica("cccccccccccccccc", false, NOW - STALE_MS - 1);
    t.store.replica_beat(&crashed).unwrap();
    // Reads never delete (doctor reads on a read-only session).
    assert_eq!(t.store.replicas_alive(NOW, STALE_MS * 2).unwrap().len(), 1);
    // The next beat of any replica deletes it.
    let me = replica("dddddddddddddddd", false, NOW);
    t.store.replica_beat(&me).unwrap();
    let all = t.store.replicas_alive(NOW, STALE_MS * 2).unwrap();
    assert_eq!(all, std::slice::from_ref(&me));
    assert!(t.store.replica_gone(&me.id).unwrap());
    assert!(!t.store.replica_gone(&me.id).unwrap());
    assert!(t.store.replicas_alive(NOW, STALE_MS).unwrap().is_empty());
}

pub(super) fn beats_do_not_move_the_config_version(mut t: TestStore) {
    let v = t.store.config_version().unwrap();
    t.store
        .replica_beat(&replica("eeeeeeeeeeeeeeee", true, NOW))
        .unwrap();
    t.store.replica_gone("eeeeeeeeeeeeeeee").unwrap();
    assert_eq!(t.store.config_version().unwrap(), v);
}
