//! Stored Responses-API responses, engine-neutral part: the row type and
//! the [`Store`] / [`LogWriter`] methods that reach the engine's SQL
//! (`sqlite/responses.rs`).
//!
//! A row is a response llmo answered on `POST /v1/responses` with `store`
//! on: its id (`resp_...`, issued by llmo, or OpenAI's for a passthrough),
//! its owner (the client key that created it; another key never reads it),
//! the Response object and the conversation through it. The gateway writes
//! rows on the request-log writer's connection ([`LogWriter`]), in the same
//! thread and queue as the logs; retention prunes them with the logs
//! ([`super::logs::PruneTarget::Responses`]).
use std::borrow::Borrow;

use bytes::Bytes;

use super::logs::LogWriter;
use super::{engine, Result, Store};

/// One stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRow {
    pub id: Box<str>,
    /// The client key's owner tag (see `gateway::responses_state`), `""`
    /// when anonymous.
    pub owner: Box<str>,
    /// The public model name.
    pub model: Box<str>,
    /// Epoch ms.
    pub created_at_ms: i64,
    /// The Response object JSON, as answered.
    pub response: Bytes,
    /// A JSON array of Responses items: the prior conversation, this
    /// request's input items and this response's output items.
    pub items: Bytes,
}

impl ResponseRow {
    /// Bytes the row holds (for the gateway's memory bounds).
    pub fn size(&self) -> usize {
        self.id.len() + self.owner.len() + self.model.len() + self.response.len() + self.items.len()
    }
}

/// A delete: the id, and the owner it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseKey {
    pub id: Box<str>,
    pub owner: Box<str>,
}

impl Store {
    /// Stores responses (one transaction). An id already stored for the
    /// same owner is replaced; one stored for another owner is left alone.
    pub fn put_responses<R: Borrow<ResponseRow>>(&mut self, rows: &[R]) -> Result<()> {
        engine!(self, s => s.put_responses(rows))
    }

    /// The response `id` if `owner` created it.
    pub fn get_response(&self, id: &str, owner: &str) -> Result<Option<ResponseRow>> {
        engine!(self, s => s.get_response(id, owner))
    }

    /// Deletes the response `id` if `owner` created it; true when it did.
    pub fn delete_response(&mut self, id: &str, owner: &str) -> Result<bool> {
        engine!(self, s => s.delete_response(id, owner))
    }

    /// Stored responses (a full count: for tests and `doctor`).
    pub fn count_responses(&self) -> Result<i64> {
        engine!(self, s => s.count_responses())
    }
}

impl LogWriter {
    /// Writes stored responses and deletes in one transaction, in that
    /// order (a delete queued after its put wins).
    pub(crate) fn write_responses<R: Borrow<ResponseRow>>(
        &mut self,
        puts: &[R],
        deletes: &[ResponseKey],
    ) -> Result<()> {
        engine!(writer self, w => w.write_responses(puts, deletes))
    }
}
