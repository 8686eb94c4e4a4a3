//! TEMPORARY: the interface of `crate::translate::messages` (branch msgtr)
//! until it is merged; removed by the merge.
#![allow(dead_code, unused_variables)]
use crate::translate::TranslateError;

pub(crate) struct ChatRequest {
    pub body: Vec<u8>,
    pub stream: bool,
    pub input_estimate: u32,
}

pub(crate) mod messages {
    use super::{ChatRequest, TranslateError};
    pub(crate) fn to_chat(body: &[u8]) -> Result<ChatRequest, TranslateError> {
        Err(crate::translate::unsupported("body", "not yet"))
    }
    pub(crate) fn from_chat(
        completion: &[u8],
        public_model: &str,
    ) -> Result<Vec<u8>, TranslateError> {
        Err(crate::translate::unsupported("body", "not yet"))
    }
    pub(crate) fn count_tokens(body: &[u8]) -> Result<u32, TranslateError> {
        Ok(body.len() as u32 / 4)
    }
    pub(crate) fn error_type(status: u16) -> &'static str {
        match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            s if (400..500).contains(&s) => "invalid_request_error",
            _ => "api_error",
        }
    }
    pub(crate) fn error_body(status: u16, openai_error: &[u8]) -> Vec<u8> {
        let v: serde_json::Value = serde_json::from_slice(openai_error).unwrap_or_default();
        let m = v
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .unwrap_or("error");
        serde_json::to_vec(
            &serde_json::json!({"type":"error","error":{"type":error_type(status),"message":m}}),
        )
        .unwrap_or_default()
    }
    pub(crate) struct MessagesEncoder;
    impl MessagesEncoder {
        pub(crate) fn new(public_model: &str, input_estimate: u32) -> Self {
            MessagesEncoder
        }
        pub(crate) fn feed(&mut self, openai_sse: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        pub(crate) fn finish(&mut self) -> Vec<u8> {
            Vec::new()
        }
        pub(crate) fn is_done(&self) -> bool {
            true
        }
    }
}
