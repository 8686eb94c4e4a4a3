//! Gemini `generateContent` response -> OpenAI `chat.completion`.
use serde_json::{json, Value};

use super::wire::{WireResponse, WireUsage};
use super::THOUGHT_SEPARATOR;
use crate::translate::openai::{
    ChatCompletion, Choice, CompletionTokensDetails, FinishReason, FunctionCall, Message,
    PromptTokensDetails, ToolCall, Usage,
};
use crate::translate::{ResponseMeta, TranslateError};

impl WireUsage {
    pub(super) fn to_openai(self) -> Usage {
        let prompt =
            self.prompt_token_count.unwrap_or(0) + self.tool_use_prompt_token_count.unwrap_or(0);
        let completion =
            self.candidates_token_count.unwrap_or(0) + self.thoughts_token_count.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self.total_token_count.unwrap_or(prompt + completion),
            prompt_tokens_details: self
                .cached_content_token_count
                .map(|c| PromptTokensDetails { cached_tokens: c }),
            completion_tokens_details: self.thoughts_token_count.map(|t| CompletionTokensDetails {
                reasoning_tokens: t,
            }),
        }
    }
}

/// Gemini `finishReason` -> OpenAI `finish_reason` (before the function-call
/// rule: a `STOP` with a functionCall becomes `tool_calls`).
pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "LANGUAGE"
        | "OTHER" => FinishReason::ContentFilter,
        // STOP, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, FINISH_REASON_UNSPECIFIED, new values.
        _ => FinishReason::Stop,
    }
}

pub(super) fn with_calls(f: FinishReason, saw_call: bool) -> FinishReason {
    if saw_call && f == FinishReason::Stop {
        FinishReason::ToolCalls
    } else {
        f
    }
}

/// Id of the `k`-th function call of a choice (see the module docs).
pub(super) fn call_id(explicit: Option<&str>, rid: &str, k: u32, sig: Option<&str>) -> String {
    let base = match explicit {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("call_{rid}_{k}"),
    };
    match sig {
        Some(s) if !s.is_empty() => format!("{base}{THOUGHT_SEPARATOR}{s}"),
        _ => base,
    }
}

pub(super) fn signature_extra(sig: Option<&str>) -> Option<Value> {
    sig.filter(|s| !s.is_empty())
        .map(|s| json!({"google": {"thought_signature": s}}))
}

/// The response-id part used in generated call ids.
fn rid_for_calls<'a>(response_id: Option<&'a str>, fallback_id: &'a str) -> &'a str {
    match response_id {
        Some(r) if !r.is_empty() => r,
        _ => fallback_id.strip_prefix("chatcmpl-").unwrap_or(fallback_id),
    }
}

/// Translates a non-stream `generateContent` response.
pub fn response(body: &[u8], meta: &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError> {
    let resp: WireResponse<'_> =
        serde_json::from_slice(body).map_err(|e| TranslateError::Upstream {
            message: format!("Gemini returned a response llmo cannot read: {e}"),
        })?;
    let rid = rid_for_calls(resp.response_id.as_deref(), meta.fallback_id);
    let mut choices = Vec::with_capacity(resp.candidates.len().max(1));
    for (pos, c) in resp.candidates.iter().enumerate() {
        let mut content: Option<String> = None;
        let mut reasoning: Option<String> = None;
        let mut tool_calls = Vec::new();
        for p in c.content.iter().flat_map(|c| c.parts.iter()) {
            if let Some(fc) = &p.function_call {
                let sig = p.thought_signature.as_deref();
                tool_calls.push(ToolCall {
                    id: call_id(fc.id.as_deref(), rid, tool_calls.len() as u32, sig),
                    kind: "function",
                    function: FunctionCall {
                        name: fc.name.to_string(),
                        arguments: fc
                            .args
                            .as_ref()
                            .map_or_else(|| "{}".to_string(), Value::to_string),
                    },
                    extra_content: signature_extra(sig),
                });
            } else if let Some(t) = &p.text {
                let slot = if p.thought {
                    &mut reasoning
                } else {
                    &mut content
                };
                slot.get_or_insert_with(String::new).push_str(t);
            }
        }
        let f = c
            .finish_reason
            .as_deref()
            .map_or(FinishReason::Stop, finish_reason);
        choices.push(Choice {
            index: c.index.unwrap_or(pos as u32),
            finish_reason: Some(with_calls(f, !tool_calls.is_empty())),
            message: Message {
                role: "assistant",
                content,
                reasoning_content: reasoning,
                tool_calls,
                thinking_blocks: Vec::new(),
            },
        });
    }
    if choices.is_empty() {
        let blocked = resp
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_deref());
        if blocked.is_none() {
            return Err(TranslateError::Upstream {
                message: "Gemini returned no candidates".into(),
            });
        }
        choices.push(Choice {
            index: 0,
            finish_reason: Some(FinishReason::ContentFilter),
            message: Message {
                role: "assistant",
                content: None,
                reasoning_content: None,
                tool_calls: Vec::new(),
                thinking_blocks: Vec::new(),
            },
        });
    }
    choices.sort_by_key(|c| c.index);
    Ok(ChatCompletion {
        id: match resp.response_id.as_deref() {
            Some(r) if !r.is_empty() => format!("chatcmpl-{r}"),
            _ => meta.fallback_id.to_string(),
        },
        object: "chat.completion",
        created: meta.created,
        model: meta.public_model.to_string(),
        choices,
        usage: resp.usage_metadata.map(WireUsage::to_openai),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::gemini::test_util::*;

    #[test]
    fn golden_response_text() {
        let got = response(
            include_bytes!("../../../tests/fixtures/gemini/generate_content_response.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "gemini/response_text.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(got.id, "chatcmpl-llmo-fallback");
        assert_eq!(got.model, "gemini-public");
    }

    #[test]
    fn golden_response_thinking_and_usage() {
        let got = response(
            include_bytes!(
                "../../../tests/fixtures/gemini/generate_content_response_thinking.json"
            ),
            &META,
        )
        .unwrap();
        golden_json!(
            "gemini/response_thinking.json",
            &serde_json::to_value(&got).unwrap(),
        );
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (14, 26, 40)
        );
        assert_eq!(u.completion_tokens_details.unwrap().reasoning_tokens, 24);
        assert_eq!(
            got.choices[0].message.content.as_deref(),
            Some("Mountain View")
        );
        assert!(got.choices[0]
            .message
            .reasoning_content
            .as_deref()
            .unwrap()
            .starts_with("**Thinking About"));
    }

    #[test]
    fn cached_tokens_are_reported() {
        let got = response(
            include_bytes!(
                "../../../tests/fixtures/gemini/generate_content_response_implicit_cache_vertex.json"
            ),
            &META,
        )
        .unwrap();
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (12013, 88, 12101)
        );
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, 11243);
    }

    #[test]
    fn golden_response_function_call() {
        let got = response(
            include_bytes!("../../../tests/fixtures/gemini/function_call_response_vertex.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "gemini/response_function_call.json",
            &serde_json::to_value(&got).unwrap(),
        );
        let c = &got.choices[0];
        assert_eq!(
            c.finish_reason,
            Some(FinishReason::ToolCalls),
            "STOP + functionCall -> tool_calls"
        );
        assert_eq!(c.message.tool_calls[0].id, "call_llmo-fallback_0");
        assert_eq!(
            c.message.tool_calls[0].function.arguments,
            "{\"x\":4,\"y\":5}"
        );
        assert!(got.usage.is_none());
    }

    #[test]
    fn golden_response_safety_and_blocked_prompt() {
        let got = response(
            include_bytes!("../../../tests/fixtures/gemini/response_finish_reason_safety.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "gemini/response_safety.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(
            got.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
        let blocked = br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}"#;
        let got = response(blocked, &META).unwrap();
        assert_eq!(got.choices.len(), 1);
        assert_eq!(got.choices[0].message.content, None);
        assert_eq!(
            got.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
        assert!(response(br#"{"candidates": []}"#, &META).is_err());
    }

    #[test]
    fn finish_reasons() {
        for (g, o) in [
            ("STOP", FinishReason::Stop),
            ("MAX_TOKENS", FinishReason::Length),
            ("SAFETY", FinishReason::ContentFilter),
            ("RECITATION", FinishReason::ContentFilter),
            ("BLOCKLIST", FinishReason::ContentFilter),
            ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
            ("SPII", FinishReason::ContentFilter),
            ("IMAGE_SAFETY", FinishReason::ContentFilter),
            ("LANGUAGE", FinishReason::ContentFilter),
            ("OTHER", FinishReason::ContentFilter),
            ("MALFORMED_FUNCTION_CALL", FinishReason::Stop),
            ("FINISH_REASON_UNSPECIFIED", FinishReason::Stop),
            ("SOMETHING_NEW", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(g), o, "{g}");
        }
        assert_eq!(with_calls(FinishReason::Length, true), FinishReason::Length);
    }

    #[test]
    fn several_candidates_become_several_choices() {
        let body = br#"{"candidates": [
            {"content": {"parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS", "index": 1},
            {"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP", "index": 0}], "responseId": "r"}"#;
        let got = response(body, &META).unwrap();
        assert_eq!(got.id, "chatcmpl-r");
        assert_eq!(got.choices[0].message.content.as_deref(), Some("A"));
        assert_eq!(got.choices[1].finish_reason, Some(FinishReason::Length));
    }
}
