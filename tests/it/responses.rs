//! OpenAI's Responses API on llmo (`/v1/responses`): passthrough to an
//! `openai` provider, translation for the other kinds (plain and stream),
//! the stored state (`store`, `previous_response_id`, GET and DELETE) and
//! its ownership, against mock upstreams.
use serde_json::{json, Value};

use crate::common::gw::{error_of, named_events, store, vendor_store, Gw, JsonValue};
use crate::common::mock_upstream::{MockUpstream, Reply};

const ANTHROPIC_JSON: &str = include_str!("../fixtures/anthropic/messages_response.json");
const TOOL_SSE: &str = include_str!("../fixtures/openai/chat_completion_tool_call_stream.sse");
const RESPONSE_JSON: &str = include_str!("../fixtures/openai/responses_response_docs.json");
const RESPONSE_SSE: &str = include_str!("../fixtures/openai/responses_stream_docs.sse");
const CODEX: &str = include_str!("../fixtures/openai/codex_responses_request_recorded.json");

/// A gateway with model `m` on one mock provider of `kind`; anonymous
/// access off when `keys` names keys to create (their secrets returned).
async fn gateway(kind: &str, keys: &[&str]) -> (MockUpstream, Gw, Vec<String>) {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = vendor_store(dir.path(), &mock, kind, "p");
    let secrets: Vec<String> = keys
        .iter()
        .map(|k| s.create_key(k, None, None).unwrap().1.expose().to_string())
        .collect();
    let anonymous = keys.is_empty();
    let gw = Gw::start(dir, |o| o.settings.allow_anonymous.value = anonymous).await;
    (mock, gw, secrets)
}

async fn create(gw: &Gw, body: &Value) -> reqwest::Response {
    gw.post("/v1/responses", body).send().await.unwrap()
}

async fn delete(gw: &Gw, id: &str) -> reqwest::Response {
    let mut b = gw.http.delete(format!("{}/v1/responses/{id}", gw.url));
    if let Some(k) = &gw.key {
        b = b.bearer_auth(k);
    }
    b.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_answer_is_a_response_object_kept_for_get_and_delete() {
    let (mock, mut gw, _) = gateway("openai-compatible", &[]).await;
    let res = create(
        &gw,
        &json!({"model": "m", "input": "hi", "instructions": "be brief"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("resp_") && id.len() == 37, "{id}");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "m");
    assert_eq!(v["instructions"], "be brief");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{v}");
    let up = mock.last_request();
    assert_eq!(up.path, "/v1/chat/completions");
    let sent = up.json();
    assert_eq!(sent["model"], "up-model");
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    );

    // Kept: GET answers the same object at once (before any write landed).
    let got = gw.get(&format!("/v1/responses/{id}")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.json_value().await, v);
    let del = delete(&gw, &id).await;
    assert_eq!(del.status(), 200);
    assert_eq!(
        del.json_value().await,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (st, e) = error_of(gw.get(&format!("/v1/responses/{id}")).await).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("response_not_found"))
    );
    let (st, _) = error_of(delete(&gw, &id).await).await;
    assert_eq!(st, 404);
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 5);
    assert!(
        logs.iter().all(|l| l.api.as_deref() == Some("responses")),
        "{logs:?}"
    );
    assert_eq!(logs[0].path.as_deref(), Some("/v1/responses"));
    assert!(logs[0].prompt_tokens.is_some());
    let s = store(gw.dir.path());
    assert_eq!(
        s.count_responses().unwrap(),
        0,
        "the delete reached the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_stream_has_the_responses_events_with_tool_arguments_and_usage() {
    let (mock, mut gw, _) = gateway("openai-compatible", &[]).await;
    mock.set_default(Reply::sse(TOOL_SSE));
    let body = json!({"model": "m", "input": "weather?", "stream": true,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]});
    let res = create(&gw, &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = res.text().await.unwrap();
    let evs = named_events(&text);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..2],
        ["response.created", "response.in_progress"],
        "{text}"
    );
    assert!(names.contains(&"response.output_item.added"), "{names:?}");
    let args: String = evs
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(args, r#"{"city":"New York City"}"#);
    assert!(names.contains(&"response.function_call_arguments.done"));
    assert_eq!(*names.last().unwrap(), "response.completed");
    let seq: Vec<u64> = evs
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert!(seq.windows(2).all(|w| w[0] < w[1]), "{seq:?}");
    let done = &evs.last().unwrap().1["response"];
    assert_eq!(done["usage"]["input_tokens"], 44);
    assert_eq!(done["usage"]["output_tokens"], 16);
    assert_eq!(done["output"][0]["type"], "function_call");
    let id = done["id"].as_str().unwrap().to_string();
    assert_eq!(mock.last_request().json()["stream"], true);
    // The streamed response is kept too.
    let got = gw.get(&format!("/v1/responses/{id}")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.json_value().await["output"], done["output"]);
    let logs = gw.stop_and_logs().await;
    assert_eq!(
        (logs[0].prompt_tokens, logs[0].completion_tokens),
        (Some(44), Some(16))
    );
    assert!(logs[0].stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_provider_answers_a_translated_response() {
    let (mock, gw, _) = gateway("anthropic", &[]).await;
    mock.set_default(Reply::ok(ANTHROPIC_JSON));
    let res = create(
        &gw,
        &json!({"model": "m", "input": "hi", "max_output_tokens": 100}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["object"], "response");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(
        v["output"].as_array().unwrap().last().unwrap()["type"],
        "message"
    );
    let up = mock.last_request();
    assert_eq!(up.path, "/v1/messages");
    assert_eq!(up.json()["max_tokens"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_response_id_expands_the_whole_conversation_for_a_translated_provider() {
    let (mock, gw, _) = gateway("openai-compatible", &[]).await;
    let first = create(&gw, &json!({"model": "m", "input": "hi"}))
        .await
        .json_value()
        .await;
    let answer = first["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let res = create(
        &gw,
        &json!({"model": "m", "input": "and then?", "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let second = res.json_value().await;
    assert_eq!(second["previous_response_id"], first["id"]);
    assert_ne!(second["id"], first["id"]);
    let msgs = mock.last_request().json()["messages"].clone();
    assert_eq!(msgs[0], json!({"role": "user", "content": "hi"}));
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["content"], answer);
    assert_eq!(msgs[2], json!({"role": "user", "content": "and then?"}));
    assert_eq!(msgs.as_array().unwrap().len(), 3);
    // A third turn on the second carries all of it.
    create(
        &gw,
        &json!({"model": "m", "input": "more", "previous_response_id": second["id"]}),
    )
    .await;
    assert_eq!(
        mock.last_request().json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_other_keys_ids_are_404_never_a_fresh_conversation() {
    let (mock, mut gw, keys) = gateway("openai-compatible", &["a", "b"]).await;
    gw.key = Some(keys[0].clone());
    let v = create(&gw, &json!({"model": "m", "input": "secret"}))
        .await
        .json_value()
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(gw.get(&format!("/v1/responses/{id}")).await.status(), 200);
    let calls = mock.calls();
    gw.key = Some(keys[1].clone());
    let (st, e) = error_of(gw.get(&format!("/v1/responses/{id}")).await).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("response_not_found"))
    );
    let (st, _) = error_of(delete(&gw, &id).await).await;
    assert_eq!(st, 404);
    for prev in [id.as_str(), "resp_00000000000000000000000000000000"] {
        let res = create(
            &gw,
            &json!({"model": "m", "input": "x", "previous_response_id": prev}),
        )
        .await;
        let (st, e) = error_of(res).await;
        assert_eq!(st, 404);
        assert_eq!(e["error"]["code"], "response_not_found");
        assert_eq!(e["error"]["param"], "previous_response_id");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(prev),
            "{e}"
        );
    }
    assert_eq!(mock.calls(), calls, "nothing went upstream");
    // Its owner still has it.
    gw.key = Some(keys[0].clone());
    assert_eq!(gw.get(&format!("/v1/responses/{id}")).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_false_is_not_kept_and_store_true_reaches_the_database() {
    let (_mock, mut gw, _) = gateway("openai-compatible", &[]).await;
    let v = create(&gw, &json!({"model": "m", "input": "hi", "store": false}))
        .await
        .json_value()
        .await;
    assert_eq!(v["store"], false);
    let gone = v["id"].as_str().unwrap().to_string();
    let (st, _) = error_of(gw.get(&format!("/v1/responses/{gone}")).await).await;
    assert_eq!(st, 404);
    let kept = create(&gw, &json!({"model": "m", "input": "hi"}))
        .await
        .json_value()
        .await;
    gw.stop().await.unwrap();
    let s = store(gw.dir.path());
    assert_eq!(s.count_responses().unwrap(), 1);
    let row = s
        .get_response(kept["id"].as_str().unwrap(), "")
        .unwrap()
        .unwrap();
    let items: Value = serde_json::from_slice(&row.items).unwrap();
    assert_eq!(items[0]["role"], "user");
    assert_eq!(items[1]["type"], "message");
    assert_eq!(items[1]["role"], "assistant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_provider_gets_a_byte_equal_passthrough_plain_and_stream() {
    let (mock, mut gw, _) = gateway("openai", &[]).await;
    mock.set_default(Reply::ok(RESPONSE_JSON));
    let body = br#"{"model":"m","input":"hi","tools":[{"type":"web_search"}],"store":true}"#;
    let res = gw
        .post_raw("/v1/responses", body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), RESPONSE_JSON);
    let up = mock.last_request();
    assert_eq!(up.path, "/v1/responses");
    assert_eq!(
        up.json(),
        json!({"model":"up-model","input":"hi","tools":[{"type":"web_search"}],"store":true})
    );
    mock.set_default(Reply::sse(RESPONSE_SSE));
    let res = gw
        .post_raw(
            "/v1/responses",
            br#"{"model":"m","input":"hi","stream":true}"#.to_vec(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), RESPONSE_SSE);
    // An id llmo did not store goes to OpenAI as is (OpenAI may know it).
    mock.set_default(Reply::ok(RESPONSE_JSON));
    let res = create(
        &gw,
        &json!({"model": "m", "input": "x", "previous_response_id": "resp_openai_1"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        mock.last_request().json()["previous_response_id"],
        "resp_openai_1"
    );
    let logs = gw.stop_and_logs().await;
    assert!(logs.iter().all(|l| l.api.as_deref() == Some("responses")));
    assert!(logs[1].stream);
    assert!(
        logs[1].prompt_tokens.is_some(),
        "usage from response.completed"
    );
}

/// Codex's second turn (reasoning, function_call and function_call_output
/// items, `store: false`) through a translated provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codex_shaped_turn_works_through_a_translated_provider() {
    let (mock, gw, _) = gateway("openai-compatible", &[]).await;
    mock.set_default(Reply::sse(TOOL_SSE));
    let mut body: Value = serde_json::from_str::<Value>(CODEX).unwrap()["body"].clone();
    body["model"] = json!("m");
    // Codex's default tools, `web_search` included: a translated provider
    // drops it (search runs at OpenAI) instead of refusing the turn.
    assert!(body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "web_search"));
    let input = body["input"].as_array_mut().unwrap();
    input.push(json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "look"}], "encrypted_content": null}));
    input.push(json!({"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}));
    input.push(json!({"type": "function_call_output", "call_id": "call_1", "output": "README.md"}));
    let res = create(&gw, &body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let evs = named_events(&text);
    assert_eq!(evs.last().unwrap().0, "response.completed", "{text}");
    assert_eq!(evs.last().unwrap().1["response"]["store"], false);
    let sent = mock.last_request().json();
    let msgs = sent["messages"].as_array().unwrap();
    let call = msgs.iter().find(|m| m["tool_calls"].is_array()).unwrap();
    assert_eq!(call["tool_calls"][0]["id"], "call_1");
    let out = msgs.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(out["tool_call_id"], "call_1");
    assert_eq!(out["content"], "README.md");
    let tools = sent["tools"].as_array().unwrap();
    assert!(!tools.is_empty());
    assert!(tools.iter().all(|t| t["type"] == "function"), "{tools:?}");
    // Not kept (`store: false`).
    let id = evs.last().unwrap().1["response"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(gw.get(&format!("/v1/responses/{id}")).await.status(), 404);
}

/// A 400 of the chat translators names the Responses field the client sent
/// (`input`), not the Chat field llmo wrote (`messages[0]...`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_translator_400_names_the_responses_field() {
    let (mock, gw, _) = gateway("gemini", &[]).await;
    // Gemini cannot fetch an arbitrary https image URL.
    let body = json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": "https://example.com/cat.png"}
    ]}]});
    let res = create(&gw, &body).await;
    assert_eq!(res.status(), 400);
    let err: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(err["error"]["param"], "input", "{err}");
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
    assert!(mock.requests().is_empty(), "nothing went upstream");
}
