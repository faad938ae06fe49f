//! The harness's gRPC client: pacs.008 documents, one SubmitPayment call
//! classified as a definitive answer, a retryable error (outcome unknown to
//! the caller: retried under the same key) or a non-retryable one, and the
//! retry loop a careful client runs.

use std::time::{Duration, Instant};

use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_types::StatusExt;

use crate::processes::TOKEN;
use crate::scorecard::Scorecard;

/// A lazily connecting channel to `endpoint` (it reconnects after the server
/// was killed and started again on the same port).
pub fn channel(endpoint: &str) -> Channel {
    Endpoint::from_shared(endpoint.to_owned())
        .expect("an endpoint")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(20))
        .connect_lazy()
}

/// A one-transaction pacs.008.001.08 from `debtor` to `creditor` (both held
/// by the ledger), settled at once.
pub fn pacs008(
    id: &str,
    debtor: &str,
    creditor: &str,
    currency: &str,
    amount_minor: u64,
) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
         <CdtTrfTxInf><PmtId><InstrId>{id}</InstrId><EndToEndId>{id}</EndToEndId></PmtId>\
         <IntrBkSttlmAmt Ccy=\"{currency}\">{units}.{cents:02}</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>\
         <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
         <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id></DbtrAcct>\
         <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
         <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
         <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><Othr><Id>{creditor}</Id></Othr></Id></CdtrAcct>\
         </CdtTrfTxInf></FIToFICstmrCdtTrf></Document>",
        units = amount_minor / 100,
        cents = amount_minor % 100,
    )
    .into_bytes()
}

/// What one call answered.
#[derive(Debug, Clone)]
pub enum Call {
    /// A definitive answer: every result is APPLIED, ALREADY_APPLIED,
    /// DUPLICATE or a REJECTED that is not transient.
    Answer(proto::SubmitPaymentResponse),
    /// A retryable error or a transient refusal: `code` (gRPC code and
    /// ErrorInfo reason, or the transient reason code).
    Retry { code: String },
    /// A non-retryable error.
    Fatal { code: String, message: String },
}

/// The result codes `docs/api.md` calls transient: nothing was applied.
const TRANSIENT_REASONS: &[&str] = &["REQUEST_NOT_APPLIED", "ORIGINAL_NOT_FOUND"];

pub async fn submit_once(channel: &Channel, key: &str, document: &[u8]) -> Call {
    let mut client = LedgerServiceClient::new(channel.clone());
    let mut request = tonic::Request::new(proto::SubmitPaymentRequest {
        document: document.to_vec(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    match client.submit_payment(request).await {
        Ok(response) => {
            let response = response.into_inner();
            let transient = response.results.iter().find(|result| {
                result.outcome() == Outcome::Rejected
                    && TRANSIENT_REASONS.contains(&result.reason_code.as_str())
            });
            match transient {
                Some(result) => Call::Retry {
                    code: format!("REJECTED {}", result.reason_code),
                },
                None => Call::Answer(response),
            }
        }
        Err(status) => {
            let reason = status
                .get_details_error_info()
                .map(|info| format!(" {}", info.reason))
                .unwrap_or_default();
            let code = format!("{:?}{reason}", status.code());
            match status.code() {
                // Retryable by docs/api.md, or the connection broke (the
                // server was killed mid-call): the outcome is unknown.
                Code::Unavailable
                | Code::Aborted
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::ResourceExhausted
                | Code::Unknown => Call::Retry { code },
                _ => Call::Fatal {
                    code,
                    message: status.message().to_owned(),
                },
            }
        }
    }
}

/// How a key's calls ended.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The definitive answer, if one came before the deadline.
    pub answer: Option<proto::SubmitPaymentResponse>,
    /// Every retryable error seen, by code.
    pub retries: Vec<String>,
    /// A non-retryable error (the loop stops at it).
    pub fatal: Option<String>,
}

/// Sends `document` under `key` until a definitive answer, rotating over
/// `channels` after each retryable error, for at most `patience`; counts
/// every call on `scorecard`.
pub async fn submit_until_answered(
    channels: &[Channel],
    first_channel: usize,
    key: &str,
    document: &[u8],
    patience: Duration,
    scorecard: &Scorecard,
) -> Resolution {
    let deadline = Instant::now() + patience;
    let mut resolution = Resolution {
        answer: None,
        retries: Vec::new(),
        fatal: None,
    };
    let mut attempt = 0usize;
    loop {
        let channel = &channels[(first_channel + attempt) % channels.len()];
        match submit_once(channel, key, document).await {
            Call::Answer(response) => {
                scorecard.count_ok();
                resolution.answer = Some(response);
                return resolution;
            }
            Call::Fatal { code, message } => {
                scorecard.count_failed();
                resolution.fatal = Some(format!("{code}: {message}"));
                return resolution;
            }
            Call::Retry { code } => {
                scorecard.count_unknown();
                resolution.retries.push(code);
            }
        }
        if Instant::now() >= deadline {
            return resolution;
        }
        attempt += 1;
        let backoff = Duration::from_millis(20 * (attempt.min(10) as u64));
        tokio::time::sleep(backoff).await;
    }
}
