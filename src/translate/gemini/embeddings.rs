//! OpenAI embeddings <-> Gemini `embedContent` / `batchEmbedContents`.
use std::borrow::Cow;

use serde_json::Value;

use super::model_segment;
use super::wire::{
    BatchEmbedContentsRequest, Content, EmbedContentRequest, Part, WireEmbedResponse,
};
use crate::translate::openai::{self, Embedding, EmbeddingList, EmbeddingUsage, EmbeddingVector};
use crate::translate::{invalid, unsupported, TranslateError, UpstreamCall};

/// `batchEmbedContents` accepts at most this many requests.
const MAX_EMBED_BATCH: usize = 100;

const EMBEDDING_FIELDS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

struct EmbeddingsRequest<'a> {
    inputs: Vec<&'a str>,
    batch: bool,
    base64: bool,
    dimensions: Option<u64>,
}

fn parse_embeddings(req: &Value) -> Result<EmbeddingsRequest<'_>, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object"))?;
    if let Some((k, _)) = obj
        .iter()
        .find(|(k, v)| !v.is_null() && !EMBEDDING_FIELDS.contains(&k.as_str()))
    {
        return Err(unsupported(
            k.as_str(),
            format!("unknown field `{k}` is not supported for this model"),
        ));
    }
    let token_arrays = || {
        unsupported(
            "input",
            "token-id inputs are not supported by Gemini models; send text",
        )
    };
    let (inputs, batch) = match obj.get("input") {
        Some(Value::String(s)) => (vec![s.as_str()], false),
        Some(Value::Array(a)) => {
            let mut v = Vec::with_capacity(a.len());
            for item in a {
                match item {
                    Value::String(s) => v.push(s.as_str()),
                    Value::Number(_) | Value::Array(_) => return Err(token_arrays()),
                    _ => {
                        return Err(invalid(
                            "input",
                            "`input` must be a string or an array of strings",
                        ))
                    }
                }
            }
            (v, true)
        }
        _ => {
            return Err(invalid(
                "input",
                "`input` must be a string or an array of strings",
            ))
        }
    };
    if inputs.is_empty() || inputs.iter().any(|s| s.is_empty()) {
        return Err(invalid("input", "`input` must not be empty"));
    }
    if inputs.len() > MAX_EMBED_BATCH {
        return Err(invalid(
            "input",
            format!("Gemini embeds at most {MAX_EMBED_BATCH} inputs per request"),
        ));
    }
    let base64 = match obj
        .get("encoding_format")
        .and_then(|v| (!v.is_null()).then_some(v))
    {
        None => false,
        Some(v) => match v.as_str() {
            Some("float") => false,
            Some("base64") => true,
            _ => {
                return Err(invalid(
                    "encoding_format",
                    "`encoding_format` must be `float` or `base64`",
                ))
            }
        },
    };
    let dimensions = match obj.get("dimensions").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|d| *d >= 1)
                .ok_or_else(|| invalid("dimensions", "`dimensions` must be an integer >= 1"))?,
        ),
    };
    Ok(EmbeddingsRequest {
        inputs,
        batch,
        base64,
        dimensions,
    })
}

/// `embedContent` for a single string input, `batchEmbedContents` for an array.
pub fn embeddings_request(
    openai_req: &Value,
    upstream_model: &str,
) -> Result<UpstreamCall, TranslateError> {
    let model = model_segment(upstream_model)?;
    let r = parse_embeddings(openai_req)?;
    let model_name = format!("models/{model}");
    let (path, body) = if r.batch {
        let batch = BatchEmbedContentsRequest {
            requests: r
                .inputs
                .iter()
                .map(|t| embed_content(t, Some(&model_name), r.dimensions))
                .collect(),
        };
        (
            format!("/models/{model}:batchEmbedContents"),
            serde_json::to_vec(&batch),
        )
    } else {
        (
            format!("/models/{model}:embedContent"),
            serde_json::to_vec(&embed_content(r.inputs[0], None, r.dimensions)),
        )
    };
    Ok(UpstreamCall {
        path,
        body: body.unwrap_or_default(),
    })
}

/// One input; `model` is named only inside a batch.
fn embed_content<'a>(
    text: &'a str,
    model: Option<&'a str>,
    dimensions: Option<u64>,
) -> EmbedContentRequest<'a> {
    EmbedContentRequest {
        model: model.map(Cow::Borrowed),
        content: Content {
            role: None,
            parts: vec![Part::text(text)],
        },
        output_dimensionality: dimensions,
    }
}

/// Translates an `embedContent` / `batchEmbedContents` response. `openai_req`
/// is the client's request (for `encoding_format` and the input count).
/// Gemini reports no token counts for embeddings: `usage` is 0 unless the
/// response carries `usageMetadata`.
pub fn embeddings_response(
    body: &[u8],
    openai_req: &Value,
    public_model: &str,
) -> Result<EmbeddingList, TranslateError> {
    let r = parse_embeddings(openai_req)?;
    let resp: WireEmbedResponse =
        serde_json::from_slice(body).map_err(|e| TranslateError::Upstream {
            message: format!("Gemini returned an embeddings response llmo cannot read: {e}"),
        })?;
    let vectors = match (resp.embedding, resp.embeddings) {
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        _ => {
            return Err(TranslateError::Upstream {
                message: "Gemini returned an embeddings response without embeddings".into(),
            })
        }
    };
    if vectors.len() != r.inputs.len() {
        return Err(TranslateError::Upstream {
            message: format!(
                "Gemini returned {} embeddings for {} inputs",
                vectors.len(),
                r.inputs.len()
            ),
        });
    }
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, e)| Embedding {
            object: "embedding",
            index: i as u32,
            embedding: if r.base64 {
                let bytes: Vec<u8> = e
                    .values
                    .iter()
                    .flat_map(|f| (*f as f32).to_le_bytes())
                    .collect();
                EmbeddingVector::Base64(openai::base64_encode(&bytes))
            } else {
                EmbeddingVector::Float(e.values)
            },
        })
        .collect();
    let tokens = resp
        .usage_metadata
        .and_then(|u| u.prompt_token_count)
        .unwrap_or(0);
    Ok(EmbeddingList {
        object: "list",
        data,
        model: public_model.to_string(),
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::gemini::test_util::*;

    #[test]
    fn embeddings_single_and_batch() {
        let single = fixture_json(include_str!(
            "../../../tests/fixtures/openai/embeddings_request.json"
        ));
        let call = embeddings_request(&single, "gemini-embedding-001").unwrap();
        assert_eq!(call.path, "/models/gemini-embedding-001:embedContent");
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            body,
            json!({"content": {"parts": [{"text": "The food was delicious and the waiter..."}]}})
        );
        let out = embeddings_response(
            include_bytes!("../../../tests/fixtures/translate/gemini_embed_content_response.json"),
            &single,
            "embed-public",
        )
        .unwrap();
        golden_json!(
            "gemini/embeddings_single.json",
            &serde_json::to_value(&out).unwrap(),
        );

        let batch = fixture_json(include_str!(
            "../../../tests/fixtures/openai/embeddings_request_batch.json"
        ));
        let call = embeddings_request(&batch, "models/gemini-embedding-001").unwrap();
        assert_eq!(call.path, "/models/gemini-embedding-001:batchEmbedContents");
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        golden_json!("gemini/embeddings_batch_request.json", &body);
        let out = embeddings_response(
            include_bytes!(
                "../../../tests/fixtures/translate/gemini_batch_embed_contents_response.json"
            ),
            &batch,
            "text-embedding-3-small",
        )
        .unwrap();
        let mut want = fixture_json(include_str!(
            "../../../tests/fixtures/openai/embeddings_response_batch.json"
        ));
        want["usage"] = json!({"prompt_tokens": 0, "total_tokens": 0});
        assert_eq!(serde_json::to_value(&out).unwrap(), want);
    }

    #[test]
    fn embeddings_base64_matches_openai_encoding() {
        let req = fixture_json(include_str!(
            "../../../tests/fixtures/openai/embeddings_request_base64.json"
        ));
        let call = embeddings_request(&req, "gemini-embedding-001").unwrap();
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(body["outputDimensionality"], 4);
        let out = embeddings_response(
            include_bytes!("../../../tests/fixtures/translate/gemini_embed_content_response.json"),
            &req,
            "text-embedding-3-small",
        )
        .unwrap();
        let mut want = fixture_json(include_str!(
            "../../../tests/fixtures/openai/embeddings_response_base64.json"
        ));
        want["usage"] = json!({"prompt_tokens": 0, "total_tokens": 0});
        assert_eq!(serde_json::to_value(&out).unwrap(), want);
    }

    #[test]
    fn embeddings_bad_input() {
        let m = "gemini-embedding-001";
        for (req, param) in [
            (json!({"input": [1, 2, 3]}), "input"),
            (json!({"input": [[1, 2]]}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": ""}), "input"),
            (
                json!({"input": "x", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (json!({"input": "x", "dimensions": 0}), "dimensions"),
            (json!({"input": "x", "frob": 1}), "frob"),
            (json!({"input": vec!["x"; 101]}), "input"),
        ] {
            assert_eq!(
                embeddings_request(&req, m).unwrap_err().param(),
                param,
                "{req}"
            );
        }
        let two = json!({"input": ["a", "b"]});
        let err =
            embeddings_response(br#"{"embeddings": [{"values": [1.0]}]}"#, &two, "m").unwrap_err();
        assert_eq!(err.status(), 502);
    }
}
