//! Stored Responses-API responses through [`Store`] and the log writer, on
//! any engine: owners, replace, delete, retention.
use super::TestStore;
use crate::db::logs::PruneTarget;
use crate::db::responses::{ResponseKey, ResponseRow};

fn row(id: &str, owner: &str, created_at_ms: i64) -> ResponseRow {
    ResponseRow {
        id: id.into(),
        owner: owner.into(),
        model: "fast".into(),
        created_at_ms,
        response: format!(r#"{{"id":"{id}","object":"response"}}"#).into(),
        items: br#"[{"type":"message","role":"user","content":"hi"}]"#
            .to_vec()
            .into(),
    }
}

pub(super) fn responses_round_trip_by_owner(mut t: TestStore) {
    let a = row("resp_a", "1:aa", 1000);
    t.store
        .put_responses(&[a.clone(), row("resp_b", "", 2000)])
        .unwrap();
    assert_eq!(t.store.get_response("resp_a", "1:aa").unwrap(), Some(a));
    // Another key (or no key) does not see it.
    assert_eq!(t.store.get_response("resp_a", "2:bb").unwrap(), None);
    assert_eq!(t.store.get_response("resp_a", "").unwrap(), None);
    assert!(t.store.get_response("resp_b", "").unwrap().is_some());
    // Another owner cannot overwrite it; its owner can.
    let mut hijack = row("resp_a", "2:bb", 3000);
    hijack.items = b"[]".to_vec().into();
    t.store.put_responses(&[hijack]).unwrap();
    assert_eq!(t.store.get_response("resp_a", "2:bb").unwrap(), None);
    let mut again = row("resp_a", "1:aa", 4000);
    again.items = b"[1]".to_vec().into();
    t.store.put_responses(&[again.clone()]).unwrap();
    assert_eq!(t.store.get_response("resp_a", "1:aa").unwrap(), Some(again));
    // Delete: only its owner, once.
    assert!(!t.store.delete_response("resp_a", "2:bb").unwrap());
    assert!(t.store.delete_response("resp_a", "1:aa").unwrap());
    assert!(!t.store.delete_response("resp_a", "1:aa").unwrap());
    assert_eq!(t.store.count_responses().unwrap(), 1);
}

pub(super) fn writer_puts_then_deletes_in_order(t: TestStore) {
    let mut w = t.writer();
    let gone = ResponseKey {
        id: "resp_1".into(),
        owner: "k".into(),
    };
    // A put and its delete in one batch: the delete wins.
    w.write_responses(&[row("resp_1", "k", 1), row("resp_2", "k", 2)], &[gone])
        .unwrap();
    assert_eq!(t.store.get_response("resp_1", "k").unwrap(), None);
    assert!(t.store.get_response("resp_2", "k").unwrap().is_some());
    w.write_responses::<ResponseRow>(&[], &[]).unwrap();
    assert_eq!(t.store.count_responses().unwrap(), 1);
}

pub(super) fn responses_pruned_by_age_in_chunks(mut t: TestStore) {
    let rows: Vec<ResponseRow> = (0..25)
        .map(|i| row(&format!("resp_{i}"), "k", 1000 + i))
        .collect();
    t.store.put_responses(&rows).unwrap();
    let mut w = t.writer();
    let mut removed = Vec::new();
    loop {
        let n = w.prune_chunk(PruneTarget::Responses, 1020, 8).unwrap();
        removed.push(n);
        if n < 8 {
            break;
        }
    }
    assert_eq!(removed, [8, 8, 4]);
    assert_eq!(t.store.count_responses().unwrap(), 5);
    assert!(t.store.get_response("resp_19", "k").unwrap().is_none());
    assert!(t.store.get_response("resp_20", "k").unwrap().is_some());
    assert_eq!(PruneTarget::Responses.table(), "responses");
    assert!(PruneTarget::ALL.contains(&PruneTarget::Responses));
}
