//! Anthropic Messages response -> OpenAI `chat.completion`.
use serde_json::{json, Value};

use super::wire::{WireMessage, WireUsage};
use super::JSON_OBJECT_TOOL;
use crate::translate::openai::{
    ChatCompletion, Choice, FinishReason, FunctionCall, Message, PromptTokensDetails, ToolCall,
    Usage,
};
use crate::translate::{ResponseMeta, TranslateError};

impl WireUsage {
    /// Later values (from `message_delta`) override earlier ones field by field.
    pub(super) fn merge(&mut self, newer: WireUsage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }

    pub(super) fn to_openai(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0)
            + cache_read
            + self.cache_creation_input_tokens.unwrap_or(0);
        let completion = self.output_tokens.unwrap_or(0);
        let has_cache =
            self.cache_read_input_tokens.is_some() || self.cache_creation_input_tokens.is_some();
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: has_cache.then_some(PromptTokensDetails {
                cached_tokens: cache_read,
            }),
            completion_tokens_details: None,
        }
    }
}

/// Anthropic `stop_reason` -> OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn, and anything new.
        _ => FinishReason::Stop,
    }
}

pub(super) fn thinking_block(thinking: &str, signature: &str) -> Value {
    json!({"type": "thinking", "thinking": thinking, "signature": signature})
}

fn response_id(upstream: Option<&str>, fallback: &str) -> String {
    match upstream {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => fallback.to_string(),
    }
}

/// Translates a non-stream Messages response.
pub fn response(body: &[u8], meta: &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError> {
    let msg: WireMessage<'_> =
        serde_json::from_slice(body).map_err(|e| TranslateError::Upstream {
            message: format!("Anthropic returned a response llmo cannot read: {e}"),
        })?;
    let mut content: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut json_mode = false;
    for b in &msg.content {
        match b.ty.as_ref() {
            "text" => content
                .get_or_insert_with(String::new)
                .push_str(b.text.as_deref().unwrap_or("")),
            "thinking" => {
                let t = b.thinking.as_deref().unwrap_or("");
                reasoning.get_or_insert_with(String::new).push_str(t);
                thinking_blocks.push(thinking_block(t, b.signature.as_deref().unwrap_or("")));
            }
            "redacted_thinking" => {
                thinking_blocks.push(
                    json!({"type": "redacted_thinking", "data": b.data.as_deref().unwrap_or("")}),
                );
            }
            "tool_use" => {
                let name = b.name.as_deref().unwrap_or("");
                let args = b
                    .input
                    .as_ref()
                    .map_or_else(|| "{}".to_string(), Value::to_string);
                if name == JSON_OBJECT_TOOL {
                    json_mode = true;
                    content.get_or_insert_with(String::new).push_str(&args);
                } else {
                    tool_calls.push(ToolCall {
                        id: b.id.as_deref().unwrap_or("").to_string(),
                        kind: "function",
                        function: FunctionCall {
                            name: name.to_string(),
                            arguments: args,
                        },
                        extra_content: None,
                    });
                }
            }
            // redacted_thinking, server tool blocks: nothing an OpenAI client can use.
            _ => {}
        }
    }
    let mut finish = finish_reason(msg.stop_reason.as_deref().unwrap_or("end_turn"));
    if json_mode && finish == FinishReason::ToolCalls {
        finish = FinishReason::Stop;
    }
    Ok(ChatCompletion {
        id: response_id(msg.id.as_deref(), meta.fallback_id),
        object: "chat.completion",
        created: meta.created,
        model: meta.public_model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content,
                reasoning_content: reasoning,
                tool_calls,
                thinking_blocks,
            },
            finish_reason: Some(finish),
        }],
        usage: msg.usage.map(WireUsage::to_openai),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::anthropic::test_util::*;

    #[test]
    fn golden_response_text() {
        let got = response(
            include_bytes!("../../../tests/fixtures/anthropic/messages_response.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "anthropic/response_text.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(got.id, "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF");
        assert_eq!(got.model, "claude-public");
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (2095, 503, 2598)
        );
        assert!(u.prompt_tokens_details.is_none());
    }

    #[test]
    fn golden_response_tool_use() {
        let got = response(
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_response.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "anthropic/response_tool_use.json",
            &serde_json::to_value(&got).unwrap(),
        );
        let m = &got.choices[0].message;
        assert_eq!(m.content, None);
        assert_eq!(m.tool_calls[0].id, "toolu_01A9HHF5Ezy3oBrKmSgfASm9");
        let args: Value = serde_json::from_str(&m.tool_calls[0].function.arguments).unwrap();
        assert_eq!(args, json!({"location": "San Francisco, CA", "units": "f"}));
        assert_eq!(got.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            got.usage
                .unwrap()
                .prompt_tokens_details
                .unwrap()
                .cached_tokens,
            0
        );
    }

    #[test]
    fn golden_response_text_then_tool_use() {
        let got = response(
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_response_with_text.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "anthropic/response_text_and_tool_use.json",
            &serde_json::to_value(&got).unwrap(),
        );
    }

    #[test]
    fn golden_response_thinking() {
        let got = response(
            include_bytes!("../../../tests/fixtures/anthropic/thinking_response.json"),
            &META,
        )
        .unwrap();
        golden_json!(
            "anthropic/response_thinking.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(
            got.choices[0].message.reasoning_content.as_deref(),
            Some("Let me analyze this step by step...")
        );
        assert_eq!(
            got.choices[0].message.content.as_deref(),
            Some("Based on my analysis...")
        );
    }

    #[test]
    fn cache_tokens_count_as_prompt_tokens() {
        let body = json!({"id": "m", "content": [], "stop_reason": "max_tokens",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}});
        let got = response(body.to_string().as_bytes(), &META).unwrap();
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (115, 7, 122)
        );
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, 100);
        assert_eq!(got.choices[0].finish_reason, Some(FinishReason::Length));
        assert_eq!(got.choices[0].message.content, None);
    }

    #[test]
    fn finish_reasons() {
        for (a, o) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("pause_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
            ("something_new", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(a), o, "{a}");
        }
    }

    #[test]
    fn unreadable_success_body_is_a_502() {
        let err = response(b"<html>", &META).unwrap_err();
        assert_eq!(err.status(), 502);
    }
}
