//! The one response body type of the gateway: a buffer sent whole, an SSE
//! relay that forwards upstream events as they arrive, or a large JSON answer
//! relayed as it arrives. An enum rather than a boxed trait object: the
//! common (non-stream) case allocates nothing extra.
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use super::passthrough::PassBody;
use super::stream::Relay;

pub(crate) enum Body {
    /// A whole body; `None` once sent.
    Full(Option<Bytes>),
    /// A streamed chat completion.
    Relay(Box<Relay>),
    /// A large non-stream answer relayed as it arrives; an error cuts the
    /// connection (the answer is incomplete).
    Pass(Box<PassBody>),
}

impl Body {
    pub(crate) fn full(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        if b.is_empty() {
            Body::Full(None)
        } else {
            Body::Full(Some(b))
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Relay(r) => r.poll_chunk(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
            Body::Pass(p) => p.poll_chunk(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Relay(_) | Body::Pass(_) => SizeHint::default(),
        }
    }
}
