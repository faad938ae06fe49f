//! The request metrics, as a tower layer in front of every service: each
//! request is counted by RPC and gRPC status code when its response ends,
//! its duration recorded, and the in-flight gauge kept.
//!
//! The status code is in the response headers for an error answered at once
//! (a trailers-only response) and in the trailers otherwise; a response
//! dropped before either (the client went away) counts as `CANCELLED`.
//! Requests refused before they reach the layer (the per-connection
//! concurrency limit's load shedding) are not counted here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prost::Message as _;
use tokio::time::Instant;
use tonic::body::Body;
use tonic::Status;

use super::{REQUESTS_IN_FLIGHT, REQUESTS_TOTAL, REQUEST_DURATION_SECONDS};

/// The `rpc` label of each path the server serves, read from the
/// descriptor sets it serves: a LedgerService method is labelled by its
/// name, another service's as `Service.Method`. Built once; a bounded set.
static RPC_LABELS: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let mut labels = HashMap::new();
    for encoded in [
        crate::grpc::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ] {
        let set = prost_types::FileDescriptorSet::decode(encoded)
            .expect("the embedded descriptor sets decode");
        for file in &set.file {
            let package = file.package();
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{package}.{}/{}", service.name(), method.name());
                    let label = if package == LEDGER_PACKAGE {
                        method.name().to_owned()
                    } else {
                        format!("{}.{}", service.name(), method.name())
                    };
                    labels
                        .entry(path)
                        .or_insert_with(|| &*Box::leak(label.into_boxed_str()));
                }
            }
        }
    }
    labels
});

/// The package whose methods are labelled by their bare names.
const LEDGER_PACKAGE: &str = "ledger.v1";

/// The `rpc` label of a request path; a path the server does not serve is
/// `unknown`, so that a client cannot mint label values.
pub fn rpc_label(path: &str) -> &'static str {
    RPC_LABELS.get(path).copied().unwrap_or("unknown")
}

/// The `code` label of each gRPC status code, by number.
const CODE_LABELS: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The `code` label of a `grpc-status` header or trailer, when present.
fn grpc_code(headers: &http::HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?;
    let number: usize = value.to_str().ok()?.parse().ok()?;
    Some(CODE_LABELS.get(number).copied().unwrap_or("UNKNOWN"))
}

/// Wraps each service in [`RequestMetrics`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestMetricsLayer;

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> RequestMetrics<S> {
        RequestMetrics { inner }
    }
}

/// See [`RequestMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for RequestMetrics<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut record = RequestRecord::start(rpc_label(request.uri().path()));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            record.code = grpc_code(response.headers());
            Ok(response.map(|body| {
                Body::new(RecordedBody {
                    inner: body,
                    record,
                })
            }))
        })
    }
}

/// One request being served: recorded once, when dropped.
struct RequestRecord {
    rpc: &'static str,
    started: Instant,
    /// The status code, once known.
    code: Option<&'static str>,
}

impl RequestRecord {
    fn start(rpc: &'static str) -> RequestRecord {
        ::metrics::gauge!(REQUESTS_IN_FLIGHT, "rpc" => rpc).increment(1.0);
        RequestRecord {
            rpc,
            started: Instant::now(),
            code: None,
        }
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let rpc = self.rpc;
        let code = self.code.unwrap_or("CANCELLED");
        ::metrics::gauge!(REQUESTS_IN_FLIGHT, "rpc" => rpc).decrement(1.0);
        ::metrics::counter!(REQUESTS_TOTAL, "rpc" => rpc, "code" => code).increment(1);
        ::metrics::histogram!(REQUEST_DURATION_SECONDS, "rpc" => rpc)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// A response body that takes the status code from the trailers; the
/// request is recorded when the body is dropped (after its end, or when the
/// client went away).
struct RecordedBody {
    inner: Body,
    record: RequestRecord,
}

impl http_body::Body for RecordedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_code) {
                    self.record.code = Some(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                self.record.code = Some(
                    CODE_LABELS
                        .get(status.code() as usize)
                        .copied()
                        .unwrap_or("UNKNOWN"),
                );
            }
            Poll::Ready(None) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_are_labelled_by_their_method_and_others_as_unknown() {
        assert_eq!(
            rpc_label("/ledger.v1.LedgerService/SubmitPayment"),
            "SubmitPayment"
        );
        assert_eq!(rpc_label("/grpc.health.v1.Health/Check"), "Health.Check");
        assert_eq!(
            rpc_label("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            "ServerReflection.ServerReflectionInfo"
        );
        assert_eq!(rpc_label("/ledger.v1.LedgerService/Anything"), "unknown");
        assert_eq!(rpc_label("/a/b"), "unknown");
    }

    #[test]
    fn grpc_status_numbers_are_labelled_by_their_canonical_names() {
        for (number, label) in [
            ("0", "OK"),
            ("3", "INVALID_ARGUMENT"),
            ("16", "UNAUTHENTICATED"),
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-status", number.parse().unwrap());
            assert_eq!(grpc_code(&headers), Some(label));
        }
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(grpc_code(&headers), Some("UNKNOWN"));
        assert_eq!(grpc_code(&http::HeaderMap::new()), None);
    }

    #[test]
    fn every_ledger_service_rpc_has_a_label() {
        let pool = prost_reflect::DescriptorPool::decode(crate::grpc::proto::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set decodes");
        let service = pool
            .get_service_by_name("ledger.v1.LedgerService")
            .expect("the descriptor set has the ledger service");
        for method in service.methods() {
            let path = format!("/ledger.v1.LedgerService/{}", method.name());
            assert_eq!(rpc_label(&path), method.name(), "{path}");
        }
    }
}
