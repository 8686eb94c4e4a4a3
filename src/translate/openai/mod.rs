//! The OpenAI side of every translation: reading a Chat Completions request
//! (read once into a borrowed [`Json`] tree, not a `serde_json::Value`)
//! into a checked, provider-neutral form (`request`), the response types llmo
//! sends back (`response`: [`ChatCompletion`], [`Usage`], embeddings, error
//! bodies) and the streamed chunks (`chunk`).
mod chunk;
mod json;
mod request;
mod response;

pub(crate) use chunk::{ChunkWriter, ToolStart};
pub use json::Json;
pub(crate) use request::{
    parse_chat, parse_data_url, ChatRequest, Msg, Part, ResponseFormat, Role, Text, ToolChoice,
};
pub(crate) use response::{
    base64_encode, error_body, error_bytes, Choice, CompletionTokensDetails, Embedding,
    EmbeddingUsage, EmbeddingVector, FunctionCall, Message, PromptTokensDetails, ToolCall,
};
pub use response::{ChatCompletion, EmbeddingList, FinishReason, Usage};
