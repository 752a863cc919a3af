//! What the host sees of a response on the wire rather than through
//! reqwest's conveniences: how long a new connection took, and the body
//! before decompression.
//!
//! reqwest can decompress bodies itself, but then neither the bytes on the
//! wire nor the moment a compressed chunk arrived are visible; decoding
//! here keeps decompression out of the timings.

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use flate2::write::{GzDecoder, ZlibDecoder};
use reqwest::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderMap};

/// The time of the last connection one user's client made, for the request
/// that waited on it to pick up: a user sends one request at a time, so the
/// connection made while a request was under way is that request's.
#[derive(Debug, Clone, Default)]
pub struct ConnectClock {
    /// Microseconds plus one; zero when no connection was made since the
    /// last take.
    last: Arc<AtomicU64>,
}

impl ConnectClock {
    /// The connection time recorded since the last call, if any.
    pub fn take(&self) -> Option<Duration> {
        match self.last.swap(0, Ordering::Relaxed) {
            0 => None,
            stamp => Some(Duration::from_micros(stamp - 1)),
        }
    }

    fn set(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX - 1);
        self.last.store(micros + 1, Ordering::Relaxed);
    }
}

/// A connector layer that times every connection reqwest makes: DNS, TCP
/// and TLS together.
impl<S> tower_layer::Layer<S> for ConnectClock {
    type Service = TimedConnector<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimedConnector {
            inner,
            clock: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TimedConnector<S> {
    inner: S,
    clock: ConnectClock,
}

impl<S, R> tower_service::Service<R> for TimedConnector<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let started = Instant::now();
        let connecting = self.inner.call(request);
        let clock = self.clock.clone();
        Box::pin(async move {
            let connected = connecting.await;
            if connected.is_ok() {
                clock.set(started.elapsed());
            }
            connected
        })
    }
}

/// The value of `accept-encoding` the host sends unless the guest set its
/// own.
pub const ACCEPT_ENCODING: &str = "gzip, deflate";

/// Turns a body as it came over the wire into the body the guest reads.
pub enum Decoder {
    Identity,
    Gzip(Box<GzDecoder<Vec<u8>>>),
    Deflate(Box<ZlibDecoder<Vec<u8>>>),
}

impl Decoder {
    /// The decoder for a response with these headers. A body it decodes
    /// loses its `content-encoding` and `content-length`, which described
    /// the encoded body, as reqwest's own decompression does.
    pub fn for_headers(headers: &mut HeaderMap) -> Self {
        let encoding = headers
            .get(CONTENT_ENCODING)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_ascii_lowercase());
        let decoder = match encoding.as_deref() {
            Some("gzip" | "x-gzip") => Decoder::Gzip(Box::new(GzDecoder::new(Vec::new()))),
            Some("deflate") => Decoder::Deflate(Box::new(ZlibDecoder::new(Vec::new()))),
            _ => return Decoder::Identity,
        };
        headers.remove(CONTENT_ENCODING);
        headers.remove(CONTENT_LENGTH);
        decoder
    }

    /// Decodes one chunk off the wire; the result may be empty while the
    /// decoder waits for more.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        let decoded = match self {
            Decoder::Identity => return Ok(chunk.to_vec()),
            Decoder::Gzip(decoder) => decoder
                .write_all(chunk)
                .and_then(|()| decoder.flush())
                .map(|()| std::mem::take(decoder.get_mut())),
            Decoder::Deflate(decoder) => decoder
                .write_all(chunk)
                .and_then(|()| decoder.flush())
                .map(|()| std::mem::take(decoder.get_mut())),
        };
        decoded.map_err(|err| format!("the compressed body could not be decoded: {err}"))
    }

    /// What is left once the body has ended; fails on a truncated stream.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        let finished = match self {
            Decoder::Identity => return Ok(Vec::new()),
            Decoder::Gzip(decoder) => decoder.finish(),
            Decoder::Deflate(decoder) => decoder.finish(),
        };
        finished.map_err(|err| format!("the compressed body could not be decoded: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_decode_chunk_by_chunk() {
        let text = "token ".repeat(500);
        let wire = gzip(text.as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(wire.len()));
        let mut decoder = Decoder::for_headers(&mut headers);
        assert!(headers.is_empty(), "encoding headers describe the wire");
        let mut body = Vec::new();
        for chunk in wire.chunks(7) {
            body.extend(decoder.push(chunk).unwrap());
        }
        body.extend(decoder.finish().unwrap());
        assert_eq!(body, text.as_bytes());
    }

    #[test]
    fn a_truncated_gzip_body_is_an_error() {
        let wire = gzip(&[7u8; 4000]);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let mut decoder = Decoder::for_headers(&mut headers);
        decoder.push(&wire[..wire.len() / 2]).unwrap();
        assert!(decoder.finish().is_err());
    }

    #[test]
    fn other_encodings_pass_through() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        let mut decoder = Decoder::for_headers(&mut headers);
        assert_eq!(decoder.push(b"abc").unwrap(), b"abc");
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn the_connect_clock_hands_each_time_out_once() {
        let clock = ConnectClock::default();
        assert_eq!(clock.take(), None);
        clock.set(Duration::from_micros(1500));
        assert_eq!(clock.take(), Some(Duration::from_micros(1500)));
        assert_eq!(clock.take(), None);
        clock.set(Duration::ZERO);
        assert_eq!(clock.take(), Some(Duration::ZERO));
    }
}
