//! The HTTP exchange every adapter shares: one upstream's base URL, its auth
//! header (plus one fixed vendor header), and the key to scrub from its
//! error messages; a POST whose whole answer is read within a timeout, or
//! one whose body is handed over as a stream. How an error answer becomes an
//! [`UpstreamError`] is the adapter's (OpenAI's body as is, or a
//! translator's mapping), passed in as `on_error`.
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::IntoUrl;

use super::{Rest, UpstreamError, BUFFERED_MAX};
use crate::secret::Secret;

/// The most of an upstream error body that is read (the rest is dropped:
/// an error message is never that long).
pub(crate) const ERROR_BODY_MAX: u64 = 256 * 1024;

/// Reads a response body of at most `limit` bytes (refused up front by
/// `Content-Length`, else while reading): over it, [`UpstreamError::TooLarge`]
/// when `strict`, else the first `limit` bytes.
async fn read_capped(
    res: reqwest::Response,
    limit: u64,
    strict: bool,
    ms: u64,
) -> Result<Bytes, UpstreamError> {
    read_up_to(res, limit, strict, None, ms)
        .await
        .map(|(b, _)| b)
}

/// [`read_capped`] that stops once `head` bytes are in: the bytes read, and
/// the response when there is more to read.
async fn read_up_to(
    mut res: reqwest::Response,
    limit: u64,
    strict: bool,
    head: Option<u64>,
    ms: u64,
) -> Result<(Bytes, Option<reqwest::Response>), UpstreamError> {
    let declared = res.content_length();
    if strict && declared.is_some_and(|n| n > limit) {
        return Err(UpstreamError::TooLarge(limit));
    }
    let stop = head.unwrap_or(u64::MAX).min(limit);
    let mut first: Option<Bytes> = None;
    let mut acc: Option<bytes::BytesMut> = None;
    let mut len: u64 = 0;
    let mut more = true;
    while len < stop || (strict && head.is_none()) {
        let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| UpstreamError::from_reqwest(&e, ms))?
        else {
            more = false;
            break;
        };
        len += chunk.len() as u64;
        let chunk = if len > limit {
            if strict {
                return Err(UpstreamError::TooLarge(limit));
            }
            let keep = chunk.len() - (len - limit) as usize;
            chunk.slice(..keep)
        } else {
            chunk
        };
        match (&mut first, &mut acc) {
            (None, None) => first = Some(chunk),
            (Some(f), None) => {
                let cap = declared.unwrap_or(0).max(len).min(stop) as usize;
                let mut b = bytes::BytesMut::with_capacity(cap);
                b.extend_from_slice(f);
                b.extend_from_slice(&chunk);
                acc = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&chunk),
        }
    }
    let bytes = match acc {
        Some(b) => b.freeze(),
        None => first.unwrap_or_default(),
    };
    Ok((bytes, (more && head.is_some()).then_some(res)))
}

/// How the key is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI and compatibles).
    Bearer,
    /// The bare key in a vendor header (`x-api-key`, `x-goog-api-key`).
    Header(&'static str),
}

/// Base URL, auth header and key of one upstream.
pub(crate) struct UpstreamEndpoint {
    /// The base URL without a trailing `/`.
    pub base: String,
    /// The auth header, its value marked sensitive so it never shows in
    /// debug output.
    pub(super) auth: Option<(HeaderName, HeaderValue)>,
    extra: Option<(HeaderName, HeaderValue)>,
    /// Kept to scrub the key from upstream error messages.
    key: Option<Secret>,
}

impl UpstreamEndpoint {
    pub(crate) fn new(
        base_url: &str,
        key: Option<Secret>,
        auth: Auth,
        extra: Option<(&'static str, &'static str)>,
    ) -> Result<UpstreamEndpoint, String> {
        let auth = match &key {
            Some(k) => {
                let (name, value) = match auth {
                    Auth::Bearer => (
                        AUTHORIZATION,
                        HeaderValue::from_str(&format!("Bearer {}", k.expose())),
                    ),
                    Auth::Header(h) => (
                        HeaderName::from_static(h),
                        HeaderValue::from_str(k.expose()),
                    ),
                };
                let mut v = value.map_err(|_| {
                    "the API key contains characters not allowed in a header".to_string()
                })?;
                v.set_sensitive(true);
                Some((name, v))
            }
            None => None,
        };
        Ok(UpstreamEndpoint {
            base: base_url.trim_end_matches('/').to_string(),
            auth,
            key,
            extra: extra.map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))),
        })
    }

    /// What to scrub from upstream error text besides key-like tokens and
    /// URLs: the exact key and the base URL without its scheme (`""` is
    /// ignored by the scrubber).
    pub(crate) fn hidden(&self) -> [&str; 2] {
        let host = self.base.split_once("://").map_or(&*self.base, |(_, h)| h);
        (self.key.as_ref().map_or("", Secret::expose), host).into()
    }

    /// A POST with the auth header, the vendor's fixed header (unless
    /// `forward` carries one of that name) and `forward`'s headers.
    fn post(
        &self,
        http: &reqwest::Client,
        url: impl IntoUrl,
        body: Vec<u8>,
        sse: bool,
        forward: &[(HeaderName, HeaderValue)],
    ) -> reqwest::RequestBuilder {
        let mut b = http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                ACCEPT,
                HeaderValue::from_static(if sse {
                    "text/event-stream"
                } else {
                    "application/json"
                }),
            )
            .body(body);
        if let Some((k, v)) = &self.auth {
            b = b.header(k.clone(), v.clone());
        }
        if let Some((k, v)) = &self.extra {
            if !forward.iter().any(|(n, _)| n == k) {
                b = b.header(k.clone(), v.clone());
            }
        }
        for (k, v) in forward {
            b = b.header(k.clone(), v.clone());
        }
        b
    }

    /// Sends the call; an answer other than a success is
    /// `on_error(status, headers, body)` (its body cut at [`ERROR_BODY_MAX`]).
    async fn send_ok(
        &self,
        req: reqwest::RequestBuilder,
        ms: u64,
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<reqwest::Response, UpstreamError> {
        let res = req
            .send()
            .await
            .map_err(|e| UpstreamError::from_reqwest(&e, ms))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        // The headers are only read for errors (Retry-After): no clone of
        // the header map on the success path.
        let headers = res.headers().clone();
        let bytes = read_capped(res, ERROR_BODY_MAX, false, ms).await?;
        Err(on_error(status.as_u16(), &headers, bytes))
    }

    /// A non-stream call: sends `body` to `url` and returns the success
    /// body, or `on_error(status, headers, body)` for any other status.
    /// Bounded as a whole by `timeout`; a success body over `limit` bytes is
    /// [`UpstreamError::TooLarge`].
    pub(crate) async fn fetch(
        &self,
        http: &reqwest::Client,
        url: impl IntoUrl,
        body: Vec<u8>,
        bounds: (Duration, u64),
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<Bytes, UpstreamError> {
        let (whole, _) = self
            .fetch_up_to(http, (url, body, &[]), bounds, None, on_error)
            .await?;
        Ok(whole)
    }

    /// [`Self::fetch`] for an answer that may be relayed as it arrives: the
    /// first [`BUFFERED_MAX`] bytes within `timeout`, and the rest, if any,
    /// as a [`Rest`] (its size still bounded by `limit`).
    pub(crate) async fn fetch_head(
        &self,
        http: &reqwest::Client,
        url: impl IntoUrl,
        body: Vec<u8>,
        bounds: (Duration, u64),
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<(Bytes, Option<Rest>), UpstreamError> {
        self.fetch_head_with(http, (url, body, &[]), bounds, on_error)
            .await
    }

    /// [`Self::fetch_head`] with extra headers (`forward`, the client's own
    /// for a native passthrough: they replace the vendor's fixed header).
    pub(crate) async fn fetch_head_with(
        &self,
        http: &reqwest::Client,
        call: (impl IntoUrl, Vec<u8>, &[(HeaderName, HeaderValue)]),
        (timeout, limit): (Duration, u64),
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<(Bytes, Option<Rest>), UpstreamError> {
        // Under a small limit the whole answer is read (and refused
        // before the client sees anything).
        let head = (limit > BUFFERED_MAX).then_some(BUFFERED_MAX);
        let (head, more) = self
            .fetch_up_to(http, call, (timeout, limit), head, on_error)
            .await?;
        let rest = more.map(|res| Rest {
            body: reqwest::Body::from(res),
            read: head.len() as u64,
            limit,
            usage: super::parse_usage,
        });
        Ok((head, rest))
    }

    /// The call behind [`Self::fetch`] and [`Self::fetch_head`]: the
    /// success body up to `head` bytes (all of it when `None`), and the
    /// response when more is left, all within `timeout`.
    async fn fetch_up_to(
        &self,
        http: &reqwest::Client,
        (url, body, forward): (impl IntoUrl, Vec<u8>, &[(HeaderName, HeaderValue)]),
        (timeout, limit): (Duration, u64),
        head: Option<u64>,
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<(Bytes, Option<reqwest::Response>), UpstreamError> {
        let ms = timeout.as_millis() as u64;
        let work = async {
            let res = self
                .send_ok(self.post(http, url, body, false, forward), ms, on_error)
                .await?;
            read_up_to(res, limit, true, head, ms).await
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| UpstreamError::Timeout(ms))?
    }

    /// Opens a stream: the response body once the upstream answered with
    /// success headers, or `on_error(status, headers, body)`. The caller
    /// bounds the wait.
    pub(crate) async fn open_stream(
        &self,
        http: &reqwest::Client,
        url: impl IntoUrl,
        body: Vec<u8>,
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<reqwest::Body, UpstreamError> {
        self.open_stream_with(http, (url, body, &[]), on_error)
            .await
    }

    /// [`Self::open_stream`] with extra headers (see [`Self::fetch_head_with`]).
    pub(crate) async fn open_stream_with(
        &self,
        http: &reqwest::Client,
        (url, body, forward): (impl IntoUrl, Vec<u8>, &[(HeaderName, HeaderValue)]),
        on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
    ) -> Result<reqwest::Body, UpstreamError> {
        let res = self
            .send_ok(self.post(http, url, body, true, forward), 0, on_error)
            .await?;
        Ok(reqwest::Body::from(res))
    }
}
