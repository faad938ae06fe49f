//! The transactions of a file as the ingest sees them: the [`Cursor`]
//! turns each item the reader gives into an [`Entry`] with its position,
//! path, ids and converted message (or why it is invalid), a file error, or
//! nothing to apply.

use std::sync::Arc;

use iso20022::{MessageFamily, PaymentInfo, Transaction};
use ledger::model::IdempotencyKey;

use super::file::FileHeader;
use super::key::{idempotency_key, TransactionIds};
use crate::convert;

/// Errors of one transaction or file quoted in the report, then "and N more".
const ERRORS_QUOTED_MAX: usize = 5;

/// One transaction of a file, ready for a batch.
#[derive(Debug)]
pub(super) struct Entry {
    /// 1-based, as the reader counts transactions.
    pub(super) position: u64,
    pub(super) path: String,
    pub(super) ids: TransactionIds,
    pub(super) body: EntryBody,
}

#[derive(Debug)]
pub(super) enum EntryBody {
    Valid {
        key: IdempotencyKey,
        business_key: String,
        /// Taken into the batch's command when the entry joins a batch.
        message: Option<Box<ledger::model::PaymentMessage>>,
        /// Set when the entry joins a batch.
        command_index: usize,
    },
    Invalid {
        reason: String,
    },
}

pub(super) enum Item {
    Entry(Box<Entry>),
    /// Not a transaction (a pacs.002 group status).
    Skip,
    /// A problem of the file, not of one transaction: malformed or truncated
    /// XML (`fatal`: the stream ends), group or payment information counts.
    FileError {
        reason: String,
        fatal: bool,
    },
}

/// Where the reader is: positions and, for pain.001, the payment
/// information block, so each transaction gets its own path.
pub(super) struct Cursor<'h> {
    header: &'h FileHeader,
    last_position: u64,
    /// pain.001: the current `PmtInf` (its ordinal, its first transaction's
    /// position, and the shared value the reader hands out with each of its
    /// transactions).
    payment_info: Option<Arc<PaymentInfo>>,
    payment_info_ordinal: u64,
    payment_info_first_position: u64,
    /// A `PmtInf` whose first transaction was invalid: (ordinal, position).
    payment_info_announced: Option<(u64, u64)>,
    /// A `PmtInf` whose header is invalid: its ordinal and why.
    payment_info_invalid: Option<(u64, String)>,
}

fn summarize(errors: &[iso20022::Error]) -> String {
    let mut text = errors
        .iter()
        .take(ERRORS_QUOTED_MAX)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > ERRORS_QUOTED_MAX {
        text.push_str(&format!("; and {} more", errors.len() - ERRORS_QUOTED_MAX));
    }
    text
}

/// The `[n]` after `segment` in `path` (`PmtInf[3]` gives 3).
pub(super) fn index_after(path: &str, segment: &str) -> Option<u64> {
    let start = path.find(segment)? + segment.len();
    let rest = path[start..].strip_prefix('[')?;
    rest[..rest.find(']')?].parse().ok()
}

/// `path` up to and including `segment[n]`.
fn path_through(path: &str, segment: &str) -> Option<String> {
    let start = path.find(segment)?;
    let end = start + path[start..].find(']')? + 1;
    Some(path[..end].to_owned())
}

impl<'h> Cursor<'h> {
    pub(super) fn new(header: &'h FileHeader) -> Cursor<'h> {
        Cursor {
            header,
            last_position: 0,
            payment_info: None,
            payment_info_ordinal: 0,
            payment_info_first_position: 0,
            payment_info_announced: None,
            payment_info_invalid: None,
        }
    }

    fn family(&self) -> MessageFamily {
        self.header.kind.family
    }

    /// The element of one transaction, by family.
    fn transaction_segment(&self) -> &'static str {
        match self.family() {
            MessageFamily::Pacs002 => "/TxInfAndSts",
            MessageFamily::Pacs004 => "/TxInf",
            _ => "/CdtTrfTxInf",
        }
    }

    fn path_of(&self, position: u64) -> String {
        match self.family() {
            MessageFamily::Pain001 => format!(
                "/Document/CstmrCdtTrfInitn/PmtInf[{}]/CdtTrfTxInf[{}]",
                self.payment_info_ordinal,
                position + 1 - self.payment_info_first_position
            ),
            _ => convert::transaction_path(&self.header.kind, position),
        }
    }

    pub(super) fn classify(&mut self, item: Result<Transaction, iso20022::Errors>) -> Item {
        match item {
            Ok(transaction) => self.transaction(transaction),
            Err(errors) => self.errors(errors.0),
        }
    }

    fn transaction(&mut self, transaction: Transaction) -> Item {
        let position = match &transaction {
            Transaction::CreditTransfer(transfer) => transfer.index,
            Transaction::TransactionStatus(status) => status.index,
            Transaction::PaymentReturn(payment_return) => payment_return.index,
            Transaction::GroupStatus(_) => return Item::Skip,
            _ => self.last_position + 1,
        };
        self.last_position = position;
        if let Transaction::CreditTransfer(transfer) = &transaction {
            self.follow_payment_info(transfer.payment_info.as_ref(), position);
        }
        let path = self.path_of(position);
        let ids = TransactionIds::of(&transaction);
        if let Some((ordinal, reason)) = &self.payment_info_invalid {
            if *ordinal == self.payment_info_ordinal && self.family() == MessageFamily::Pain001 {
                return Item::Entry(Box::new(Entry {
                    position,
                    path,
                    ids,
                    body: EntryBody::Invalid {
                        reason: format!("its payment information block is invalid: {reason}"),
                    },
                }));
            }
        }
        let header = self.header;
        let body =
            match convert::payment_message_at(&header.kind, &header.group, &transaction, &path) {
                Ok(Some(message)) => EntryBody::Valid {
                    key: idempotency_key(header.kind.id, &header.group.message_id, position, &ids),
                    business_key: message.business_key.canonical(),
                    message: Some(Box::new(match header.settlement {
                        Some(settlement) => convert::with_settlement(message, settlement),
                        None => message,
                    })),
                    command_index: 0,
                },
                Ok(None) => return Item::Skip,
                Err(errors) => EntryBody::Invalid {
                    reason: errors
                        .iter()
                        .take(ERRORS_QUOTED_MAX)
                        .map(|error| format!("{}: {}", error.path, error.description))
                        .collect::<Vec<_>>()
                        .join("; "),
                },
            };
        Item::Entry(Box::new(Entry {
            position,
            path,
            ids,
            body,
        }))
    }

    /// pain.001: a new shared `PmtInf` value starts a new block.
    fn follow_payment_info(&mut self, info: Option<&Arc<PaymentInfo>>, position: u64) {
        let same = match (info, &self.payment_info) {
            (Some(info), Some(current)) => Arc::ptr_eq(info, current),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        self.payment_info = info.cloned();
        match self.payment_info_announced.take() {
            Some((ordinal, first_position)) if ordinal > self.payment_info_ordinal => {
                self.payment_info_ordinal = ordinal;
                self.payment_info_first_position = first_position;
            }
            _ => {
                self.payment_info_ordinal += 1;
                self.payment_info_first_position = position;
            }
        }
    }

    fn errors(&mut self, errors: Vec<iso20022::Error>) -> Item {
        let summary = summarize(&errors);
        if errors.iter().any(iso20022::Error::is_fatal) {
            return Item::FileError {
                reason: summary,
                fatal: true,
            };
        }
        let is_count = |error: &iso20022::Error| {
            matches!(
                error.kind,
                iso20022::ErrorKind::NbOfTxs { .. } | iso20022::ErrorKind::ControlSum { .. }
            )
        };
        let segment = self.transaction_segment();
        let first_path = errors.first().map_or("", |error| error.path.as_str());
        let in_one_transaction = !errors.iter().any(is_count)
            && path_through(first_path, segment).is_some_and(|transaction| {
                errors
                    .iter()
                    .all(|error| error.path.starts_with(&transaction))
            });
        if in_one_transaction {
            let position = self.last_position + 1;
            self.last_position = position;
            let path = path_through(first_path, segment).expect("checked above");
            if self.family() == MessageFamily::Pain001 {
                if let Some(ordinal) = index_after(&path, "/PmtInf") {
                    if ordinal > self.payment_info_ordinal
                        && self
                            .payment_info_announced
                            .is_none_or(|(announced, _)| announced != ordinal)
                    {
                        self.payment_info_announced = Some((ordinal, position));
                    }
                }
            }
            return Item::Entry(Box::new(Entry {
                position,
                path,
                ids: TransactionIds::default(),
                body: EntryBody::Invalid { reason: summary },
            }));
        }
        let payment_info_header = self.family() == MessageFamily::Pain001
            && !errors.iter().any(is_count)
            && !first_path.contains(segment)
            && index_after(first_path, "/PmtInf").is_some();
        if payment_info_header {
            let ordinal = index_after(first_path, "/PmtInf").expect("checked above");
            self.payment_info_invalid = Some((ordinal, summary));
            return Item::Skip;
        }
        Item::FileError {
            reason: summary,
            fatal: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cut_at_the_transaction() {
        let path = "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[7]/CdtrAcct/Id/IBAN";
        assert_eq!(
            path_through(path, "/CdtTrfTxInf").as_deref(),
            Some("/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[7]")
        );
        assert_eq!(index_after(path, "/PmtInf"), Some(2));
        assert_eq!(index_after(path, "/CdtTrfTxInf"), Some(7));
        assert_eq!(index_after(path, "/TxInf"), None);
    }
}
