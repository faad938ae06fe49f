//! Idempotency records, and the stored responses replays return byte for byte.

use std::time::SystemTime;

use deadpool_postgres::Transaction;
use serde::{Deserialize, Serialize};

use super::{corrupt, execute, query, StoreError};
use crate::model::{ClientId, IdempotencyKey, RequestFingerprint};

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub request_fingerprint: RequestFingerprint,
    pub response: Vec<u8>,
}

/// The records stored under `(client_id, key)` pairs, those that exist.
pub async fn select_idempotency_records(
    tx: &Transaction<'_>,
    keys: &[(&ClientId, &IdempotencyKey)],
) -> Result<Vec<(ClientId, IdempotencyKey, IdempotencyRecord)>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let clients: Vec<&str> = keys.iter().map(|(client, _)| client.as_str()).collect();
    let idempotency_keys: Vec<&str> = keys.iter().map(|(_, key)| key.as_str()).collect();
    let rows = query(
        tx,
        "SELECT r.client_id, r.idempotency_key, r.request_fingerprint, r.response \
         FROM idempotency_records r \
         JOIN unnest($1::TEXT[], $2::TEXT[]) AS w (client_id, idempotency_key) \
           ON r.client_id = w.client_id AND r.idempotency_key = w.idempotency_key",
        &[&clients, &idempotency_keys],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let client: String = row.get(0);
            let key: String = row.get(1);
            let fingerprint: Vec<u8> = row.get(2);
            let fingerprint: [u8; 32] = fingerprint
                .try_into()
                .map_err(|_| corrupt("idempotency_records", "fingerprint is not 32 bytes"))?;
            Ok((
                ClientId::parse(&client).map_err(|error| corrupt("idempotency_records", error))?,
                IdempotencyKey::parse(&key)
                    .map_err(|error| corrupt("idempotency_records", error))?,
                IdempotencyRecord {
                    request_fingerprint: RequestFingerprint::from_bytes(fingerprint),
                    response: row.get(3),
                },
            ))
        })
        .collect()
}

/// A record to store under `(client_id, key)`.
#[derive(Debug)]
pub struct NewIdempotencyRecord<'a> {
    pub client_id: &'a ClientId,
    pub key: &'a IdempotencyKey,
    pub record: IdempotencyRecord,
}

/// Stores idempotency records, one statement for all. A concurrent
/// transaction that stored one of the keys first makes this a unique
/// violation: the whole batch is retried and then answers from its record.
pub async fn insert_idempotency_records(
    tx: &Transaction<'_>,
    records: &[NewIdempotencyRecord<'_>],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let clients: Vec<&str> = records.iter().map(|r| r.client_id.as_str()).collect();
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let fingerprints: Vec<&[u8]> = records
        .iter()
        .map(|r| r.record.request_fingerprint.as_bytes().as_slice())
        .collect();
    let responses: Vec<&[u8]> = records
        .iter()
        .map(|r| r.record.response.as_slice())
        .collect();
    execute(
        tx,
        "INSERT INTO idempotency_records \
         (client_id, idempotency_key, request_fingerprint, response) \
         SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::BYTEA[])",
        &[&clients, &keys, &fingerprints, &responses],
    )
    .await?;
    Ok(())
}

/// Deletes idempotency records created before `cutoff`; returns how many.
pub async fn delete_idempotency_records_before(
    tx: &Transaction<'_>,
    cutoff: SystemTime,
) -> Result<u64, StoreError> {
    execute(
        tx,
        "DELETE FROM idempotency_records WHERE created_at < $1",
        &[&cutoff],
    )
    .await
}

/// The stored answer to one command: a receipt per message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredResponse {
    pub receipts: Vec<StoredReceipt>,
}

/// The serializable counterpart of [`crate::Receipt`], private to the store:
/// its bytes are what replays return. Field order and names are part of the
/// stored format; add fields only with defaults.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredReceipt {
    pub outcome: String,
    pub reason: Option<StoredReason>,
    pub business_key: String,
    pub payment_id: Option<i64>,
    pub state: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredReason {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub account_id: Option<i64>,
    #[serde(default)]
    pub current_state: Option<String>,
    #[serde(default)]
    pub requested_state: Option<String>,
}
