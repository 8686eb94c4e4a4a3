//! Test helpers of the Responses translation: a fixed [`ResponseMeta`], and
//! a checker that reads a Responses event stream the way the openai SDKs'
//! stream accumulator does (and fails on anything it would trip over).
use serde_json::Value;

use super::{ResponseMeta, ResponsesEncoder};

pub(crate) const ID: &str = "resp_0123456789abcdef0123456789abcdef";

pub(crate) fn meta(request: &[u8]) -> ResponseMeta<'_> {
    ResponseMeta {
        id: ID,
        model: "gpt-x",
        created_at: 1_741_476_542,
        request,
    }
}

/// Feeds `pieces` to a new encoder, then ends the stream.
pub(crate) fn encode(request: &[u8], pieces: &[&[u8]]) -> Vec<u8> {
    let mut e = ResponsesEncoder::new(&meta(request));
    let mut out = Vec::new();
    for p in pieces {
        out.extend(e.feed(p));
    }
    out.extend(e.finish());
    assert!(e.is_done());
    let last = checked(&out).terminal;
    let stored: Value = serde_json::from_slice(e.response().unwrap()).unwrap();
    assert_eq!(
        stored, last["response"],
        "response() is the terminal event's object"
    );
    out
}

/// What a client accumulates from a Responses stream.
#[derive(Debug)]
pub(crate) struct Checked {
    pub events: Vec<Value>,
    /// The accumulated output items (from the added events and deltas).
    pub output: Vec<Value>,
    /// The `response.completed` / `incomplete` / `failed` event.
    pub terminal: Value,
    /// The `error` event after a failure.
    pub error: Option<Value>,
}

/// Parses and checks a Responses event stream:
/// * framing `event: TYPE\ndata: {json}\n\n` with `data.type == TYPE`;
/// * `sequence_number` counts up from 0 without gaps;
/// * `response.created`, then `response.in_progress` first;
/// * `output_item.added` appends at `output_index == number of items`;
///   every later event's `output_index` / `item_id` names an added item of
///   the right type, `content_index` / `summary_index` an added part;
/// * every item gets its `output_item.done` (and the text / arguments of the
///   done events equal the accumulated deltas) before the terminal event,
///   unless the response failed;
/// * the terminal response's `output` equals the accumulated items;
/// * after the terminal event only an `error` event (after a failure).
pub(crate) fn checked(out: &[u8]) -> Checked {
    let text = std::str::from_utf8(out).unwrap();
    assert!(text.ends_with("\n\n"), "whole events only");
    let mut events = Vec::new();
    for frame in text.split_terminator("\n\n") {
        let (ev, data) = frame
            .strip_prefix("event: ")
            .and_then(|f| f.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("bad frame {frame:?}"));
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], ev, "event name and data.type agree");
        assert_eq!(
            v["sequence_number"].as_u64(),
            Some(events.len() as u64),
            "sequence numbers count up from 0: {frame}"
        );
        events.push(v);
    }
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[0]["response"]["status"], "in_progress");
    assert_eq!(events[0]["response"]["output"], serde_json::json!([]));
    assert_eq!(events[1]["type"], "response.in_progress");

    let mut output: Vec<Value> = Vec::new();
    let mut done: Vec<bool> = Vec::new();
    let mut terminal = None;
    let mut error = None;
    for v in &events[2..] {
        let ty = v["type"].as_str().unwrap();
        if let Some(t) = &terminal {
            let t: &Value = t;
            assert_eq!(
                ty, "error",
                "only an error event may follow the terminal event"
            );
            assert_eq!(t["type"], "response.failed");
            assert!(
                v["error"]["message"].is_string(),
                "the SDK raises on `error`"
            );
            assert_eq!(v["message"], v["error"]["message"]);
            error = Some(v.clone());
            continue;
        }
        if ty == "response.output_item.added" {
            assert_eq!(v["output_index"].as_u64(), Some(output.len() as u64));
            let item = &v["item"];
            assert!(item["id"].is_string());
            output.push(item.clone());
            done.push(false);
            continue;
        }
        if matches!(
            ty,
            "response.completed" | "response.incomplete" | "response.failed"
        ) {
            if ty != "response.failed" {
                assert!(done.iter().all(|d| *d), "every item done before {ty}");
            }
            terminal = Some(v.clone());
            continue;
        }
        let i = v["output_index"].as_u64().unwrap_or_else(|| panic!("{v}")) as usize;
        assert!(i < output.len(), "output_index of an added item: {v}");
        assert!(!done[i], "event for an item already done: {v}");
        let item = &mut output[i];
        if let Some(id) = v.get("item_id") {
            assert_eq!(id, &item["id"], "item_id of the item at output_index");
        }
        match ty {
            "response.content_part.added" => {
                assert_eq!(item["type"], "message");
                let parts = item["content"].as_array_mut().unwrap();
                assert_eq!(v["content_index"].as_u64(), Some(parts.len() as u64));
                parts.push(v["part"].clone());
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                assert_eq!(item["type"], "message");
                let j = v["content_index"].as_u64().unwrap() as usize;
                let key = if ty == "response.refusal.delta" {
                    "refusal"
                } else {
                    "text"
                };
                let part = &mut item["content"][j];
                let s = format!(
                    "{}{}",
                    part[key].as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                );
                part[key] = s.into();
            }
            "response.output_text.done" | "response.refusal.done" => {
                let j = v["content_index"].as_u64().unwrap() as usize;
                let key = if ty == "response.refusal.done" {
                    "refusal"
                } else {
                    "text"
                };
                assert_eq!(item["content"][j][key], v[key]);
            }
            "response.content_part.done" => {
                let j = v["content_index"].as_u64().unwrap() as usize;
                assert_eq!(item["content"][j], v["part"]);
            }
            "response.reasoning_summary_part.added" => {
                assert_eq!(item["type"], "reasoning");
                let parts = item["summary"].as_array_mut().unwrap();
                assert_eq!(v["summary_index"].as_u64(), Some(parts.len() as u64));
                parts.push(v["part"].clone());
            }
            "response.reasoning_summary_text.delta" => {
                let j = v["summary_index"].as_u64().unwrap() as usize;
                let part = &mut item["summary"][j];
                let s = format!(
                    "{}{}",
                    part["text"].as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                );
                part["text"] = s.into();
            }
            "response.reasoning_summary_text.done" => {
                let j = v["summary_index"].as_u64().unwrap() as usize;
                assert_eq!(item["summary"][j]["text"], v["text"]);
            }
            "response.reasoning_summary_part.done" => {
                let j = v["summary_index"].as_u64().unwrap() as usize;
                assert_eq!(item["summary"][j], v["part"]);
            }
            "response.function_call_arguments.delta" => {
                assert_eq!(item["type"], "function_call");
                let s = format!(
                    "{}{}",
                    item["arguments"].as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                );
                item["arguments"] = s.into();
            }
            "response.function_call_arguments.done" => {
                assert_eq!(item["arguments"], v["arguments"]);
            }
            "response.output_item.done" => {
                let final_item = &v["item"];
                let mut acc = item.clone();
                acc["status"] = final_item["status"].clone();
                assert_eq!(&acc, final_item, "the done item is what the deltas built");
                *item = final_item.clone();
                done[i] = true;
            }
            other => panic!("unexpected event {other}"),
        }
    }
    let terminal = terminal.expect("a terminal event");
    assert_eq!(terminal["response"]["output"], Value::Array(output.clone()));
    if terminal["type"] == "response.failed" {
        assert!(error.is_some(), "a failure ends with an `error` event");
    }
    Checked {
        events,
        output,
        terminal,
        error,
    }
}
