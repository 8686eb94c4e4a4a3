//! Paged, searchable catalog lists through [`Store`], on any engine.
use super::TestStore;
use crate::catalog::ProviderInput;
use crate::db::paging::ListQuery;

pub(super) fn lists_page_and_search(mut t: TestStore) {
    let s = &mut t.store;
    let models: Vec<String> = (0..12).map(|i| format!("Model-{i:02}")).collect();
    let input = ProviderInput {
        kind: Some("openai".into()),
        models: models.clone(),
        ..Default::default()
    };
    s.add_provider("wide", &input).unwrap();
    s.add_provider(
        "narrow",
        &ProviderInput {
            kind: Some("openai".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..25 {
        s.create_key(&format!("key-{i:02}"), None, None).unwrap();
    }
    let q = |q: Option<&str>, after: Option<&str>, limit: i64| {
        ListQuery::new(q.map(Into::into), after.map(Into::into), Some(limit)).unwrap()
    };

    // Keys: three pages of 10, 10 and 5, chained by `next`, in name order.
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list_keys_page(&q(None, after.as_deref(), 10)).unwrap();
        names.extend(page.rows.iter().map(|k| k.name.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let all: Vec<String> = (0..25).map(|i| format!("key-{i:02}")).collect();
    assert_eq!(names, all);
    // A case-insensitive substring.
    let found = s.list_keys_page(&q(Some("EY-1"), None, 100)).unwrap();
    let found: Vec<&str> = found.rows.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        found,
        (10..20).map(|i| format!("key-{i}")).collect::<Vec<_>>()
    );

    // Models with their mappings; search and `after` together.
    let page = s
        .list_models_page(&q(Some("model-1"), Some("Model-10"), 5))
        .unwrap();
    let names: Vec<&str> = page.rows.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Model-11"]);
    assert_eq!(page.rows[0].providers[0].provider, "wide");
    assert_eq!(page.next, None);

    // Providers by name, with their first model names and a count.
    let page = s.list_providers_page(&q(None, None, 1)).unwrap();
    assert_eq!(page.rows[0].provider.name, "narrow");
    assert_eq!(page.rows[0].model_count, 0);
    assert_eq!(page.next.as_deref(), Some("narrow"));
    let page = s.list_providers_page(&q(None, Some("narrow"), 1)).unwrap();
    assert_eq!(page.rows[0].provider.name, "wide");
    assert_eq!(
        (page.rows[0].model_count, page.rows[0].models.clone()),
        (12, models)
    );
    assert_eq!(page.next, None);
}
