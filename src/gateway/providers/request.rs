//! The client's request as the adapters get it: parsing what routing needs
//! from a client's JSON body, and rewriting it for an upstream, without
//! building a `serde_json::Value` tree. Lives on the provider side (the
//! adapters read it); the server maps [`RequestError`] to its HTTP error.
//!
//! The body is read once as an ordered list of `(key, raw value)` pairs:
//! values are only scanned, not parsed (`RawValue`), so a 100 KiB prompt costs
//! one validating pass and one `memcpy` per attempt. Only `model`, `stream`
//! and `stream_options` are decoded. Rewriting keeps every other field's bytes
//! as the client sent them (insignificant whitespace between fields goes).
use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::translate::openai::Json;
use crate::translate::TranslateError;

/// A JSON object's top-level fields, in order, values unparsed.
pub(crate) struct RawObject<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawObject<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    let val: &'de RawValue = m.next_value()?;
                    v.push((k, val));
                }
                Ok(RawObject(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Which client API a body is for: decides the required fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Chat,
    Embeddings,
    /// Anthropic's Messages API (`/v1/messages`): `model` and a
    /// `messages` array, like chat.
    Messages,
    /// OpenAI's Responses API (`/v1/responses`): `model`, and `input` (a
    /// string or an array) when present.
    Responses,
}

/// A body the gateway cannot route: the client's mistake (a 400 naming
/// `param`, the offending field, when there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct RequestError {
    pub message: String,
    pub param: Option<&'static str>,
}

impl RequestError {
    fn new(message: impl Into<String>, param: Option<&'static str>) -> Self {
        RequestError {
            message: message.into(),
            param,
        }
    }
}

/// A parsed client request: what routing needs plus the raw fields.
pub(crate) struct ClientRequest<'a> {
    /// The body as received (translating adapters parse it whole).
    pub raw: &'a [u8],
    pub fields: RawObject<'a>,
    pub model: Cow<'a, str>,
    pub stream: bool,
    /// The client itself asked for `stream_options.include_usage`.
    pub client_wants_usage: bool,
}

impl<'a> ClientRequest<'a> {
    pub(crate) fn parse(body: &'a [u8], api: Api) -> Result<Self, RequestError> {
        let fields: RawObject<'a> = serde_json::from_slice(body).map_err(|e| {
            RequestError::new(
                format!(
                    "the request body is not valid JSON ({e}); send a JSON object with `model` and {}",
                    match api {
                        Api::Chat | Api::Messages => "`messages`",
                        Api::Embeddings | Api::Responses => "`input`",
                    }
                ),
                None,
            )
        })?;
        let get = |k: &str| fields.0.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let model: Cow<'a, str> = match get("model") {
            None => {
                return Err(RequestError::new(
                    "missing required field `model`",
                    Some("model"),
                ))
            }
            Some(raw) => match serde_json::from_str::<Cow<'a, str>>(raw.get()) {
                Ok(m) if !m.is_empty() => m,
                _ => {
                    return Err(RequestError::new(
                        "`model` must be a non-empty string",
                        Some("model"),
                    ))
                }
            },
        };
        let (required, what) = match api {
            Api::Chat | Api::Messages => ("messages", "an array of messages"),
            Api::Embeddings | Api::Responses => ("input", "a string or an array"),
        };
        match get(required) {
            // Optional in Responses (`previous_response_id` alone may do).
            None if api == Api::Responses => {}
            None => {
                return Err(RequestError::new(
                    format!("missing required field `{required}`"),
                    Some(required),
                ))
            }
            Some(raw) => {
                let t = raw.get().trim_start();
                let ok = match api {
                    Api::Chat | Api::Messages => t.starts_with('['),
                    Api::Embeddings | Api::Responses => t.starts_with('[') || t.starts_with('"'),
                };
                if !ok {
                    return Err(RequestError::new(
                        format!("`{required}` must be {what}"),
                        Some(required),
                    ));
                }
            }
        }
        let stream = match (api, get("stream")) {
            (Api::Chat | Api::Messages | Api::Responses, Some(raw)) => {
                match serde_json::from_str::<Option<bool>>(raw.get()) {
                    Ok(b) => b.unwrap_or(false),
                    Err(_) => {
                        return Err(RequestError::new(
                            "`stream` must be true or false",
                            Some("stream"),
                        ))
                    }
                }
            }
            _ => false,
        };
        let client_wants_usage = match get("stream_options") {
            // Not a Messages field: the upstream judges it.
            Some(_) if matches!(api, Api::Messages | Api::Responses) => false,
            Some(raw) => {
                #[derive(Deserialize)]
                struct Opts {
                    include_usage: Option<bool>,
                }
                match serde_json::from_str::<Option<Opts>>(raw.get()) {
                    Ok(o) => o.and_then(|o| o.include_usage).unwrap_or(false),
                    Err(_) => {
                        return Err(RequestError::new(
                            "`stream_options` must be an object",
                            Some("stream_options"),
                        ))
                    }
                }
            }
            None => false,
        };
        Ok(ClientRequest {
            raw: body,
            fields,
            model,
            stream,
            client_wants_usage,
        })
    }

    /// The whole body as a JSON tree borrowing from it, for the translating
    /// adapters (a `serde_json::Value` would copy every string and cost
    /// tens of times the body for a long conversation).
    pub(crate) fn json(&self) -> Result<Json<'a>, TranslateError> {
        Json::parse(self.raw).map_err(|e| {
            let msg = if e.to_string().contains("recursion limit") {
                "the request body nests JSON more than 128 levels deep, the limit for this model's provider".to_string()
            } else {
                format!("the request body is not valid JSON ({e})")
            };
            crate::translate::invalid("body", msg)
        })
    }

    /// The whole body as a JSON value (the embeddings translation).
    pub(crate) fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(self.raw).unwrap_or_default()
    }

    /// The body for an OpenAI-compatible upstream: `model` replaced by the
    /// upstream name; with `force_usage`, `stream_options.include_usage` set
    /// so the gateway can count a stream's tokens.
    pub(crate) fn encode_openai(&self, upstream_model: &str, force_usage: bool) -> Vec<u8> {
        let raw_len: usize = self
            .fields
            .0
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(raw_len + upstream_model.len() + 48);
        out.push(b'{');
        let mut first = true;
        let mut wrote_opts = false;
        for (k, v) in &self.fields.0 {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(&mut out, k);
            out.push(b':');
            match k.as_ref() {
                "model" => write_str(&mut out, upstream_model),
                "stream_options" if force_usage && !self.client_wants_usage => {
                    wrote_opts = true;
                    out.extend_from_slice(&merge_include_usage(v));
                }
                _ => out.extend_from_slice(v.get().as_bytes()),
            }
        }
        if force_usage && !self.client_wants_usage && !wrote_opts {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
        }
        out.push(b'}');
        out
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `stream_options` (an object or null) with `include_usage: true`.
fn merge_include_usage(v: &RawValue) -> Vec<u8> {
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(v.get()).unwrap_or_default();
    map.insert("include_usage".into(), serde_json::Value::Bool(true));
    serde_json::to_vec(&map).unwrap_or_else(|_| br#"{"include_usage":true}"#.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_model_and_keeps_the_rest() {
        let body = br#"{"model":"fast","messages":[{"role":"user","content":"hi \"there\""}],"temperature":0.2,"tools":[{"type":"function"}],"x_custom":{"a":[1,2]}}"#;
        let r = ClientRequest::parse(body, Api::Chat).unwrap();
        assert_eq!(r.model, "fast");
        assert!(!r.stream);
        let out = r.encode_openai("gpt-4o-mini", false);
        let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let mut want: serde_json::Value = serde_json::from_slice(body).unwrap();
        want["model"] = "gpt-4o-mini".into();
        assert_eq!(got, want);
        // field order is kept
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with(r#"{"model":"gpt-4o-mini","messages":"#),
            "{s}"
        );
    }

    #[test]
    fn stream_usage_is_added_or_merged() {
        let body = br#"{"model":"m","messages":[],"stream":true}"#;
        let r = ClientRequest::parse(body, Api::Chat).unwrap();
        assert!(r.stream && !r.client_wants_usage);
        let v: serde_json::Value = serde_json::from_slice(&r.encode_openai("u", true)).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);

        let body = br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_obfuscation":false}}"#;
        let r = ClientRequest::parse(body, Api::Chat).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.encode_openai("u", true)).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["include_obfuscation"], false);

        let body =
            br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#;
        let r = ClientRequest::parse(body, Api::Chat).unwrap();
        assert!(r.client_wants_usage);
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let param = |b: &[u8], e| match ClientRequest::parse(b, e) {
            Err(RequestError { param, .. }) => param,
            _ => panic!("expected invalid request"),
        };
        assert_eq!(param(b"{not json", Api::Chat), None);
        assert_eq!(param(b"[1,2]", Api::Chat), None);
        assert_eq!(param(br#"{"messages":[]}"#, Api::Chat), Some("model"));
        assert_eq!(
            param(br#"{"model":3,"messages":[]}"#, Api::Chat),
            Some("model")
        );
        assert_eq!(param(br#"{"model":"m"}"#, Api::Chat), Some("messages"));
        assert_eq!(
            param(br#"{"model":"m","messages":[],"stream":"yes"}"#, Api::Chat),
            Some("stream")
        );
        assert_eq!(param(br#"{"model":"m"}"#, Api::Embeddings), Some("input"));
        assert!(ClientRequest::parse(br#"{"model":"m","input":"hi"}"#, Api::Embeddings).is_ok());
        assert_eq!(param(br#"{"model":"m"}"#, Api::Messages), Some("messages"));
        assert_eq!(
            param(br#"{"model":"m","messages":"hi"}"#, Api::Messages),
            Some("messages")
        );
        let r = ClientRequest::parse(
            br#"{"model":"m","messages":[],"stream":true,"max_tokens":9}"#,
            Api::Messages,
        )
        .unwrap();
        assert!(r.stream && !r.client_wants_usage);
    }

    #[test]
    fn escaped_model_names_are_decoded() {
        let r = ClientRequest::parse(br#"{"model":"a\/b","messages":[]}"#, Api::Chat).unwrap();
        assert_eq!(r.model, "a/b");
    }

    /// The measurement behind this module's design. A benchmark, so ignored
    /// by default: CI runs the ignored benchmarks once in release mode
    /// (`cargo test --release -- --ignored`).
    #[test]
    #[ignore = "benchmark: CI runs it with `cargo test --release -- --ignored`"]
    fn rewrite_cost() {
        let msgs: Vec<serde_json::Value> = (0..40)
            .map(|i| serde_json::json!({"role": "user", "content": format!("message {i} {}", "lorem ipsum dolor sit amet ".repeat(10))}))
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({"model": "fast", "messages": msgs, "temperature": 0.2, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})).unwrap();
        let n = 2000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let r = ClientRequest::parse(&body, Api::Chat).unwrap();
            std::hint::black_box(r.encode_openai("gpt-4o-mini", false));
        }
        let raw = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let mut m: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&body).unwrap();
            m.insert("model".into(), "gpt-4o-mini".into());
            std::hint::black_box(serde_json::to_vec(&m).unwrap());
        }
        let map = t.elapsed() / n;
        println!(
            "{} byte body: RawValue parse+rewrite {raw:?}, Map<String, Value> round trip {map:?}",
            body.len()
        );
    }
}
