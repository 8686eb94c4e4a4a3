//! Anthropic's error shape, `{"type":"error","error":{"type":..,"message":..}}`,
//! for every error llmo answers on `/v1/messages*`.
use serde::Serialize;
use serde_json::Value;

/// Anthropic's error type for an HTTP status.
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        402 => "billing_error",
        s if (400..500).contains(&s) => "invalid_request_error",
        _ => "api_error",
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// `{"type":"error","error":{"type":kind,"message":message}}`.
pub(super) fn envelope(kind: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        kind: "error",
        error: Inner { kind, message },
    })
    .unwrap_or_default()
}

/// The message of an error body: OpenAI's `error.message`, a bare
/// `message` or `error` string, an Anthropic `error.message`; else the
/// body's text (trimmed, at most 1000 characters); else `HTTP <status>`.
pub(super) fn message_of(status: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str);
        if let Some(m) = found.filter(|m| !m.trim().is_empty()) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("HTTP {status}");
    }
    text.chars().take(1000).collect()
}

/// Any error body llmo would send on an OpenAI route, as Anthropic's shape
/// with [`error_type`]`(status)`; the message is kept.
pub(crate) fn error_body(status: u16, openai_error: &[u8]) -> Vec<u8> {
    envelope(error_type(status), &message_of(status, openai_error))
}

#[cfg(test)]
mod tests {
    use crate::translate::messages::{error_body, error_type};
    use serde_json::Value;

    fn parsed(status: u16, body: &[u8]) -> Value {
        serde_json::from_slice(&error_body(status, body)).unwrap()
    }

    #[test]
    fn each_status_has_anthropics_type() {
        for (status, ty) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (529, "overloaded_error"),
            (503, "overloaded_error"),
            (500, "api_error"),
            (502, "api_error"),
            (504, "api_error"),
            (402, "billing_error"),
            (422, "invalid_request_error"),
        ] {
            assert_eq!(error_type(status), ty, "{status}");
            let body = format!(
                r#"{{"error":{{"message":"m{status}","type":"x","param":null,"code":null}}}}"#
            );
            let v = parsed(status, body.as_bytes());
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["type"], ty);
            assert_eq!(v["error"]["message"], format!("m{status}"));
        }
    }

    #[test]
    fn non_json_and_empty_bodies_keep_a_message() {
        let v = parsed(502, b"<html>Bad Gateway</html>\n");
        assert_eq!(v["error"]["type"], "api_error");
        assert_eq!(v["error"]["message"], "<html>Bad Gateway</html>");
        let v = parsed(429, b"");
        assert_eq!(v["error"]["message"], "HTTP 429");
        assert_eq!(
            String::from_utf8(error_body(
                401,
                br#"{"error":{"message":"invalid key","type":"invalid_request_error"}}"#
            ))
            .unwrap(),
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid key"}}"#
        );
    }
}
