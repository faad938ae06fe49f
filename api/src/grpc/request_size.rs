//! The request size limit, as a tower layer in front of every service: it
//! reads the 5-byte header of each gRPC message (compressed flag, then the
//! length, big-endian) as the request body streams in, and refuses a message
//! longer than the limit before its bytes are read, with the table's
//! `RESOURCE_EXHAUSTED` (`ApiError::RequestTooLarge`).
//!
//! tonic's own `max_decoding_message_size` stays set to the same limit as a
//! backstop, but it answers `OUT_OF_RANGE`, and gRPC's other implementations
//! (grpc/grpc#10612) answer `RESOURCE_EXHAUSTED` for a message over the size
//! limit. This layer sees every chunk before tonic's decoder does, so the
//! refusal is always this one.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::Status;

use super::errors::ApiError;

/// The bytes of a gRPC message header: compressed flag and length.
const MESSAGE_HEADER_SIZE: usize = 5;

/// Wraps each request's body in a [`LimitedBody`].
#[derive(Debug, Clone, Copy)]
pub struct RequestSizeLimitLayer {
    message_size_max_bytes: usize,
}

impl RequestSizeLimitLayer {
    pub fn new(message_size_max_bytes: usize) -> RequestSizeLimitLayer {
        RequestSizeLimitLayer {
            message_size_max_bytes,
        }
    }
}

impl<S> tower::Layer<S> for RequestSizeLimitLayer {
    type Service = RequestSizeLimit<S>;

    fn layer(&self, inner: S) -> RequestSizeLimit<S> {
        RequestSizeLimit {
            inner,
            message_size_max_bytes: self.message_size_max_bytes,
        }
    }
}

/// See [`RequestSizeLimitLayer`].
#[derive(Debug, Clone)]
pub struct RequestSizeLimit<S> {
    inner: S,
    message_size_max_bytes: usize,
}

impl<S> tower::Service<http::Request<Body>> for RequestSizeLimit<S>
where
    S: tower::Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> S::Future {
        let limit = self.message_size_max_bytes;
        self.inner
            .call(request.map(|body| Body::new(LimitedBody::new(body, limit))))
    }
}

/// A request body that fails with `RESOURCE_EXHAUSTED` at the header of a
/// message longer than the limit; otherwise it passes every frame through.
#[derive(Debug)]
pub struct LimitedBody {
    inner: Body,
    message_size_max_bytes: usize,
    /// The header being read, and how much of it has arrived.
    header: [u8; MESSAGE_HEADER_SIZE],
    header_filled: usize,
    /// Bytes of the current message still to come (0: a header is next).
    message_remaining: usize,
}

impl LimitedBody {
    pub fn new(inner: Body, message_size_max_bytes: usize) -> LimitedBody {
        LimitedBody {
            inner,
            message_size_max_bytes,
            header: [0; MESSAGE_HEADER_SIZE],
            header_filled: 0,
            message_remaining: 0,
        }
    }

    /// Follows the message framing through one chunk of data.
    fn inspect(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.message_remaining > 0 {
                let skipped = self.message_remaining.min(data.len());
                self.message_remaining -= skipped;
                data = &data[skipped..];
                continue;
            }
            let taken = (MESSAGE_HEADER_SIZE - self.header_filled).min(data.len());
            self.header[self.header_filled..self.header_filled + taken]
                .copy_from_slice(&data[..taken]);
            self.header_filled += taken;
            data = &data[taken..];
            if self.header_filled == MESSAGE_HEADER_SIZE {
                self.header_filled = 0;
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                if length > self.message_size_max_bytes {
                    tracing::info!(
                        size_bytes = length,
                        limit_bytes = self.message_size_max_bytes,
                        "request refused: larger than the limit"
                    );
                    return Err(ApiError::RequestTooLarge {
                        size_bytes: length,
                        limit_bytes: self.message_size_max_bytes,
                    }
                    .into_status());
                }
                self.message_remaining = length;
            }
        }
        Ok(())
    }
}

impl http_body::Body for LimitedBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            if let Err(status) = self.inspect(data) {
                return Poll::Ready(Some(Err(status)));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(length: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend(length.to_be_bytes());
        bytes
    }

    fn check(chunks: &[&[u8]], limit: usize, expected_ok: bool) {
        let mut body = LimitedBody::new(Body::empty(), limit);
        let result = chunks.iter().try_for_each(|chunk| body.inspect(chunk));
        assert_eq!(result.is_ok(), expected_ok, "{chunks:?} with limit {limit}");
        if let Err(status) = result {
            assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        }
    }

    #[test]
    fn messages_up_to_the_limit_pass_and_longer_ones_are_refused_at_their_header() {
        let mut at_limit = header(10);
        at_limit.extend([7; 10]);
        check(&[&at_limit], 10, true);
        check(&[&header(11)], 10, false);
        // The header split across chunks, a refusal after a message that fits.
        let over = header(1_000);
        check(&[&over[..2], &over[2..]], 999, false);
        let mut two = header(3);
        two.extend([1, 2, 3]);
        two.extend(header(4));
        check(&[&two[..4], &two[4..9], &two[9..]], 3, false);
        check(&[&two[..4], &two[4..9], &two[9..]], 4, true);
        // An empty message is a header alone.
        check(&[&header(0), &header(0)], 0, true);
    }
}
