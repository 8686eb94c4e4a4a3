//! OpenAI chat request -> Gemini `generateContent` request body.
use std::borrow::Cow;

use serde_json::{json, Value};

use super::wire::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionCallingMode,
    FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerationConfig, Part, Role,
    ThinkingConfig, Tool, ToolConfig,
};
use super::{model_segment, SKIP_SIGNATURE, THOUGHT_SEPARATOR};
use crate::translate::openai as oa;
use crate::translate::openai::{self, ChatRequest, Json, Msg, ResponseFormat, ToolChoice};
use crate::translate::{invalid, unsupported, TranslateError, UpstreamCall};

fn is_gemini3(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// Builds the Gemini request for an OpenAI chat request.
pub fn request(
    openai_req: &Json<'_>,
    upstream_model: &str,
    stream: bool,
) -> Result<UpstreamCall, TranslateError> {
    let model = model_segment(upstream_model)?;
    let r = openai::parse_chat(openai_req)?;
    let body = generate_content_request(&r, model)?;
    let path = if stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    };
    Ok(UpstreamCall {
        path,
        body: crate::translate::to_body(&body),
    })
}

/// The request body, borrowing from the parsed client request.
fn generate_content_request<'r>(
    r: &'r ChatRequest<'r>,
    model: &'r str,
) -> Result<GenerateContentRequest<'r>, TranslateError> {
    let system_instruction = (!r.system.is_empty()).then(|| Content {
        role: None,
        parts: r.system.iter().map(|t| Part::text(t.text)).collect(),
    });
    let contents = contents(r, is_gemini3(model))?;
    let (tools, tool_config) = tools(r);
    let generation_config = generation_config(r, model);
    Ok(GenerateContentRequest {
        system_instruction,
        contents,
        tools,
        tool_config,
        generation_config: (generation_config != GenerationConfig::default())
            .then_some(generation_config),
    })
}

/// One `functionDeclarations` list and the calling mode.
fn tools<'r>(r: &'r ChatRequest<'r>) -> (Vec<Tool<'r>>, Option<ToolConfig<'r>>) {
    if r.tools.is_empty() {
        return (Vec::new(), None);
    }
    let function_declarations = r
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: Cow::Borrowed(t.name),
            description: t.description.map(Cow::Borrowed),
            // An empty schema means "no parameters": leave it out.
            parameters_json_schema: t
                .parameters
                .filter(|p| p.as_object().is_some_and(|o| !o.is_empty()))
                .map(|p| Cow::Owned(p.to_value())),
        })
        .collect();
    let (mode, allowed) = match r.tool_choice {
        None => {
            return (
                vec![Tool {
                    function_declarations,
                }],
                None,
            )
        }
        Some(ToolChoice::Auto) => (FunctionCallingMode::Auto, Vec::new()),
        Some(ToolChoice::None) => (FunctionCallingMode::None, Vec::new()),
        Some(ToolChoice::Required) => (FunctionCallingMode::Any, Vec::new()),
        Some(ToolChoice::Named(n)) => (FunctionCallingMode::Any, vec![Cow::Borrowed(n)]),
    };
    let config = ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    };
    (
        vec![Tool {
            function_declarations,
        }],
        Some(config),
    )
}

fn generation_config<'r>(r: &'r ChatRequest<'r>, model: &str) -> GenerationConfig<'r> {
    let mut gen = GenerationConfig {
        max_output_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        stop_sequences: r.stop.iter().map(|s| Cow::Borrowed(*s)).collect(),
        candidate_count: r.n,
        seed: r.seed,
        presence_penalty: r.presence_penalty,
        frequency_penalty: r.frequency_penalty,
        ..GenerationConfig::default()
    };
    match r.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            gen.response_mime_type = Some(Cow::Borrowed("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema }) => {
            gen.response_mime_type = Some(Cow::Borrowed("application/json"));
            gen.response_json_schema = Some(Cow::Owned(schema.to_value()));
        }
    }
    gen.thinking_config = r
        .reasoning_effort
        .map(|effort| thinking_config(effort, is_gemini3(model)));
    gen
}

/// `thinkingLevel` for Gemini 3, a `thinkingBudget` before.
fn thinking_config(effort: &str, gemini3: bool) -> ThinkingConfig<'_> {
    if gemini3 {
        let level = if effort == "none" { "low" } else { effort };
        return ThinkingConfig {
            include_thoughts: Some(true),
            thinking_level: Some(Cow::Borrowed(level)),
            ..ThinkingConfig::default()
        };
    }
    let budget = match effort {
        "none" => {
            return ThinkingConfig {
                thinking_budget: Some(0),
                ..ThinkingConfig::default()
            }
        }
        "minimal" | "low" => 1024,
        "medium" => 8192,
        _ => 24576,
    };
    ThinkingConfig {
        include_thoughts: Some(true),
        thinking_budget: Some(budget),
        ..ThinkingConfig::default()
    }
}

fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next()?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn image_part<'r>(url: &'r str, param: &str) -> Result<Part<'r>, TranslateError> {
    if let Some((mime, data)) = openai::parse_data_url(url) {
        return Ok(Part {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(mime),
                data: Cow::Borrowed(data),
            }),
            ..Part::default()
        });
    }
    let fetchable_by_google = url.starts_with("gs://")
        || url.starts_with("https://generativelanguage.googleapis.com/")
        || url.starts_with("https://www.youtube.com/")
        || url.starts_with("https://youtube.com/")
        || url.starts_with("https://youtu.be/");
    if fetchable_by_google {
        return Ok(Part {
            file_data: Some(FileData {
                mime_type: guess_mime(url).map(Cow::Borrowed),
                file_uri: Cow::Borrowed(url),
            }),
            ..Part::default()
        });
    }
    Err(unsupported(
        param,
        "Gemini models cannot fetch image URLs; send the image as a base64 `data:` URL (gs:// and Gemini Files API URIs are passed through)",
    ))
}

/// Text then `functionCall` parts of an assistant message. The thought
/// signature comes from `extra_content` or the id; Gemini 3 needs one on the
/// first call of a turn, so a foreign call gets the documented placeholder.
fn model_parts<'r>(m: &'r Msg<'r>, gemini3: bool) -> Vec<Part<'r>> {
    let mut parts = Vec::new();
    for p in &m.parts {
        if let oa::Part::Text(t) = p {
            parts.push(Part::text(t.text));
        }
    }
    for (j, c) in m.tool_calls.iter().enumerate() {
        let from_id = c.id.split_once(THOUGHT_SEPARATOR).map(|(_, s)| s);
        let thought_signature = match c.thought_signature.or(from_id) {
            Some(sig) if !sig.is_empty() => Some(sig),
            _ if gemini3 && j == 0 => Some(SKIP_SIGNATURE),
            _ => None,
        };
        parts.push(Part {
            function_call: Some(FunctionCall {
                name: Cow::Borrowed(c.name),
                args: Cow::Borrowed(&c.arguments),
            }),
            thought_signature: thought_signature.map(Cow::Borrowed),
            ..Part::default()
        });
    }
    parts
}

/// A tool message as a `functionResponse` part; the function name comes from
/// the nearest earlier assistant call with that id.
fn function_response<'r>(r: &'r ChatRequest<'r>, pos: usize) -> Result<Part<'r>, TranslateError> {
    let m = &r.messages[pos];
    let id = m.tool_call_id.unwrap_or_default();
    let name = r.messages[..pos]
        .iter()
        .rev()
        .filter(|p| p.role == oa::Role::Assistant)
        .flat_map(|p| p.tool_calls.iter())
        .find(|c| c.id == id)
        .map(|c| c.name)
        .ok_or_else(|| {
            invalid(
                format!("messages[{}].tool_call_id", m.index),
                format!("`tool_call_id` `{id}` does not match a tool call of an earlier assistant message"),
            )
        })?;
    let text: String = m
        .parts
        .iter()
        .filter_map(|p| match p {
            oa::Part::Text(t) => Some(t.text),
            oa::Part::Image { .. } => None,
        })
        .collect();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({ "output": v }),
        Err(_) => json!({ "output": text }),
    };
    Ok(Part {
        function_response: Some(FunctionResponse {
            name: Cow::Borrowed(name),
            response: Cow::Owned(response),
        }),
        ..Part::default()
    })
}

fn contents<'r>(r: &'r ChatRequest<'r>, gemini3: bool) -> Result<Vec<Content<'r>>, TranslateError> {
    let mut turns: Vec<Content<'r>> = Vec::new();
    for (pos, m) in r.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            oa::Role::User => {
                let mut parts = Vec::with_capacity(m.parts.len());
                for p in &m.parts {
                    parts.push(match p {
                        oa::Part::Text(t) => Part::text(t.text),
                        oa::Part::Image { url, param } => image_part(url, param)?,
                    });
                }
                (Role::User, parts)
            }
            oa::Role::Assistant => {
                let parts = model_parts(m, gemini3);
                if parts.is_empty() {
                    continue;
                }
                (Role::Model, parts)
            }
            oa::Role::Tool => (Role::User, vec![function_response(r, pos)?]),
        };
        match turns.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => turns.push(Content {
                role: Some(role),
                parts,
            }),
        }
    }
    Ok(turns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::gemini::test_util::*;
    use crate::translate::openai::Json;

    #[test]
    fn paths_for_stream_and_non_stream() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            req_json(&req, "models/gemini-2.5-flash", false).0,
            "/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            req_json(&req, "gemini-2.5-flash", true).0,
            "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            request(&Json::from(&req), "gemini/../x?y", false)
                .unwrap_err()
                .param(),
            "model"
        );
    }

    /// OpenAI requests meaning exactly what the reference Gemini requests mean.
    #[test]
    fn requests_equal_the_reference_gemini_requests() {
        let openai = json!({"model": "x", "temperature": 0.2, "top_p": 0.95, "max_tokens": 256, "stop": ["\n\n\n"], "n": 1,
            "messages": [{"role": "user", "content": "Where is Google's headquarters located?"}]});
        assert_eq!(
            req_json(&openai, "gemini-2.0-flash", false).1,
            fixture_json(include_str!(
                "../../../tests/fixtures/gemini/generate_content_request.json"
            ))
        );
        let openai = json!({"model": "x", "max_completion_tokens": 1024, "reasoning_effort": "none", "messages": [
            {"role": "system", "content": "You are a helpful assistant that answers in one short sentence."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Great to meet you. What would you like to know?"},
            {"role": "user", "content": "I have two dogs in my house. How many paws are in my house?"}]});
        assert_eq!(
            req_json(&openai, "gemini-2.5-flash", false).1,
            fixture_json(include_str!(
                "../../../tests/fixtures/gemini/generate_content_request_multiturn.json"
            ))
        );
    }

    #[test]
    fn golden_request_system_generation_config() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_system.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.0-flash", false);
        golden_json!("gemini/request_system.json", &got);
        assert_eq!(
            got["systemInstruction"]["parts"][0]["text"],
            "You are a helpful assistant that answers in one short sentence."
        );
        assert_eq!(got["generationConfig"]["maxOutputTokens"], 64);
    }

    #[test]
    fn golden_request_tools_matches_the_reference_request() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_tools.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        golden_json!("gemini/request_tools.json", &got);
        let mut reference = fixture_json(include_str!(
            "../../../tests/fixtures/gemini/function_call_request.json"
        ));
        // Same request, expressed with the full-JSON-Schema field.
        let params = reference["tools"][0]["functionDeclarations"][0]
            .as_object_mut()
            .unwrap()
            .remove("parameters")
            .unwrap();
        reference["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] = params;
        assert_eq!(got, reference);
    }

    #[test]
    fn named_tool_choice_matches_the_forced_reference_request() {
        let mut openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_tools.json"
        ));
        openai["tool_choice"] =
            json!({"type": "function", "function": {"name": "get_current_weather"}});
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        let reference = fixture_json(include_str!(
            "../../../tests/fixtures/gemini/function_call_request_forced.json"
        ));
        assert_eq!(got["toolConfig"], reference["toolConfig"]);
        let mut empty = openai.clone();
        empty["tools"][0]["function"]["parameters"] = json!({});
        assert!(
            req_json(&empty, "gemini-2.5-flash", false).1["tools"][0]["functionDeclarations"][0]
                .get("parametersJsonSchema")
                .is_none()
        );
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
            openai["tool_choice"] = json!(choice);
            assert_eq!(
                req_json(&openai, "gemini-2.5-flash", false).1["toolConfig"]
                    ["functionCallingConfig"]["mode"],
                mode
            );
        }
    }

    #[test]
    fn golden_request_tool_result_round_trip() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_tool_result.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        golden_json!("gemini/request_tool_result.json", &got);
        assert_eq!(
            got["contents"][2]["parts"][0]["functionResponse"]["name"],
            "get_weather"
        );
        assert_eq!(
            got["contents"][2]["parts"][0]["functionResponse"]["response"]["temperature_f"],
            64
        );
    }

    #[test]
    fn tool_call_ids_from_a_gemini_response_map_back_with_their_signature() {
        // Round trip: Gemini response -> OpenAI client -> next Gemini request.
        let resp = response(
            include_bytes!("../../../tests/fixtures/gemini/function_call_response.json"),
            &META,
        )
        .unwrap();
        let call = &resp.choices[0].message.tool_calls[0];
        assert!(call
            .id
            .starts_with("call_38CHaLjMG6TujrEPtvTiuQk_0__thought__CtQOAVSo"));
        let sig = fixture_json(include_str!(
            "../../../tests/fixtures/gemini/function_call_response.json"
        ))["candidates"][0]["content"]["parts"][1]["thoughtSignature"]
            .clone();
        assert_eq!(
            call.extra_content.as_ref().unwrap()["google"]["thought_signature"],
            sig
        );
        // A client that keeps only the id (drops extra_content) still round-trips.
        let openai = json!({"messages": [
            {"role": "user", "content": "How many days until New Year's Eve?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": call.id, "type": "function",
                "function": {"name": "now", "arguments": call.function.arguments}}]},
            {"role": "tool", "tool_call_id": call.id, "content": "2025-07-28T10:00:00Z"}
        ]});
        let (_, got) = req_json(&openai, "gemini-2.5-pro", false);
        assert_eq!(got["contents"][1]["parts"][0]["thoughtSignature"], sig);
        assert_eq!(
            got["contents"][1]["parts"][0]["functionCall"],
            json!({"name": "now", "args": {}})
        );
        assert_eq!(
            got["contents"][2]["parts"][0]["functionResponse"],
            json!({"name": "now", "response": {"output": "2025-07-28T10:00:00Z"}})
        );
        // The reconstructed reference request has the same turn shapes.
        let reference = fixture_json(include_str!(
            "../../../tests/fixtures/gemini/function_response_request.json"
        ));
        for i in 0..3 {
            assert_eq!(got["contents"][i]["role"], reference["contents"][i]["role"]);
        }
    }

    #[test]
    fn gemini3_gets_the_skip_signature_for_foreign_tool_calls() {
        let openai = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "b", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "[1,2]"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "{\"ok\":true}"}
        ]});
        let (_, g3) = req_json(&openai, "gemini-3-pro-preview", false);
        assert_eq!(
            g3["contents"][1]["parts"][0]["thoughtSignature"],
            SKIP_SIGNATURE
        );
        assert!(g3["contents"][1]["parts"][1]
            .get("thoughtSignature")
            .is_none());
        // Both results in one user turn, in order; non-object JSON wrapped.
        assert_eq!(
            g3["contents"][2]["parts"][0]["functionResponse"]["response"],
            json!({"output": [1, 2]})
        );
        assert_eq!(
            g3["contents"][2]["parts"][1]["functionResponse"]["response"],
            json!({"ok": true})
        );
        let (_, g25) = req_json(&openai, "gemini-2.5-flash", false);
        assert!(g25["contents"][1]["parts"][0]
            .get("thoughtSignature")
            .is_none());
    }

    #[test]
    fn unknown_tool_call_id_is_a_400() {
        let openai = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "nope", "content": "x"}
        ]});
        assert_eq!(
            request(&Json::from(&openai), "gemini-2.5-flash", false)
                .unwrap_err()
                .param(),
            "messages[1].tool_call_id"
        );
    }

    #[test]
    fn consecutive_roles_merge_and_system_is_hoisted() {
        let openai = json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
            {"role": "system", "content": [{"type": "text", "text": "s2"}]},
            {"role": "user", "content": "e"}
        ], "n": 2, "seed": 3, "presence_penalty": 0.5, "frequency_penalty": -0.5, "top_k": 40,
           "user": "dropped", "parallel_tool_calls": false});
        let (_, got) = req_json(&openai, "gemini-2.0-flash", false);
        golden_json!("gemini/request_merged_turns.json", &got);
        assert_eq!(got["contents"].as_array().unwrap().len(), 3);
        assert_eq!(
            got["systemInstruction"]["parts"].as_array().unwrap().len(),
            2
        );
        assert_eq!(got["generationConfig"]["candidateCount"], 2);
    }

    #[test]
    fn images_inline_file_uris_and_rejected_web_urls() {
        let b64 = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_image_base64.json"
        ));
        let (_, got) = req_json(&b64, "gemini-2.0-flash", false);
        golden_json!("gemini/request_image_base64.json", &got);
        let reference = fixture_json(include_str!(
            "../../../tests/fixtures/gemini/image_request.json"
        ));
        assert_eq!(
            got["contents"][0]["parts"][1]["inlineData"]["data"],
            reference["contents"][0]["parts"][0]["inline_data"]["data"]
        );
        let url = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_image.json"
        ));
        let err = request(&Json::from(&url), "gemini-2.0-flash", false).unwrap_err();
        assert_eq!(err.param(), "messages[0].content[1].image_url.url");
        assert!(err.to_string().contains("data:"));
        let files = json!({"messages": [{"role": "user", "content": [{"type": "image_url",
            "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc123xyz"}}]}]});
        assert_eq!(
            req_json(&files, "gemini-2.0-flash", false).1["contents"][0]["parts"][0],
            json!({"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123xyz"}})
        );
        let gs = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "gs://b/cat.JPG"}}]}]});
        assert_eq!(
            req_json(&gs, "gemini-2.0-flash", false).1["contents"][0]["parts"][0]["fileData"]
                ["mimeType"],
            "image/jpeg"
        );
    }

    #[test]
    fn response_formats() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_json_schema.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        golden_json!("gemini/request_json_schema.json", &got);
        assert_eq!(
            got["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            got["generationConfig"]["responseJsonSchema"],
            openai["response_format"]["json_schema"]["schema"]
        );
        let obj = json!({"messages": [{"role": "user", "content": "JSON please"}], "response_format": {"type": "json_object"}});
        let (_, got) = req_json(&obj, "gemini-2.5-flash", false);
        assert_eq!(
            got["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
    }

    #[test]
    fn reasoning_effort_maps_to_thinking_config() {
        let mut req =
            json!({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium"});
        assert_eq!(
            req_json(&req, "gemini-2.5-flash", false).1["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingBudget": 8192})
        );
        assert_eq!(
            req_json(&req, "gemini-3-pro-preview", false).1["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingLevel": "medium"})
        );
        req["reasoning_effort"] = json!("none");
        assert_eq!(
            req_json(&req, "gemini-2.5-flash", false).1["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 0})
        );
    }

    #[test]
    fn unsupported_fields_are_named() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}], "logprobs": true});
        assert_eq!(
            request(&Json::from(&req), "gemini-2.0-flash", false)
                .unwrap_err()
                .param(),
            "logprobs"
        );
        let req = json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]});
        assert_eq!(
            request(&Json::from(&req), "gemini-2.0-flash", false)
                .unwrap_err()
                .param(),
            "messages[0].content[0].type"
        );
    }
}
