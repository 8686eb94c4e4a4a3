//! Translation between OpenAI Chat Completions (what clients speak to llmo) and
//! the Anthropic Messages / Google Gemini `generateContent` APIs.
//!
//! Everything here is pure and synchronous: bytes and JSON in, bytes and JSON
//! out, no HTTP, no clock, no randomness (ids and timestamps come from the
//! caller). Each vendor is a directory split by concern: `wire` (the vendor's
//! own JSON shapes, typed), `request` (OpenAI request -> vendor body),
//! `response` (vendor answer -> [`ChatCompletion`]), `stream` (vendor SSE ->
//! OpenAI chunks, one hook set behind the shared [`StreamTranslator`]),
//! `error` (vendor error -> [`MappedError`]); Gemini adds `embeddings`.
//! `openai` holds the client side (the parsed request, the completion types
//! and the chunk writer); this module holds what every vendor shares.
//!
//! The gateway calls it like this:
//!
//! ```text
//! non-stream:  let call = anthropic::request(&req_json, upstream_model, false)?;   // 400 on TranslateError
//!              POST base_url + call.path (x-api-key, anthropic-version headers), body call.body
//!              2xx  -> anthropic::response(&body, &ResponseMeta { public_model, fallback_id, created })?
//!              else -> anthropic::error(status, &body)   // MappedError: status, retryable, OpenAI body
//! stream:      let call = anthropic::request(&req_json, upstream_model, true)?;
//!              let mut t = StreamTranslator::anthropic(public_model, include_usage, fallback_id, created);
//!              for each upstream read: send t.feed(&bytes) (may be empty); at EOF: send t.finish()
//!              t.usage() -> tokens for the request log
//! ```
//! Gemini is the same with `gemini::` and [`StreamTranslator::gemini`] (its
//! `request` path carries the model and `:generateContent` /
//! `:streamGenerateContent?alt=sse`; base URL is
//! `https://generativelanguage.googleapis.com/v1beta`), plus
//! `gemini::embeddings_request` / `gemini::embeddings_response`. Anthropic has
//! no embeddings: `anthropic::embeddings_unsupported()` is the 400 to return.
//!
//! Integration notes for the gateway:
//! * Build the stream translator with the client's own `include_usage` and
//!   take the log's tokens from `usage()`; do not force usage chunks on.
//! * `feed()` returns whole SSE events only (never a partial event), so the
//!   relay can forward them as they are. At upstream EOF call `finish()` and
//!   forward its bytes: the output always ends with `data: [DONE]`, also
//!   after an error event, so the relay must not add its own "ended without
//!   `[DONE]`" tail for translated streams; `error()` says whether to log the
//!   request as failed. After `is_done()` the upstream can be dropped.
//! * Non-stream: `serde_json::to_vec(&completion)`; tokens in `completion.usage`.
//! * `MappedError.status` is already the client-facing status; send
//!   `body_bytes()`. `retryable` / `failover` drive retries and failover;
//!   Anthropic's `retry-after` header is not in the body (read the header).
//! * `TranslateError::status()` (400, or 502 for an unreadable upstream
//!   success body) with `to_openai_bytes()`.
//!
//! # Mapping decisions
//!
//! The tables below are the contract; every row has a unit test in
//! `openai/`, `anthropic/` or `gemini/` (golden outputs are insta snapshots
//! in their `snapshots/` folders).
//!
//! ## Request fields (OpenAI -> provider)
//!
//! | OpenAI field | Anthropic Messages | Gemini generateContent |
//! |---|---|---|
//! | `model` | ignored (the gateway routes; the upstream model name comes from the catalog) | same; the model goes in the URL path (`models/` prefix stripped) |
//! | `system` / `developer` messages (anywhere) | hoisted in order into top-level `system` (a string if one, else text blocks) | hoisted into `systemInstruction.parts` (one part per text) |
//! | `user` text / `image_url` parts | `text` / `image` blocks; data URL -> `source.type=base64` (jpeg/png/gif/webp only, else 400); http(s) -> `source.type=url` | `text` / `inlineData{mimeType,data}` for data URLs; `gs://`, Gemini Files API and YouTube URLs -> `fileData{fileUri}`; any other http(s) URL -> **400** naming the field (Gemini cannot fetch arbitrary URLs; send a data URL) |
//! | other content part types (`input_audio`, `file`) | 400 naming `messages[i].content[j].type` | same |
//! | `cache_control` on a text part or on a message with string content (LiteLLM convention) | kept on that text block (a tool message's marker goes on its `tool_result`): Anthropic prompt caching works through llmo | ignored (Gemini caches implicitly) |
//! | empty user message; no user/assistant/tool message at all | 400 | 400 |
//! | a final `assistant` message | sent as the last turn: Claude continues it (prefill) | sent as the last `model` turn |
//! | `assistant` content + `tool_calls` | `text` blocks then `tool_use{id,name,input}`; empty assistant turns are dropped | `model` turn with `text` then `functionCall{name,args}` parts; the thought signature (from `extra_content.google.thought_signature` or the id, see below) is echoed as `thoughtSignature`; for `gemini-3*` a call without one gets the documented `skip_thought_signature_validator` |
//! | `tool_calls[].function.arguments` | parsed; `""` -> `{}`; not a JSON object -> 400 naming the field | same |
//! | tool-call ids | passed as `tool_use.id` / `tool_use_id`; ids Anthropic would reject (e.g. a Gemini id with a signature, after failover) are cut at `__thought__` and other characters outside `[A-Za-z0-9_-]` become `_`, identically on both sides | not sent (Gemini pairs calls and responses by name and order) |
//! | `tool` messages | `tool_result{tool_use_id,content}` blocks in a `user` turn, always placed before other blocks of that turn | `functionResponse{name,response}` parts in a `user` turn; `name` is looked up from the nearest earlier assistant tool call with that id (unknown id -> 400); `response` = the content if it is a JSON object, else `{"output": content}` |
//! | consecutive same-role turns | merged into one turn (required for `tool_result` ordering) | merged (Gemini rejects non-alternating turns) |
//! | `assistant.thinking_blocks` (LiteLLM convention, as llmo returns them) | passed verbatim as the first blocks of the assistant turn (signed `thinking` / `redacted_thinking`) | dropped |
//! | `assistant.reasoning_content`, message `name` | dropped (unsigned text cannot be replayed to Anthropic) | dropped |
//! | `max_completion_tokens` / `max_tokens` | `max_tokens` (`max_completion_tokens` wins); when absent the default table below | `generationConfig.maxOutputTokens`; absent -> model default |
//! | `temperature` (0-2) | clamped to 1.0 (Anthropic's range is 0-1) | `temperature` |
//! | `top_p`, `top_k` (vLLM extension) | `top_p`, `top_k` | `topP`, `topK` |
//! | `stop` (string or array) | `stop_sequences`; whitespace-only entries dropped (Anthropic rejects them) | `stopSequences` |
//! | `n` | `n > 1` -> 400 (one answer per call) | `candidateCount` (one choice per candidate, also when streaming) |
//! | `seed` | dropped (no equivalent; OpenAI's seed is best-effort anyway) | `seed` |
//! | `presence_penalty`, `frequency_penalty` | non-zero -> 400; 0 accepted | `presencePenalty`, `frequencyPenalty` |
//! | `tools[].function` | `{name,description,input_schema}`; missing or empty parameters -> `{"type":"object","properties":{}}`, a schema without `type` gets `"object"`; `strict` dropped; non-function tool types -> 400 | one `functionDeclarations` list with `parametersJsonSchema` (full JSON Schema, no lossy scrubbing); empty parameters omitted |
//! | `tool_choice` auto / none / required / named | `{type:auto}` / `{type:none}` / `{type:any}` / `{type:tool,name}`; a named tool not in `tools` -> 400 | `functionCallingConfig.mode` `AUTO` / `NONE` / `ANY` / `ANY` + `allowedFunctionNames` |
//! | `parallel_tool_calls: false` | `tool_choice.disable_parallel_tool_use: true` (adds `{type:auto}` if needed) | dropped (no switch in Gemini) |
//! | `response_format` `json_schema` | native structured outputs `output_config.format{type:json_schema,schema}` (GA, no beta header) | `responseMimeType: application/json` + `responseJsonSchema` |
//! | `response_format` `json_object` | forced tool `llmo_json_object` (input schema `{type:object}`); its input comes back as `message.content` with `finish_reason: stop`, streamed as content deltas. With `tools` or thinking -> 400 | `responseMimeType: application/json` |
//! | `user` | `metadata.user_id` | dropped (no equivalent) |
//! | `reasoning_effort` | `thinking{type:enabled,budget_tokens}`: minimal/low 1024, medium 4096, high 16384; `none` = off. With thinking, `temperature` != 1, `top_k`, `top_p` < 0.95 or a forced `tool_choice` -> 400; an explicit max tokens <= budget -> 400. A tool-loop continuation whose last assistant turn has tool calls but no `thinking_blocks` is sent **without** thinking (Anthropic would 400 on it) | `thinkingConfig{includeThoughts:true}` + `thinkingBudget` (2.x: none 0, minimal/low 1024, medium 8192, high 24576) or `thinkingLevel` (`gemini-3*`: the effort string; `none` -> `low`) |
//! | `logprobs: true`, `top_logprobs`, non-empty `logit_bias` | 400 naming the field | 400 naming the field |
//! | `functions` / `function_call` (legacy), `audio`, `prediction`, `web_search_options`, `modalities` other than `["text"]` | 400 naming the field | 400 naming the field |
//! | `store`, `metadata`, `service_tier`, `prompt_cache_key`, `safety_identifier`, `verbosity` | dropped (OpenAI-platform features) | dropped |
//! | `stream`, `stream_options` | `stream: true` when streaming; `include_usage` only shapes llmo's output | URL method `:streamGenerateContent?alt=sse` |
//! | any other field | 400 `unknown field` naming it (never silently ignored) | same |
//! | `null` for any field | treated as absent | same |
//!
//! Anthropic default `max_tokens` when the client sends none (the model's
//! maximum output, so answers are not cut short; unknown models get 4096, which
//! every Claude model accepts):
//!
//! | upstream model prefix | default |
//! |---|---|
//! | `claude-3-5-` | 8192 |
//! | `claude-3-7-sonnet` | 64000 |
//! | `claude-opus-4-0`, `claude-opus-4-1`, `claude-opus-4-2025…` (Opus 4 / 4.1) | 32000 |
//! | other `claude-opus-4`, `claude-sonnet-4`, `claude-haiku-4` (incl. 4.5; 4.6+ allow 128K but accept 64000) | 64000 |
//! | `claude-<family>-<major>-…` with major >= 5 | 64000 |
//! | `claude-3-` (Claude 3 Haiku / Sonnet / Opus) and anything else | 4096 |
//!
//! ## Responses (provider -> OpenAI)
//!
//! | OpenAI | from Anthropic | from Gemini |
//! |---|---|---|
//! | `id` | `chatcmpl-` + message id (`msg_…`) | `chatcmpl-` + `responseId`, else the caller's fallback id |
//! | `created`, `model` | caller's `created`; the PUBLIC model name the client asked for | same |
//! | `message.content` | concatenated `text` blocks; `null` if none | concatenated non-thought text parts; `null` if none |
//! | `message.reasoning_content` (non-standard, DeepSeek/vLLM convention) | concatenated `thinking` blocks | concatenated `thought: true` parts |
//! | `message.thinking_blocks` (non-standard, LiteLLM convention) | every `thinking{thinking,signature}` / `redacted_thinking{data}` block, for the client to send back | — |
//! | `message.tool_calls` | `tool_use` -> `{id, type:function, function:{name, arguments: JSON text}}` | `functionCall` -> same; id = `functionCall.id` if sent, else `call_<responseId|fallback>_<n>` (n counts calls per choice); with a `thoughtSignature` the id gets `__thought__<signature>` appended and the call carries `extra_content.google.thought_signature` (Google's own OpenAI-compatible convention) so multi-turn tool use keeps working on Gemini 3 |
//! | `finish_reason` | `end_turn`, `stop_sequence`, `pause_turn` -> `stop`; `max_tokens`, `model_context_window_exceeded` -> `length`; `tool_use` -> `tool_calls`; `refusal` -> `content_filter`; unknown -> `stop` | `STOP` -> `stop`, or `tool_calls` when a functionCall was returned; `MAX_TOKENS` -> `length`; `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `IMAGE_SAFETY`, `LANGUAGE`, `OTHER` -> `content_filter`; `MALFORMED_FUNCTION_CALL`, `FINISH_REASON_UNSPECIFIED`, unknown -> `stop`; prompt blocked (`promptFeedback.blockReason`, no candidates) -> one choice, `content: null`, `content_filter` |
//! | `usage.prompt_tokens` | `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` | `promptTokenCount + toolUsePromptTokenCount` |
//! | `usage.completion_tokens` | `output_tokens` (includes thinking) | `candidatesTokenCount + thoughtsTokenCount` |
//! | `usage.total_tokens` | sum | `totalTokenCount` (sum if absent) |
//! | `prompt_tokens_details.cached_tokens` | `cache_read_input_tokens` (when the cache fields are present) | `cachedContentTokenCount` (when present) |
//! | `completion_tokens_details.reasoning_tokens` | not reported by Anthropic (omitted) | `thoughtsTokenCount` (when present) |
//!
//! ## Streams
//!
//! Output is OpenAI `chat.completion.chunk` SSE: a first chunk per choice with
//! `{"role":"assistant","content":""}`, then `content` / `reasoning_content`
//! deltas and tool-call deltas (first delta of a call: `index`, `id`,
//! `type`, `function.name`, `arguments`; then only `index` + argument
//! fragments), a finish chunk (`delta: {}` + `finish_reason`), a usage chunk
//! (`choices: []`) only when the client sent `stream_options.include_usage`
//! (then every chunk also carries `"usage": null`, like OpenAI), then
//! `data: [DONE]`. Chunks are written as soon as the upstream event is complete.
//! If the provider reported no usage at all, the usage chunk is omitted rather
//! than filled with zeros.
//!
//! * Anthropic: `thinking_delta` -> `delta.reasoning_content`; when a thinking
//!   block ends, one `delta.thinking_blocks: [{type, thinking, signature}]`
//!   (redacted blocks when they start); `ping`, other `content_block_stop`s,
//!   `citations_delta` and unknown events produce nothing; tool-call `index`
//!   counts tool_use blocks (not Anthropic's block index); empty
//!   `partial_json` fragments are skipped; the finish chunk goes out at
//!   `message_delta`, usage + `[DONE]` at `message_stop`.
//! * Gemini: text is incremental; a `functionCall` arrives whole and becomes
//!   one tool-call delta with the complete arguments; usage is cumulative (the
//!   last value wins); the finish chunk is written when the upstream body ends
//!   (Gemini has no terminator event, and Vertex may repeat `finishReason`).
//! * Errors after the HTTP 200: an Anthropic `event: error`, a Gemini
//!   `data: {"error":…}` or bare JSON error body, an unparseable event, or a
//!   body that ends before the provider's end marker (Anthropic: no
//!   `message_delta`/`message_stop`; Gemini: no `finishReason` and no blocked
//!   prompt) become one `data: {"error":{message,type,param,code}}` event
//!   (no finish chunk, no usage chunk) followed by `data: [DONE]`, the same
//!   tail the gateway writes for a broken passthrough stream. The OpenAI SDKs
//!   raise on the error event, so clients see a failure, not a short answer;
//!   `StreamTranslator::error()` tells the gateway to log the request as
//!   failed. A body that is not SSE at all (an HTML error page from a proxy)
//!   ends the same way.
//!
//! ## Errors (upstream status -> client status)
//!
//! Bodies are always `{"error":{"message","type","param","code"}}` with the
//! provider's message (API-key-looking tokens redacted; Gemini `details` never
//! copied). `retryable` is true for 429, 5xx and 529 (and 408): the same
//! provider may succeed later. `failover` is true when another provider may
//! succeed now: every retryable error, plus errors of llmo's provider account
//! (credentials, permissions, region, quota) that the client cannot fix.
//!
//! | Anthropic | Gemini | client status, type / code |
//! |---|---|---|
//! | 400 `invalid_request_error` | 400 `INVALID_ARGUMENT`, `OUT_OF_RANGE` | 400 `invalid_request_error` |
//! | 400 "prompt is too long" | 400 "input token count … exceeds" | 400 `invalid_request_error` / `context_length_exceeded`, param `messages` |
//! | 401 `authentication_error`, 403 `permission_error` | 400 with `API_KEY_INVALID`, 401 `UNAUTHENTICATED`, 403 `PERMISSION_DENIED` | **502** `upstream_error` / `upstream_auth_failed` (failover): the key is llmo's provider key, not the client's, so a 401 would mislead the client |
//! | — | 400 `FAILED_PRECONDITION` (e.g. "User location is not supported", billing not enabled) | **502** `upstream_error` / `upstream_account_error` (failover) |
//! | 404 `not_found_error` | 404 `NOT_FOUND` | 404 `invalid_request_error` / `model_not_found` |
//! | 413 `request_too_large` | — | 413 `invalid_request_error` / `request_too_large` |
//! | 429 `rate_limit_error` | 429 `RESOURCE_EXHAUSTED` (`retry_after` from `RetryInfo.retryDelay`) | 429 `rate_limit_exceeded` (retryable) |
//! | `billing_error` | — | 429 `insufficient_quota` (not retryable; failover) |
//! | 500 `api_error` | 500 `INTERNAL` | 500 `server_error` (retryable) |
//! | 504 `timeout_error` | 504 `DEADLINE_EXCEEDED` | 504 `server_error` / `timeout` (retryable) |
//! | 529 `overloaded_error` | 503 `UNAVAILABLE` | 503 `server_error` / `overloaded` (retryable) |
//! | — | 499 `CANCELLED` | 502 `server_error` (retryable) |
//! | 408 | 408 | 504 `server_error` / `timeout` (retryable) |
//! | anything else / unreadable body | same | 4xx passed through as `invalid_request_error`, 5xx -> 502 `server_error` (retryable) |
//!
//! ## Responses ingress (OpenAI Responses as the client's API)
//!
//! `responses::to_chat(body, prior)` rewrites a `/v1/responses` request as a
//! Chat Completions request (which then goes through the chat translators
//! above); `responses::from_chat` and `responses::ResponsesEncoder` turn the
//! answer back into a Response object / the Responses event stream. `prior`
//! is the stored conversation of `previous_response_id` (earlier input items
//! and output items, from `responses::input_items` and the Response's
//! `output`), prepended to `input`. Unit tests in `responses/` (goldens in
//! its `snapshots/`).
//!
//! | Responses request | Chat Completions |
//! |---|---|
//! | `instructions` | a leading `system` message; never taken from `prior` (OpenAI: instructions are not carried over) |
//! | `input` string | one `user` message |
//! | `message` items (also without `type`) | `user` / `assistant`; `system` and `developer` -> `system` (every Chat server knows it); one text part -> a string, else text parts |
//! | parts `input_text`, `output_text`, `refusal` | text parts |
//! | `input_image` (`image_url`: https or data URL, `detail`) | `image_url` part (user messages only; elsewhere 400); `file_id` -> **400** naming it (needs OpenAI's Files API) |
//! | `input_file`, `input_audio`, other parts | **400** naming `input[i].content[j].type` |
//! | consecutive `reasoning`, assistant `message` and `function_call` items | one `assistant` message: text, then `tool_calls` (`call_id` is the tool-call id) |
//! | `function_call` with `namespace` | the tool-call name `<namespace>__<name>` (see tools) |
//! | `function_call_output` (string, or text parts) | a `tool` message with `tool_call_id = call_id`; image/file parts -> 400 |
//! | `reasoning` item | its `content` reasoning text, else its summaries (joined by blank lines) -> `reasoning_content` of the next assistant message; `encrypted_content` llmo wrote (`llmo.thinking_blocks.v1:` + Claude's signed blocks) -> that message's `thinking_blocks`, so Claude keeps its thinking across a tool loop; OpenAI's own `encrypted_content` is unreadable elsewhere and dropped |
//! | `item_reference` | the item of `prior` with that `id`; otherwise **400** (`input[i].id`) |
//! | other item types (`web_search_call`, `custom_tool_call`, `computer_call`, ...) | **400** naming `input[i].type` |
//! | `tools` function `{name, description, parameters, strict}` | `{type:function, function:{...}}` |
//! | `tools` `namespace` (Codex groups tools so) | its function tools flattened as `<namespace>__<name>`, the namespace's description before each one's own; calls come back split into `name` + `namespace` |
//! | `web_search` / `web_search_preview` (and their dated versions) | dropped: search runs at OpenAI and is optional by nature (the model answers from what it knows); Codex offers it on every request, so refusing it would refuse every Codex turn. `tool_choice` forcing it -> 400 |
//! | other built-in tools (`file_search`, `computer_use_preview`, `code_interpreter`, `image_generation`, `local_shell`, `mcp`, `custom`, ...) | **400** naming `tools[i].type`: only an `openai` provider can run them |
//! | `tool_choice` auto / none / required / `{type:function,name}` | same / `{type:function,function:{name}}`; other types -> 400 |
//! | `parallel_tool_calls` | same, only when there are tools (Chat rejects it without) |
//! | `text.format` text / json_object / json_schema `{name,schema,strict,description}` | none / `response_format` json_object / json_schema; `text.verbosity` dropped |
//! | `reasoning.effort` | `reasoning_effort` (`summary` dropped: the whole reasoning text comes back as the summary) |
//! | `max_output_tokens` | `max_completion_tokens` (the chat translators read it; older OpenAI-compatible servers may only know `max_tokens`) |
//! | `temperature`, `top_p` | same |
//! | `user`, else `safety_identifier` | `user` |
//! | `stream` | `stream: true` + `stream_options.include_usage` (usage is always asked for) |
//! | `store`, `metadata`, `previous_response_id`, `include`, `truncation`, `service_tier`, `prompt_cache_key`, `prompt_cache_retention`, `stream_options`, `max_tool_calls`, `client_metadata` (Codex) | not sent: the store is llmo's (gateway); the rest are OpenAI-platform settings |
//! | `background: true`, `conversation`, `prompt`, `top_logprobs` > 0 | **400** naming the field; any other unknown field -> 400 |
//!
//! `input_estimate` is the Chat body's length / 4. A 400 of the chat
//! translators names a Chat field; `responses::responses_param` gives the
//! Responses field to name instead (`max_completion_tokens` ->
//! `max_output_tokens`, `reasoning_effort` -> `reasoning.effort`,
//! `response_format` -> `text.format`, `messages[…]` -> `input`, `tools[…]` -> `tools`).
//!
//! | Chat completion | Response object |
//! |---|---|
//! | `id`, `created_at`, `model` | the gateway's `resp_…` id, its timestamp, the public model name |
//! | `reasoning_content` (or `reasoning`), `thinking_blocks` | first a `reasoning` item: `summary: [{summary_text}]`, `encrypted_content` for Claude's blocks |
//! | `content`, `refusal` | a `message` item (`output_text` with `annotations: []`, then a `refusal` part) |
//! | `tool_calls` | one `function_call` item each (`call_id` = the tool-call id, `arguments` as sent) |
//! | item ids | `rs_` / `msg_` / `fc_` + the response id's hex + `_<output index>` (deterministic) |
//! | `finish_reason` `length` / `content_filter` | `status: incomplete`, `incomplete_details.reason` `max_output_tokens` / `content_filter` (items `incomplete`); else `completed` |
//! | `usage` | `input_tokens` (+ `cached_tokens`), `output_tokens` (+ `reasoning_tokens`), `total_tokens`; none -> `null` |
//! | echoed request settings | `instructions`, `tools`, `tool_choice` ("auto"), `temperature` / `top_p` (1.0), `parallel_tool_calls` (true), `text` (`{format:{type:text}}`), `reasoning`, `max_output_tokens`, `previous_response_id`, `store` (true), `truncation` ("disabled"), `user`, `metadata` ({}), as the client sent them (defaults in brackets); `output_text` is left to the SDKs |
//!
//! Stream: `response.created` and `response.in_progress` (status
//! `in_progress`, `output: []`) before anything else; per item
//! `response.output_item.added`; a message gets `response.content_part.added`
//! and `response.output_text.delta` (`response.refusal.delta` for refusals);
//! reasoning `response.reasoning_summary_part.added` and
//! `response.reasoning_summary_text.delta`; a call
//! `response.function_call_arguments.delta` per fragment as it arrives. A
//! reasoning or message item ends (its `...done`, `content_part.done`,
//! `output_item.done`) when the next item starts; function calls stay open
//! until the finish (Chat may interleave their fragments). The terminal
//! event, `response.completed` or `response.incomplete` with the whole
//! Response and usage, goes out with the usage chunk (or at `[DONE]` / the
//! end of the body). Every event is `event: TYPE\ndata: {...}\n\n` with
//! `type` and `sequence_number` counting from 0. An upstream error event, an
//! unreadable event, or a body that ends before the finish -> a
//! `response.failed` (`error: {code, message}`, code from the upstream error,
//! else `server_error`) followed by an `error` event carrying both the
//! documented `code`/`message`/`param` and an `error` object: the openai
//! SDKs raise `APIError` on an event whose data has `error`. `response()`
//! is the terminal event's Response (what the store keeps).
//!
//! ## Anthropic Messages ingress (`messages/`: a Messages client, a Chat upstream)
//!
//! `messages::to_chat` rewrites a `/v1/messages` body as a Chat request (then
//! routed like any chat request, so the chat translators above carry it on to
//! Gemini or Anthropic); `from_chat` / `MessagesEncoder` turn the answer back;
//! `count_tokens` estimates locally; `error_body` gives Anthropic's error shape.
//!
//! | Messages request | Chat request |
//! |---|---|
//! | `model`, `max_tokens` (required), `temperature`, `top_p` | same names, values as sent |
//! | `top_k` | `top_k` (vLLM extension; the Chat -> Anthropic/Gemini translators read it) |
//! | `stop_sequences` | `stop` |
//! | `system` (string or text blocks), a `role: system` turn (Claude Code's mid-conversation system) | a `system` message in the same place; one plain text -> a string, else text parts |
//! | `text` block (+ `cache_control`) | text part, `cache_control` kept on it (LiteLLM convention, read back by the Chat -> Anthropic translator); `citations` dropped |
//! | `image` `base64` / `url` | `image_url` with a `data:` URL / the URL; `file` source -> 400 naming `...source.type` |
//! | assistant `text` / `tool_use` | `content` / `tool_calls` (ids kept, `input` -> `arguments` JSON text); text after a tool call loses its position (Chat has one content) |
//! | assistant `thinking` / `redacted_thinking` | `reasoning_content` (the thinking texts) + `thinking_blocks` (signed and redacted blocks verbatim; an unsigned block, as llmo returns for other providers' reasoning, only as text: Anthropic would reject it) |
//! | user `tool_result` (string or text blocks) | `tool` messages, in order, before the rest of that turn (a user message); `is_error: true` -> content prefixed `Error: ` (Chat has no error flag); `cache_control` on its last text part; image blocks inside (Claude Code's Read of an image) -> moved, each after the text `(an image returned by the tool call above)`, to the start of the user message that follows the turn's tool messages (Chat tool messages are text; a tool message left without text says the image follows); other block types -> 400 |
//! | `document`, `search_result`, `server_tool_use`, `*_tool_result`, `container_upload`, other block types | 400 naming `messages[i].content[j].type` |
//! | `tools` (custom) | function tools: `input_schema` -> `parameters`, `strict` kept; `cache_control`, `input_examples`, `defer_loading` dropped |
//! | server tools (`web_search_*`, `web_fetch_*`, `bash_*`, `text_editor_*`, `code_execution_*`, `computer_*`, `memory_*`, any `type` but `custom`) | 400 naming `tools[i].type` |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `auto` / `required` / `{type:function,function:{name}}` / `none`; `disable_parallel_tool_use: true` -> `parallel_tool_calls: false`; without tools: `auto`/`none` dropped, `any`/`tool` 400 |
//! | `thinking` `enabled` + `budget_tokens` | `reasoning_effort`: < 2048 `low`, < 8192 `medium`, else `high` (the nearest of the 1024 / 4096 / 16384 budgets the reverse translator sends, so those round-trip) |
//! | `thinking` `adaptive` (Claude Code), or absent, with `output_config.effort` | `reasoning_effort` = the effort (`max` -> `high`); adaptive without an effort: omitted (upstream default) |
//! | `thinking` `disabled` | no `reasoning_effort` |
//! | `output_config.format` / `output_format` `json_schema` | `response_format` `json_schema` (`name: output`, `strict: true`: Anthropic's outputs are strict) |
//! | `metadata.user_id` | `user`; longer than OpenAI's 64-character limit (Claude Code's JSON id is ~170) -> its SHA-256 in hex, a stable 64-character id |
//! | `stream: true` | `stream: true` + `stream_options.include_usage: true` (always: `message_delta` needs the usage) |
//! | `mcp_servers` (non-empty) | 400 (tools that would run at Anthropic) |
//! | `context_management`, `container`, `service_tier`, `inference_geo`, top-level `cache_control`, unknown fields | ignored: Anthropic platform features with no meaning for a Chat upstream (`anthropic-beta` headers likewise) |
//!
//! | Chat answer | Messages answer |
//! |---|---|
//! | `id` | `msg_` + the completion id, characters outside `[A-Za-z0-9_-]` -> `_` (`msg_llmo` if none) |
//! | `model` | the public model name the client asked for |
//! | `reasoning_content` (or `reasoning`) | a first `thinking` block, `signature: ""`; when the answer carries `thinking_blocks`, those verbatim instead |
//! | `content` (or text parts), `refusal` | `text` blocks |
//! | `tool_calls` | `tool_use` blocks (`arguments` parsed; `""` -> `{}`; not a JSON object -> 502) |
//! | `finish_reason` `tool_calls` (or any finish with tool calls but `length`) / `length` / `content_filter` / `stop` | `tool_use` / `max_tokens` / `refusal` / `end_turn` |
//! | `stop` + vLLM's `stop_reason` or SGLang's `matched_stop` string | `stop_sequence`, `stop_sequence` = that string (Chat itself does not say which stop matched, so other upstreams give `end_turn`) |
//! | `usage.prompt_tokens`, `prompt_tokens_details.cached_tokens` | `input_tokens` = prompt - cached, `cache_read_input_tokens` = cached, `cache_creation_input_tokens: 0` |
//! | `usage.completion_tokens` | `output_tokens` |
//!
//! Streams: `message_start` at the first chunk (`input_tokens` = the local
//! estimate unless that chunk carries usage), `ping`, one block at a time:
//! `thinking` (`thinking_delta`; `signature_delta` when a chunk carries signed
//! `thinking_blocks`), `text` (`text_delta`), `tool_use` per tool-call index
//! (id and name from its first fragment, each `arguments` fragment one
//! `input_json_delta` as it arrives); a block closes when the next starts or
//! at the finish; `message_delta` (stop reason as above; usage with
//! input/cache fields when the upstream reported usage, else `output_tokens`
//! ~ streamed characters / 4) waits for the usage chunk or `[DONE]`, then
//! `message_stop`. An OpenAI error event -> `event: error` (`code`/`status`
//! numbers as HTTP statuses; `rate_limit_exceeded` -> `rate_limit_error`,
//! `overloaded` -> `overloaded_error`, ...); a stream that ends (or sends
//! `[DONE]`) before a finish, an unreadable event, or arguments of two tool
//! calls interleaved -> `api_error`. No `[DONE]` is written.
//!
//! `count_tokens` (method in `messages/count.rs`): chars / 4 per text, JSON
//! text of tool inputs and schemas, per-message and per-tool-block framing,
//! the tool-use and structured-output system prompts, images by Anthropic's
//! `w * h / 750` (size from the PNG/JPEG/GIF/WebP header), PDFs per page.
//! Against the `input_tokens` Anthropic reported for the six recorded
//! requests in `tests/fixtures/anthropic` (tool use, tool result, text +
//! tool, follow-up turn, structured output; 249-770 tokens) the error is
//! -1.7 % to -3.6 %; the framing constants were fitted on those recordings,
//! so expect more (+-15-30 %) on code or non-English prose.

pub mod anthropic;
mod error;
#[cfg(test)]
pub(crate) mod fuzz;
pub mod gemini;
pub(crate) mod messages;
pub mod openai;
pub(crate) mod responses;
mod sse;
mod stream;
#[cfg(test)]
mod test_support;

pub(crate) use error::{invalid, unsupported, ErrorClass};
pub use error::{MappedError, TranslateError, UPSTREAM_AUTH_PREFIX};
pub use openai::{ChatCompletion, EmbeddingList, FinishReason, Usage};
pub use sse::MAX_EVENT;
pub use stream::{StreamTranslator, EVENT_TOO_LARGE};

/// What to send upstream: `path` is appended to the provider's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    pub path: String,
    pub body: Vec<u8>,
}

/// A client request of another API, rewritten as an OpenAI Chat Completions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatRequest {
    /// The Chat Completions JSON body. `model` is the client's model string unchanged; when
    /// `stream` is set the body has `"stream":true` and `"stream_options":{"include_usage":true}`.
    pub body: Vec<u8>,
    pub stream: bool,
    /// Local estimate of the prompt's input tokens (for `message_start` before usage is known).
    pub input_estimate: u32,
}

/// Identity of the response llmo builds: the public model name the client
/// asked for, an id to use when the provider sends none, and the timestamp.
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    pub public_model: &'a str,
    pub fallback_id: &'a str,
    pub created: u64,
}

/// A request body serialised into a buffer of its exact size: one pass
/// counts the bytes, the second writes them (a growing `Vec` would peak at
/// up to twice the body, which matters for multi-megabyte requests).
pub(crate) fn to_body<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let Some(len) = json_len(v) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(len);
    if serde_json::to_writer(&mut out, v).is_err() {
        return Vec::new();
    }
    out
}

/// The length of `v` as compact JSON text, counted without building it.
pub(crate) fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> Option<usize> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    serde_json::to_writer(&mut n, v).ok()?;
    Some(n.0)
}
