//! Chat chunk SSE -> Responses event stream.
use super::ResponseMeta;

/// OpenAI chunk SSE in, Responses SSE out.
pub(crate) struct ResponsesEncoder {
    done: bool,
    response: Option<Vec<u8>>,
}

impl ResponsesEncoder {
    pub(crate) fn new(meta: &ResponseMeta<'_>) -> Self {
        let _ = meta;
        Self {
            done: false,
            response: None,
        }
    }

    pub(crate) fn feed(&mut self, openai_sse: &[u8]) -> Vec<u8> {
        let _ = openai_sse;
        Vec::new()
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.done = true;
        Vec::new()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn response(&self) -> Option<&[u8]> {
        self.response.as_deref()
    }
}
