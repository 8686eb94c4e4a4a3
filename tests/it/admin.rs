//! The admin API and UI, driven in-process through `Admin` (as the gateway
//! mounts it) and once over HTTP through the test server; plus the
//! `admin-key` command and the admin-key settings.
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use llmo::admin::api::ROUTES;
use llmo::admin::{Admin, AdminRequest, AdminResponse, LiveView};
use llmo::secret::Secret;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common::mock_upstream::{MockUpstream, Reply};
use crate::common::{closed_addr, eventually, TestEnv, PATIENCE};

const KEY: &str = "llmo-admin-TESTKEYabcdefghijklmnopqrstuvwxyz0123456";

/// Counts reload requests and reports fixed circuit states.
#[derive(Default)]
struct Live {
    changes: AtomicUsize,
}

impl LiveView for Live {
    fn provider_states(&self) -> Value {
        json!([{"name": "oa", "state": "open", "consecutive_failures": 5, "last_error": "HTTP 503"}])
    }
    fn config_changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

struct H {
    dir: TempDir,
    admin: Admin,
    live: Arc<Live>,
}

struct Resp {
    status: u16,
    body: Value,
    raw: AdminResponse,
}

impl H {
    fn new() -> H {
        Self::with_key(Some(KEY))
    }

    fn with_key(key: Option<&str>) -> H {
        let dir = tempfile::tempdir().unwrap();
        let live = Arc::new(Live::default());
        let admin = Admin::new(
            dir.path().join("llmo.db"),
            key.map(Secret::new),
            live.clone(),
        );
        H { dir, admin, live }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("llmo.db")
    }

    fn changes(&self) -> usize {
        self.live.changes.load(Ordering::SeqCst)
    }

    async fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: Bytes,
        auth: Option<&str>,
        peer: &str,
    ) -> Resp {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        let mut headers = http::HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        let raw = self
            .admin
            .handle_api(AdminRequest {
                method: method.parse().unwrap(),
                path,
                query,
                headers,
                body,
                peer: peer.parse::<IpAddr>().unwrap(),
            })
            .await;
        let body = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
        Resp {
            status: raw.status,
            body,
            raw,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let b = body
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()))
            .unwrap_or_default();
        self.raw(method, path, b, Some(&format!("Bearer {KEY}")), "127.0.0.1")
            .await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body).await;
        assert!(
            r.status == 200 || r.status == 201,
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        r.body
    }

    async fn add_provider(&self, name: &str, models: &[&str]) {
        self.ok(
            "POST",
            "/providers",
            Some(json!({"name": name, "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-live-abcdefghijklmnopSECRET1234", "models": models})),
        )
        .await;
    }
}

fn err_param(r: &Resp) -> Option<&str> {
    r.body["error"]["param"].as_str()
}

// ----------------------------------------------------------------- auth

#[tokio::test]
async fn without_an_admin_key_everything_answers_503_saying_how_to_set_one() {
    let h = H::with_key(None);
    for auth in [None, Some("Bearer anything-at-all-here")] {
        let r = h
            .raw("GET", "/providers", Bytes::new(), auth, "127.0.0.1")
            .await;
        assert_eq!(r.status, 503);
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("llmo admin-key generate"), "{msg}");
        assert!(msg.contains("LLMO_ADMIN_KEY"), "{msg}");
    }
    let ui = h.admin.handle_ui("/", None);
    assert_eq!(ui.status, 503);
    assert!(String::from_utf8_lossy(&ui.body).contains("admin-key generate"));
    assert!(ui.header("content-security-policy").is_some());
}

#[tokio::test]
async fn missing_and_wrong_keys_get_401_and_the_right_key_gets_in() {
    let h = H::new();
    let none = h
        .raw("GET", "/providers", Bytes::new(), None, "127.0.0.1")
        .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["error"]["type"], "authentication_error");
    assert_eq!(none.body["error"]["code"], "missing_admin_key");
    let wrong = h
        .raw(
            "GET",
            "/providers",
            Bytes::new(),
            Some("Bearer llmo-admin-not-the-right-key-at-all"),
            "127.0.0.1",
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"]["code"], "invalid_admin_key");
    // The key itself is not accepted without the Bearer scheme.
    let bare = h
        .raw("GET", "/providers", Bytes::new(), Some(KEY), "127.0.0.1")
        .await;
    assert_eq!(bare.status, 401);
    let right = h.call("GET", "/providers", None).await;
    assert_eq!(right.status, 200);
    assert_eq!(right.body, json!({"data": [], "next": null}));
    for r in [&none, &wrong, &right] {
        assert_eq!(
            r.raw.header("content-security-policy"),
            Some("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        );
        assert_eq!(r.raw.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.raw.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.raw.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn repeated_wrong_keys_from_one_address_are_slowed_down() {
    let h = H::new();
    let wrong = Some("Bearer llmo-admin-guess-guess-guess-guess");
    for _ in 0..5 {
        let r = h
            .raw("GET", "/providers", Bytes::new(), wrong, "192.0.2.1")
            .await;
        assert_eq!(r.status, 401);
    }
    // Blocked now: further wrong keys get 429 without being checked...
    let r = h
        .raw("GET", "/providers", Bytes::new(), wrong, "192.0.2.1")
        .await;
    assert_eq!(r.status, 429);
    let wait: u64 = r.raw.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    assert_eq!(r.body["error"]["code"], "too_many_auth_failures");
    // ...but the right key from that address always passes (anyone sharing
    // the operator's address, e.g. behind a proxy, must not lock them out),
    // in any case of the scheme, and does not lift the block on wrong keys.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = h
            .raw(
                "GET",
                "/providers",
                Bytes::new(),
                Some(&format!("{scheme} {KEY}")),
                "192.0.2.1",
            )
            .await;
        assert_eq!(r.status, 200, "{scheme}: {}", r.body);
    }
    let r = h
        .raw("GET", "/providers", Bytes::new(), wrong, "192.0.2.1")
        .await;
    assert_eq!(r.status, 429);
    // Another address is not affected.
    let other = h
        .raw(
            "GET",
            "/providers",
            Bytes::new(),
            Some(&format!("Bearer {KEY}")),
            "192.0.2.2",
        )
        .await;
    assert_eq!(other.status, 200);
}

// ----------------------------------------------------------- providers

#[tokio::test]
async fn providers_crud_with_masked_keys_and_reload_requests() {
    let h = H::new();
    let created = h
        .call(
            "POST",
            "/providers",
            Some(json!({"name": "oa", "kind": "openai", "api_key": "sk-proj-abcdefghijklmnopSECRET1234", "models": ["gpt-4o"], "weight": 3})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["api_key"], "sk-...1234");
    assert_eq!(created.body["base_url"], "https://api.openai.com/v1");
    assert_eq!(created.body["models"], json!(["gpt-4o"]));
    assert_eq!(h.changes(), 1);

    let got = h.ok("GET", "/providers/oa", None).await;
    assert_eq!(got["weight"], 3);
    let list = h.ok("GET", "/providers", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    for v in [&created.body, &got, &list] {
        assert!(!v.to_string().contains("SECRET"), "key leaked: {v}");
    }

    // PATCH changes only what it names.
    let patched = h
        .ok("PATCH", "/providers/oa", Some(json!({"priority": 2})))
        .await;
    assert_eq!(patched["priority"], 2);
    assert_eq!(patched["weight"], 3);
    assert_eq!(patched["api_key"], "sk-...1234");
    let rekeyed = h
        .ok(
            "PATCH",
            "/providers/oa",
            Some(json!({"api_key": "sk-proj-zzzzzzzzzzzzzzzzNEWKEY5678"})),
        )
        .await;
    assert_eq!(rekeyed["api_key"], "sk-...5678");

    let off = h.ok("POST", "/providers/oa/disable", None).await;
    assert_eq!(off["enabled"], false);
    let on = h.ok("POST", "/providers/oa/enable", None).await;
    assert_eq!(on["enabled"], true);
    assert_eq!(h.changes(), 5);

    // The CLI sees the same provider (one store, one validation path).
    let (store, _) = llmo::db::Store::open(h.db()).unwrap();
    let p = store.get_provider("oa").unwrap();
    assert_eq!(p.priority, 2);
    assert_eq!(
        p.api_key.unwrap().expose(),
        "sk-proj-zzzzzzzzzzzzzzzzNEWKEY5678"
    );
    drop(store);

    // `"api_key": null` forgets the key (a server that needs none).
    let cleared = h
        .ok("PATCH", "/providers/oa", Some(json!({"api_key": null})))
        .await;
    assert_eq!(cleared["api_key"], Value::Null);
    assert_eq!(cleared["api_key_env"], Value::Null);
    assert_eq!(cleared["priority"], 2, "nothing else changed");
    let (store, _) = llmo::db::Store::open(h.db()).unwrap();
    let p = store.get_provider("oa").unwrap();
    assert!(p.api_key.is_none() && p.api_key_env.is_none());

    // Removing the only provider of a model needs force.
    let conflict = h.call("DELETE", "/providers/oa", None).await;
    assert_eq!(conflict.status, 409);
    assert!(conflict.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-4o"));
    let gone = h.ok("DELETE", "/providers/oa?force=true", None).await;
    assert_eq!(gone["models_without_provider"], json!(["gpt-4o"]));
    assert_eq!(h.call("GET", "/providers/oa", None).await.status, 404);
}

#[tokio::test]
async fn invalid_provider_input_names_the_field() {
    let h = H::new();
    let cases = [
        (
            json!({"name": "x", "kind": "openai-compatible", "base_url": "ftp://host"}),
            "base_url",
        ),
        (
            json!({"name": "x", "kind": "openai-compatible", "base_url": "not a url"}),
            "base_url",
        ),
        (
            json!({"name": "x", "kind": "openai-compatible"}),
            "base_url",
        ),
        (json!({"name": "x", "kind": "azure"}), "kind"),
        (json!({"name": "x"}), "kind"),
        (json!({"kind": "openai"}), "name"),
        (json!({"name": "bad name", "kind": "openai"}), "name"),
        (
            json!({"name": "x", "kind": "openai", "weight": -1}),
            "weight",
        ),
        (
            json!({"name": "x", "kind": "openai", "weight": "heavy"}),
            "weight",
        ),
        (
            json!({"name": "x", "kind": "openai", "timeout_ms": 0}),
            "timeout_ms",
        ),
        (
            json!({"name": "x", "kind": "openai", "max_retries": 11}),
            "max_retries",
        ),
        (
            json!({"name": "x", "kind": "openai", "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"name": "x", "kind": "openai", "api_key": ""}),
            "api_key",
        ),
        (
            json!({"name": "x", "kind": "openai", "api_key": "sk-a", "api_key_env": "K"}),
            "api_key_env",
        ),
        (
            json!({"name": "x", "kind": "openai", "api_key_env": "1BAD"}),
            "api_key_env",
        ),
        (
            json!({"name": "x", "kind": "openai", "models": ["bad model"]}),
            "models",
        ),
        (
            json!({"name": "x", "kind": "openai", "wieght": 2}),
            "wieght",
        ),
    ];
    for (body, param) in cases {
        let r = h.call("POST", "/providers", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert_eq!(err_param(&r), Some(param), "{body}: {}", r.body);
    }
    // Not JSON, and not an object.
    for raw in [&b"{nope"[..], &b"[1,2]"[..]] {
        let r = h
            .raw(
                "POST",
                "/providers",
                Bytes::copy_from_slice(raw),
                Some(&format!("Bearer {KEY}")),
                "127.0.0.1",
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["error"]["code"], "invalid_json");
    }
    // Nothing was created, nothing reloaded.
    assert_eq!(h.ok("GET", "/providers", None).await["data"], json!([]));
    assert_eq!(h.changes(), 0);
    // PATCH validates the same way, and 404s unknown names.
    h.add_provider("p1", &[]).await;
    let r = h
        .call(
            "PATCH",
            "/providers/p1",
            Some(json!({"base_url": "ftp://x"})),
        )
        .await;
    assert_eq!((r.status, err_param(&r)), (400, Some("base_url")));
    let r = h
        .call("PATCH", "/providers/p1", Some(json!({"name": "bad name!"})))
        .await;
    assert_eq!((r.status, err_param(&r)), (400, Some("name")));
    // A bad field with a rename: nothing changes (no half-done rename).
    let r = h
        .call(
            "PATCH",
            "/providers/p1",
            Some(json!({"name": "p2", "base_url": "ftp://x"})),
        )
        .await;
    assert_eq!((r.status, err_param(&r)), (400, Some("base_url")));
    assert_eq!(h.ok("GET", "/providers/p1", None).await["name"], "p1");
    // ... also when the failure is found after the fields validated (a kind
    // that needs a base URL): rename and update are one transaction.
    h.ok(
        "POST",
        "/providers",
        Some(json!({"name": "vendor", "kind": "openai"})),
    )
    .await;
    let r = h
        .call(
            "PATCH",
            "/providers/vendor",
            Some(json!({"name": "vendor2", "kind": "openai-compatible"})),
        )
        .await;
    assert_eq!((r.status, err_param(&r)), (400, Some("base_url")));
    assert_eq!(
        h.ok("GET", "/providers/vendor", None).await["name"],
        "vendor"
    );
    assert_eq!(h.call("GET", "/providers/vendor2", None).await.status, 404);
    let r = h
        .call("PATCH", "/providers/nope", Some(json!({"weight": 1})))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["type"], "not_found_error");
    // Duplicates are 409.
    let r = h
        .call(
            "POST",
            "/providers",
            Some(json!({"name": "p1", "kind": "openai"})),
        )
        .await;
    assert_eq!((r.status, err_param(&r)), (409, Some("name")));

    // `name` in a PATCH renames; the mappings come along.
    h.add_provider("p3", &[]).await;
    let r = h
        .call("PATCH", "/providers/p1", Some(json!({"name": "p3"})))
        .await;
    assert_eq!((r.status, err_param(&r)), (409, Some("name")));
    let renamed = h
        .ok(
            "PATCH",
            "/providers/p1",
            Some(json!({"name": "p1-new", "weight": 5})),
        )
        .await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["weight"].as_i64()),
        (Some("p1-new"), Some(5))
    );
    assert_eq!(h.call("GET", "/providers/p1", None).await.status, 404);
}

#[tokio::test]
async fn test_button_probes_the_provider_once() {
    let h = H::new();
    for (name, status, ok, outcome) in [
        ("up", 200, true, "ok"),
        ("denied", 401, false, "key_rejected"),
    ] {
        let mock = MockUpstream::start().await;
        mock.set_default(Reply::status(status, r#"{"object":"list","data":[]}"#));
        let url = mock.url();
        h.ok(
            "POST",
            "/providers",
            Some(json!({"name": name, "kind": "openai-compatible", "base_url": url, "api_key": "sk-test-0123456789abcdef"})),
        )
        .await;
        let r = h.ok("POST", &format!("/providers/{name}/test"), None).await;
        assert_eq!(r["ok"], ok, "{r}");
        assert_eq!(r["outcome"], outcome);
        assert_eq!(r["status"], status);
        assert!(r["url"].as_str().unwrap().ends_with("/v1/models"));
        assert!(r["latency_ms"].as_f64().unwrap() >= 0.0);
    }
    // A closed port: a connection error, still 200 with the verdict.
    let closed = format!("http://{}/v1", closed_addr());
    h.ok(
        "POST",
        "/providers",
        Some(json!({"name": "down", "kind": "openai-compatible", "base_url": closed})),
    )
    .await;
    let r = h.ok("POST", "/providers/down/test", None).await;
    assert_eq!(r["outcome"], "connect_error", "{r}");
    assert_eq!(
        h.call("POST", "/providers/nope/test", None).await.status,
        404
    );
}

// ----------------------------------------------------- models, mappings

#[tokio::test]
async fn models_and_mappings_lifecycle() {
    let h = H::new();
    h.add_provider("a", &[]).await;
    h.add_provider("b", &[]).await;
    let m = h
        .call(
            "POST",
            "/models",
            Some(json!({"name": "chat", "description": "default chat", "providers": ["a=up-a", {"provider": "b", "weight": 5}]})),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.body);
    assert_eq!(m.body["providers"].as_array().unwrap().len(), 2);
    let dup = h
        .call("POST", "/models", Some(json!({"name": "chat"})))
        .await;
    assert_eq!((dup.status, err_param(&dup)), (409, Some("name")));
    let bad = h
        .call(
            "POST",
            "/models",
            Some(json!({"name": "x", "providers": ["ghost"]})),
        )
        .await;
    assert_eq!((bad.status, err_param(&bad)), (400, Some("providers")));
    let bad = h
        .call("POST", "/models", Some(json!({"name": "bad name"})))
        .await;
    assert_eq!((bad.status, err_param(&bad)), (400, Some("name")));

    // Mappings: list, change, conflict, remove.
    let maps = h.ok("GET", "/mappings", None).await;
    let rows = maps["data"].as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["model"] == "chat" && r["provider"] == "a" && r["upstream_model"] == "up-a"));
    let r = h
        .call(
            "POST",
            "/models/chat/mappings",
            Some(json!({"provider": "a"})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = h
        .call(
            "POST",
            "/models/chat/mappings",
            Some(json!({"provider": "ghost"})),
        )
        .await;
    assert_eq!((r.status, err_param(&r)), (400, Some("provider")));
    let r = h
        .call(
            "POST",
            "/models/nope/mappings",
            Some(json!({"provider": "a"})),
        )
        .await;
    assert_eq!(r.status, 404);
    let changed = h
        .ok(
            "PATCH",
            "/models/chat/mappings/b",
            Some(
                json!({"weight": null, "priority": 1, "upstream_model": "up-b", "enabled": false}),
            ),
        )
        .await;
    let b = changed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "b")
        .unwrap()
        .clone();
    assert_eq!(b["weight"], Value::Null);
    assert_eq!(b["priority"], 1);
    assert_eq!(b["upstream_model"], "up-b");
    assert_eq!(b["enabled"], false);
    let r = h
        .call(
            "PATCH",
            "/models/chat/mappings/b",
            Some(json!({"weight": -2})),
        )
        .await;
    assert_eq!((r.status, err_param(&r)), (400, Some("weight")));
    let after = h.ok("DELETE", "/models/chat/mappings/a", None).await;
    assert_eq!(after["providers"].as_array().unwrap().len(), 1);
    assert_eq!(
        h.call("DELETE", "/models/chat/mappings/a", None)
            .await
            .status,
        404
    );

    // A model name with `/`, percent-encoded in the path.
    h.ok(
        "POST",
        "/models",
        Some(json!({"name": "meta/llama-3", "providers": ["a"]})),
    )
    .await;
    let got = h.ok("GET", "/models/meta%2Fllama-3", None).await;
    assert_eq!(got["name"], "meta/llama-3");

    let upd = h
        .ok(
            "PATCH",
            "/models/chat",
            Some(json!({"enabled": false, "description": "off"})),
        )
        .await;
    assert_eq!(
        (upd["enabled"].clone(), upd["description"].clone()),
        (json!(false), json!("off"))
    );
    assert_eq!(
        h.call("PATCH", "/models/nope", Some(json!({"enabled": false})))
            .await
            .status,
        404
    );
    h.ok("DELETE", "/models/chat", None).await;
    assert_eq!(h.call("GET", "/models/chat", None).await.status, 404);
    assert_eq!(h.call("DELETE", "/models/chat", None).await.status, 404);
    let list = h.ok("GET", "/models", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------- client keys

#[tokio::test]
async fn client_keys_are_shown_once_and_revocable() {
    let h = H::new();
    let k = h
        .call(
            "POST",
            "/keys",
            Some(json!({"name": "billing", "rpm_limit": 60, "models": ["gpt-4o"]})),
        )
        .await;
    assert_eq!(k.status, 201, "{}", k.body);
    let secret = k.body["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("llmo-") && secret.len() > 40);
    assert_eq!(k.body["prefix"], secret[..9]);
    assert_eq!(k.raw.header("cache-control"), Some("no-store"));
    let list = h.ok("GET", "/keys", None).await;
    let text = list.to_string();
    assert!(!text.contains(&secret[9..]), "key listed in full: {text}");
    assert_eq!(list["data"][0]["rpm_limit"], 60);
    assert_eq!(list["data"][0]["last_used_at"], Value::Null);
    // The stored hash is the key's: the gateway would accept it.
    let (store, _) = llmo::db::Store::open(h.db()).unwrap();
    assert!(store
        .list_keys()
        .unwrap()
        .iter()
        .any(|c| c.key_hash == llmo_hash(&secret)));

    for (body, param) in [
        (json!({"name": "x", "rpm_limit": -1}), "rpm_limit"),
        (json!({"name": "x y"}), "name"),
        (json!({"name": "x", "models": "gpt-4o"}), "models"),
        (json!({}), "name"),
    ] {
        let r = h.call("POST", "/keys", Some(body)).await;
        assert_eq!((r.status, err_param(&r)), (400, Some(param)), "{}", r.body);
    }
    let dup = h
        .call("POST", "/keys", Some(json!({"name": "billing"})))
        .await;
    assert_eq!(dup.status, 409);

    let revoked = h.ok("POST", "/keys/billing/revoke", None).await;
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        h.call("POST", "/keys/billing/revoke", None).await.status,
        409
    );
    assert_eq!(h.call("POST", "/keys/nope/revoke", None).await.status, 404);
}

fn llmo_hash(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ------------------------------------------------------- logs and stats

pub(crate) const T0: i64 = 1_800_000_000_000;

/// `n` log rows one second apart from T0 (newest last), models and
/// providers cycling, every 10th a 502, plus matching provider_stats.
fn seed_logs(db: &std::path::Path, n: i64) {
    seed(db, n, true);
}

pub(crate) fn seed(db: &std::path::Path, n: i64, with_stats: bool) {
    let (store, _) = llmo::db::Store::open(db).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(db).unwrap();
    // Building the indexes after the rows is several times faster than
    // maintaining them row by row; the result is the same schema.
    let indexes: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_logs' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes.len(), 2);
    let drop_all: String = indexes
        .iter()
        .map(|sql| {
            let name = sql.split_whitespace().nth(2).unwrap();
            format!("DROP INDEX {name};")
        })
        .collect();
    conn.execute_batch(&format!(
        "BEGIN;
         {drop_all}
         WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {n} - 1)
         INSERT INTO request_logs (ts, request_id, key_name, model, provider, upstream_model,
           attempts, status, error_type, latency_ms, prompt_tokens, completion_tokens, stream)
         SELECT {T0} + i * 1000, 'req-' || i, CASE i % 2 WHEN 0 THEN 'app' ELSE 'batch' END,
           CASE i % 3 WHEN 0 THEN 'gpt-4o' WHEN 1 THEN 'claude' ELSE 'gemini' END,
           CASE i % 2 WHEN 0 THEN 'oa' ELSE 'an' END, 'up', 1,
           CASE WHEN i % 10 = 0 THEN 502 ELSE 200 END,
           CASE WHEN i % 10 = 0 THEN 'upstream_error' END,
           10 + (i % 100), 7, 3, i % 2
         FROM c;
         {create_all}
         {stats}
         COMMIT;",
        create_all = indexes.join(";\n") + ";",
        stats = if with_stats { STATS_SQL } else { "" },
    ))
    .unwrap();
}

const STATS_SQL: &str =
    "INSERT INTO provider_stats (provider, bucket, requests, successes, failures,
           latency_ms_total, tokens_in, tokens_out)
         SELECT provider, ts / 60000, count(*), sum(status < 400), sum(status >= 400),
           total(latency_ms), sum(prompt_tokens), sum(completion_tokens)
         FROM request_logs GROUP BY provider, ts / 60000;
     INSERT INTO model_stats (model, bucket, requests, errors, latency_ms_total, tokens_in,
           tokens_out)
         SELECT model, ts / 60000, count(*), sum(status >= 400), total(latency_ms),
           sum(prompt_tokens), sum(completion_tokens)
         FROM request_logs WHERE model IS NOT NULL GROUP BY model, ts / 60000;";

#[tokio::test]
async fn logs_page_newest_first_with_filters_and_cursors() {
    let h = H::new();
    seed_logs(&h.db(), 250);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/logs?limit=100&cursor={c}"),
            None => "/logs?limit=100".to_string(),
        };
        let page = h.ok("GET", &path, None).await;
        let rows = page["data"].as_array().unwrap();
        seen.extend(rows.iter().map(|r| r["ts_ms"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");
    assert_eq!(seen[0], T0 + 249_000);

    let f = h
        .ok(
            "GET",
            &format!(
                "/logs?model=claude&provider=an&from={}&to={}",
                T0,
                T0 + 100_000
            ),
            None,
        )
        .await;
    let rows = f["data"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["model"] == "claude"
        && r["provider"] == "an"
        && r["ts_ms"].as_i64().unwrap() < T0 + 100_000));
    let errs = h.ok("GET", "/logs?errors=true&limit=1000", None).await;
    assert_eq!(errs["data"].as_array().unwrap().len(), 25);
    let st = h
        .ok("GET", "/logs?status=502&key=app&limit=1000", None)
        .await;
    assert!(st["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == 502 && r["key_name"] == "app"));

    for (q, param) in [
        ("cursor=garbage", "cursor"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("status=abc", "status"),
        ("from=yesterday", "from"),
    ] {
        let r = h.call("GET", &format!("/logs?{q}"), None).await;
        assert_eq!((r.status, err_param(&r)), (400, Some(param)), "{q}");
    }
}

#[tokio::test]
async fn stats_per_provider_and_model_with_percentiles_and_series() {
    let h = H::new();
    seed_logs(&h.db(), 600); // 10 minutes
    let s = h
        .ok(
            "GET",
            &format!("/stats?from={T0}&to={}", T0 + 600_000),
            None,
        )
        .await;
    let oa = s["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "oa")
        .unwrap();
    assert_eq!(oa["requests"], 300);
    assert_eq!(oa["errors"], 60); // i % 10 == 0 rows are all even
    assert!((oa["error_rate"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    assert_eq!(oa["tokens_in"], 2100);
    assert!(oa["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(oa["p95_ms"].as_f64().unwrap() >= oa["p50_ms"].as_f64().unwrap());
    assert_eq!(oa["latency_sample"], 300);
    let claude = s["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "claude")
        .unwrap();
    assert_eq!(claude["requests"], 200);
    assert_eq!(claude["tokens_out"], 600);
    // latency = 10 + i % 100 over i = 1, 4, 7, ...: p95 close to 107.
    let p95 = claude["p95_ms"].as_f64().unwrap();
    assert!((100.0..=109.0).contains(&p95), "{p95}");

    let series = h
        .ok(
            "GET",
            &format!("/stats/series?from={T0}&to={}&step=1", T0 + 600_000),
            None,
        )
        .await;
    let pts = series["data"].as_array().unwrap();
    assert_eq!(pts.len(), 10);
    assert!(pts.iter().all(|p| p["requests"] == 60 && p["errors"] == 6));
    assert_eq!(pts[0]["ts_ms"], T0);
    // Empty minutes are present as zeros.
    let later = h
        .ok(
            "GET",
            &format!(
                "/stats/series?from={}&to={}&step=5",
                T0 + 300_000,
                T0 + 1_200_000
            ),
            None,
        )
        .await;
    let pts = later["data"].as_array().unwrap();
    assert_eq!(pts.len(), 3);
    assert_eq!(pts[2]["requests"], 0);
    let bad = h
        .call("GET", &format!("/stats?from={}&to={T0}", T0 + 1), None)
        .await;
    assert_eq!((bad.status, err_param(&bad)), (400, Some("from")));
    let bad = h.call("GET", "/stats/series?step=0", None).await;
    assert_eq!((bad.status, err_param(&bad)), (400, Some("step")));
}

/// Every log filter the API offers, and the per-model stats, walk an index
/// (no full scan, no sort), and a deep page is a keyset page, over `n`
/// seeded rows.
async fn assert_log_queries_walk_indexes(h: &H, n: i64) {
    let (store, _) = llmo::db::Store::open(h.db()).unwrap();
    use llmo::db::logs::{LogCursor, LogFilter};
    let (mid_ts, mid_id) = (T0 + n / 2 * 1000, n / 2);
    let cursor = Some(LogCursor {
        ts_ms: mid_ts,
        id: mid_id,
    });
    let filters = [
        LogFilter::default(),
        LogFilter {
            model: Some("claude".into()),
            since_ms: Some(T0),
            until_ms: Some(T0 + 3_600_000),
            ..Default::default()
        },
        LogFilter {
            provider: Some("oa".into()),
            ..Default::default()
        },
        LogFilter {
            status: Some(502),
            ..Default::default()
        },
        LogFilter {
            key_name: Some("app".into()),
            errors_only: true,
            ..Default::default()
        },
    ];
    for f in &filters {
        for c in [None, cursor] {
            let plan = store.explain_query_logs(f, c).unwrap().join(" | ");
            eprintln!("{f:?} {c:?}: {plan}");
            assert!(
                plan.contains("USING INDEX") || plan.contains("USING INTEGER PRIMARY KEY"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "sorts: {plan}");
        }
    }
    let plan = store.explain_stats_by_model().unwrap().join(" | ");
    assert!(plan.contains("model_stats"), "{plan}");
    assert!(
        !plan.contains("request_logs"),
        "per-model stats never read the logs: {plan}"
    );
    let page = h
        .ok(
            "GET",
            &format!("/logs?model=claude&limit=100&cursor={mid_ts}-{mid_id}"),
            None,
        )
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    assert!(
        page["data"][0]["ts_ms"].as_i64().unwrap() < mid_ts,
        "{}",
        page["data"][0]
    );
}

#[tokio::test]
async fn log_queries_walk_indexes() {
    let h = H::new();
    seed(&h.db(), 10_000, true);
    assert_log_queries_walk_indexes(&h, 10_000).await;
}

/// The same at one million rows (made in one statement), with timings.
#[tokio::test]
#[ignore = "benchmark: LLMO_TEST_BENCH=1 bash tests/run.sh runs it optimised"]
async fn a_million_rows_are_paged_through_indexes() {
    let h = H::new();
    let t = std::time::Instant::now();
    seed(&h.db(), 1_000_000, true);
    eprintln!("seeded 1M rows in {:?}", t.elapsed());
    assert_log_queries_walk_indexes(&h, 1_000_000).await;
    // A deep page answers as fast as the first (keyset, not OFFSET).
    let t = std::time::Instant::now();
    h.ok(
        "GET",
        &format!(
            "/logs?model=claude&limit=100&cursor={}-{}",
            T0 + 500_000_000,
            500_000
        ),
        None,
    )
    .await;
    let took = t.elapsed();
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    eprintln!("deep filtered page of 100: {took:?}");
    let t = std::time::Instant::now();
    h.ok("GET", "/logs?limit=100", None).await;
    eprintln!("first page of 100: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let s = h
        .ok(
            "GET",
            &format!("/stats?from={T0}&to={}", T0 + 3_600_000),
            None,
        )
        .await;
    eprintln!("stats over one hour (3600 rows): {:?}", t.elapsed());
    assert_eq!(s["models"].as_array().unwrap().len(), 3);
    let t = std::time::Instant::now();
    h.ok(
        "GET",
        &format!("/stats?from={T0}&to={}", T0 + 86_400_000),
        None,
    )
    .await;
    eprintln!("stats over one day (86400 rows): {:?}", t.elapsed());
}

// --------------------------------------------------------------- health

#[tokio::test]
async fn health_has_live_state_and_history() {
    let h = H::new();
    let (store, _) = llmo::db::Store::open(h.db()).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(h.db()).unwrap();
    conn.execute_batch(
        "INSERT INTO provider_health (provider, state, consecutive_failures, last_error, changed_at)
         VALUES ('oa', 'open', 5, 'HTTP 503', 1000), ('oa', 'half_open', 5, NULL, 2000),
                ('an', 'closed', 0, NULL, 1500);",
    )
    .unwrap();
    let v = h.ok("GET", "/health", None).await;
    assert_eq!(v["providers"][0]["state"], "open");
    assert_eq!(v["history"][0]["state"], "half_open");
    assert_eq!(v["history"].as_array().unwrap().len(), 3);
    assert_eq!(v["latest"].as_array().unwrap().len(), 2);
    let one = h.ok("GET", "/health?provider=an", None).await;
    assert_eq!(one["history"].as_array().unwrap().len(), 1);
}

// -------------------------------------------------- limits and routing

#[tokio::test]
async fn oversized_bodies_get_413_unknown_paths_404_wrong_methods_405() {
    let h = H::new();
    let big = Bytes::from(vec![b' '; llmo::admin::MAX_BODY + 1]);
    let r = h
        .raw(
            "POST",
            "/providers",
            big,
            Some(&format!("Bearer {KEY}")),
            "127.0.0.1",
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["error"]["code"], "body_too_large");
    let r = h.call("GET", "/nope", None).await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("openapi.json"));
    let r = h.call("PUT", "/providers", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.raw.header("allow"), Some("GET, POST"));
}

#[tokio::test]
async fn openapi_document_and_router_agree() {
    let h = H::new();
    let doc = h.ok("GET", "/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut routed = std::collections::BTreeSet::new();
    for (method, path, _) in ROUTES {
        let m = method.as_str().to_ascii_lowercase();
        let full = format!("/admin{path}");
        routed.insert((m.clone(), full.clone()));
        assert!(
            paths.get(&full).and_then(|p| p.get(&m)).is_some(),
            "{m} {full} is routed but not in openapi.json"
        );
    }
    for (path, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            assert!(
                routed.contains(&(m.clone(), path.clone())),
                "{m} {path} is documented but not routed"
            );
        }
    }
    // Every documented $ref resolves.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for r in text.split("#/components/schemas/").skip(1) {
        let name: String = r
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(schemas.contains_key(&name), "dangling $ref {name}");
    }
    // And every route answers something other than 404-for-unknown-path.
    for (method, path, _) in ROUTES {
        let concrete = path
            .replace("{name}", "nothing-here")
            .replace("{provider}", "nothing-here");
        let r = h.call(method.as_str(), &concrete, None).await;
        assert_ne!(
            r.body["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
        if r.status == 404 {
            assert_eq!(r.body["error"]["code"], "not_found", "{method} {path}");
            assert!(!r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no admin API endpoint"));
        }
    }
}

// ------------------------------------------------------------------- UI

#[test]
fn ui_files_are_served_with_types_etags_and_no_inline_code() {
    let h = H::new();
    let index = h.admin.handle_ui("/", None);
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let etag = index.header("etag").unwrap().to_string();
    let again = h.admin.handle_ui("/index.html", Some(&etag));
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(
        h.admin.handle_ui("app.js", None).header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        h.admin.handle_ui("style.css", None).header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(h.admin.handle_ui("../Cargo.toml", None).status, 404);
    assert_eq!(h.admin.handle_ui("nope.js", None).status, 404);
    for (path, _, body) in llmo::admin::assets::FILES {
        let r = h.admin.handle_ui(path, None);
        assert_eq!(r.status, 200, "{path}");
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let text = String::from_utf8_lossy(body);
        if path.ends_with(".html") {
            // The CSP forbids inline code: it must not be needed.
            for bad in [
                "<script>",
                " style=",
                " onclick=",
                " onload=",
                "javascript:",
                "http://",
                "https://",
            ] {
                assert!(!text.contains(bad), "{path} contains {bad}");
            }
        }
        if path.ends_with(".js") {
            assert!(!text.contains("innerHTML"), "{path} uses innerHTML");
            assert!(!text.contains("localStorage."), "{path} uses localStorage");
            assert!(!text.contains("document.cookie"), "{path} uses cookies");
        }
    }
}

/// A gateway (`llmo serve` in-process) with the admin key set.
async fn gateway_with_admin(key: Option<&str>) -> crate::common::gw::Gw {
    let dir = tempfile::tempdir().unwrap();
    let key = key.map(Secret::new);
    crate::common::gw::Gw::start(dir, move |o| {
        o.settings.allow_anonymous.value = false;
        o.settings.admin_key.value = key;
    })
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Mounted in `llmo serve`: both prefixes route to the admin module, the
/// body limit holds for a streamed body, and the OpenAI API is untouched.
#[tokio::test]
async fn mounted_in_the_gateway() {
    let mut gw = gateway_with_admin(Some(KEY)).await;
    let base = gw.url.clone();
    let c = no_redirects();
    let r = c.get(format!("{base}/admin-ui")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/admin-ui/");
    let r = c
        .get(format!("{base}/admin-ui/login.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().contains_key("x-request-id"));
    assert!(r.text().await.unwrap().contains("Admin key"));
    let r = c
        .get(format!("{base}/admin/providers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{base}/admin/providers"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(json!({"name": "p", "kind": "openai"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(format!("{base}/admin/providers"))
        .bearer_auth(KEY)
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // The live circuit states come from the gateway (as in /ready).
    let h: Value = c
        .get(format!("{base}/admin/health"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(h["providers"][0]["name"], "p", "{h}");
    assert_eq!(h["providers"][0]["state"], "closed");
    // The OpenAI surface still answers with its own errors.
    assert_eq!(gw.get("/v1/models").await.status(), 401);
    gw.stop().await.unwrap();

    // Without an admin key: 503 on both prefixes, with the way to set one.
    let mut off = gateway_with_admin(None).await;
    let r = c
        .get(format!("{}/admin/providers", off.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("admin-key generate"));
    let r = c
        .get(format!("{}/admin-ui/", off.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    off.stop().await.unwrap();
}

/// Changes made through the admin API change routing on the running
/// gateway at once (the API asks for a reload; no waiting for the poll).
#[tokio::test]
async fn admin_changes_reroute_the_running_gateway() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let mut gw = gateway_with_admin(Some(KEY)).await;
    let c = reqwest::Client::new();
    let admin = |m: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = c
            .request(m, format!("{}/admin{path}", gw.url))
            .bearer_auth(KEY);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        r.send()
    };
    for (name, mock) in [("a", &a), ("b", &b)] {
        let r = admin(
            reqwest::Method::POST,
            "/providers",
            Some(json!({"name": name, "kind": "openai-compatible", "base_url": mock.url(), "api_key": "sk-up-0123456789abcdef", "max_retries": 0})),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
    }
    // `chat` goes to `a` first (tier 0), `b` is the fallback tier.
    let r = admin(
        reqwest::Method::POST,
        "/models",
        Some(json!({"name": "chat", "providers": [{"provider": "a", "upstream_model": "up-a", "priority": 0}, {"provider": "b", "upstream_model": "up-b", "priority": 1}]})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let key: Value = admin(reqwest::Method::POST, "/keys", Some(json!({"name": "app"})))
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    gw.key = Some(key["key"].as_str().unwrap().to_string());
    let body = json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]});

    // Each change is visible to the very next request.
    let r = gw.chat(&body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(a.last_request().json()["model"], "up-a");
    let r = admin(reqwest::Method::POST, "/providers/a/disable", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let before = b.calls();
    let r = gw.chat(&body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(b.calls(), before + 1, "disabled provider `a` still used");
    assert_eq!(b.last_request().json()["model"], "up-b");
    let r = admin(
        reqwest::Method::PATCH,
        "/models/chat/mappings/b",
        Some(json!({"upstream_model": "up-b2"})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    gw.chat(&body).await;
    assert_eq!(b.last_request().json()["model"], "up-b2");
    let r = admin(reqwest::Method::POST, "/keys/app/revoke", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gw.chat(&body).await.status(), 401);

    // The requests show in the logs endpoint once the recorder wrote them.
    let rows_of = |query: &'static str| async move {
        let page: Value = admin(reqwest::Method::GET, &format!("/logs?{query}"), None)
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        page["data"].as_array().unwrap().clone()
    };
    eventually(PATIENCE, "every request's row in /logs", || async {
        rows_of("model=chat").await.len() >= 3 && !rows_of("status=401").await.is_empty()
    })
    .await;
    let rows = rows_of("model=chat").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let routed: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["provider"].as_str().unwrap(),
                r["upstream_model"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(routed, [("b", "up-b2"), ("b", "up-b"), ("a", "up-a")]);
    let refused = rows_of("status=401").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    gw.stop().await.unwrap();
}

// ------------------------------------------------------ CLI and config

#[test]
fn admin_key_generate_prints_or_writes_a_private_file() {
    let env = TestEnv::new();
    let out = env.ok(&["admin-key", "generate"]);
    let key = out.trim();
    assert!(key.starts_with("llmo-admin-") && key.len() == 54, "{key}");
    assert_ne!(env.ok(&["admin-key", "generate"]).trim(), key);

    let file = env.dir.path().join("admin.key");
    let stdout = env.ok(&["admin-key", "generate", "--out", file.to_str().unwrap()]);
    assert_eq!(stdout, "", "the key must not be printed with --out");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.trim().starts_with("llmo-admin-"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = env
        .cmd()
        .args(["admin-key", "generate", "--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    env.ok(&[
        "admin-key",
        "generate",
        "--out",
        file.to_str().unwrap(),
        "--force",
    ]);
    assert_ne!(std::fs::read_to_string(&file).unwrap(), written);

    // The file works as --admin-key-file; doctor shows it masked.
    let doc = env.ok(&["doctor", "--admin-key-file", file.to_str().unwrap()]);
    let line = doc.lines().find(|l| l.contains("admin_key")).unwrap();
    assert!(line.contains("(flag)") || line.contains("flag"), "{line}");
    let full = std::fs::read_to_string(&file).unwrap();
    assert!(!doc.contains(full.trim()), "admin key printed in full");
}

#[test]
fn bad_admin_keys_are_refused_without_echoing_them() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .env("LLMO_ADMIN_KEY", "shortSECRET")
        .args(["provider", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LLMO_ADMIN_KEY") && err.contains("too short"),
        "{err}"
    );
    assert!(!err.contains("shortSECRET"), "{err}");

    let missing = env.dir.path().join("none.key");
    let out = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-key-file"])
        .arg(&missing)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot be read") && err.contains("admin-key generate"),
        "{err}"
    );

    std::fs::write(
        env.config_path(),
        "admin_key = \"llmo-admin-aaaaaaaaaaaaaaaaaaaa\"\nadmin_key_file = \"x\"\n",
    )
    .unwrap();
    let out = env.cmd().args(["provider", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not both"));
}

#[test]
fn admin_key_sources_follow_flag_env_file_order() {
    use llmo::config::{Overrides, Settings, Source};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("llmo.toml");
    std::fs::write(
        dir.path().join("from-file.key"),
        "llmo-admin-FILEFILEFILEFILE1\n",
    )
    .unwrap();
    std::fs::write(&cfg, "admin_key_file = \"from-file.key\"\n").unwrap();
    std::fs::write(dir.path().join("flag.key"), "llmo-admin-FLAGFLAGFLAGFLAG1").unwrap();
    let mut env = std::collections::BTreeMap::new();
    let mut flags = Overrides {
        config: Some(cfg.clone()),
        db: Some(dir.path().join("x.db")),
        ..Default::default()
    };
    let s = Settings::resolve_with(&flags, &env).unwrap();
    assert_eq!(s.admin_key.source, Source::File);
    assert_eq!(
        s.admin_key.value.unwrap().expose(),
        "llmo-admin-FILEFILEFILEFILE1"
    );
    env.insert(
        "LLMO_ADMIN_KEY".to_string(),
        "llmo-admin-ENVENVENVENVENV1".to_string(),
    );
    let s = Settings::resolve_with(&flags, &env).unwrap();
    assert_eq!(s.admin_key.source, Source::Env);
    flags.admin_key_file = Some(dir.path().join("flag.key"));
    let s = Settings::resolve_with(&flags, &env).unwrap();
    assert_eq!(s.admin_key.source, Source::Flag);
    assert_eq!(
        s.admin_key.value.unwrap().expose(),
        "llmo-admin-FLAGFLAGFLAGFLAG1"
    );
    // None anywhere: off, never a default key.
    std::fs::write(&cfg, "").unwrap();
    let s = Settings::resolve_with(
        &Overrides {
            config: Some(cfg),
            db: Some(dir.path().join("x.db")),
            ..Default::default()
        },
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(s.admin_key.value, None);
    assert_eq!(s.admin_key.source, Source::Default);
}

#[test]
fn doctor_warns_when_no_admin_key_is_set() {
    let env = TestEnv::new();
    let out = env.cmd().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("admin_key"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.trim_start().starts_with("warn"), "{line}");
    assert!(text.contains("llmo admin-key generate"), "{text}");
}

#[tokio::test]
async fn an_unusable_database_is_a_503_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("llmo.db");
    std::fs::write(&db, b"this is not an SQLite database, just text").unwrap();
    let admin = Admin::new(db, Some(Secret::new(KEY)), Arc::new(Live::default()));
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {KEY}").parse().unwrap(),
    );
    let r = admin
        .handle_api(AdminRequest {
            method: http::Method::GET,
            path: "/providers".into(),
            query: None,
            headers,
            body: Bytes::new(),
            peer: "127.0.0.1".parse().unwrap(),
        })
        .await;
    assert_eq!(r.status, 503);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "database_unavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an SQLite database"),
        "{v}"
    );
}

/// `chattr -i` on drop, so the temporary directory can be removed.
struct Immutable(PathBuf);

impl Immutable {
    /// `chattr +i PATH`: not even root may open it for writing. `None` where
    /// the filesystem or the capabilities do not allow it.
    fn set(path: &std::path::Path) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// A database that cannot be written (the file is immutable: a read-only
/// file even for root) answers writes with 503 and the sentence, not a bare
/// 500; reads still work.
#[tokio::test]
async fn a_read_only_database_gets_503_with_the_sentence() {
    let h = H::new();
    drop(llmo::db::Store::open(h.db()).unwrap());
    let Some(_guard) = Immutable::set(&h.db()) else {
        eprintln!("skipped: `chattr +i` is not permitted here");
        return;
    };
    assert_eq!(h.call("GET", "/providers", None).await.status, 200);
    let r = h
        .call(
            "POST",
            "/providers",
            Some(json!({"name": "p", "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"})),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "database_read_only", "{}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("the database is read-only; "), "{msg}");
}
