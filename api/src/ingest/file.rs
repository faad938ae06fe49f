//! An input file: its reader, what it says before its transactions, and
//! its stamp, to notice it changing under us.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use iso20022::{GroupHeader, MessageKind, MessageReader};
use ledger::model::DocumentOrigin;

use crate::convert::Settlement;

/// Read buffer of an input file.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Size and modification time, to notice a file changing under us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileStamp {
    length: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    pub(super) fn of(path: &Path) -> std::io::Result<FileStamp> {
        let metadata = std::fs::metadata(path)?;
        if !metadata.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok(FileStamp {
            length: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }

    pub(super) fn changed_since(&self, path: &Path) -> bool {
        FileStamp::of(path).map_or(true, |now| now != *self)
    }
}

type FileReader = MessageReader<BufReader<File>>;

pub(super) fn open_reader(path: &Path) -> std::io::Result<Result<FileReader, iso20022::Errors>> {
    let file = File::open(path)?;
    Ok(MessageReader::new(BufReader::with_capacity(
        READ_BUFFER_BYTES,
        file,
    )))
}

/// What a file says before its transactions.
#[derive(Debug, Clone)]
pub(super) struct FileHeader {
    pub(super) kind: MessageKind,
    pub(super) group: GroupHeader,
    pub(super) origin: DocumentOrigin,
    /// When the file's credit transfers settle, if `--settlement` says.
    pub(super) settlement: Option<Settlement>,
}

impl FileHeader {
    pub(super) fn of<R: BufRead>(
        reader: &MessageReader<R>,
        settlement: Option<Settlement>,
    ) -> FileHeader {
        let kind = reader.kind();
        let group = reader.group_header().clone();
        FileHeader {
            origin: DocumentOrigin {
                message_id: group.message_id.clone(),
                message_name_id: kind.id.to_owned(),
            },
            kind,
            group,
            settlement,
        }
    }

    /// The number of transactions the group header announces.
    pub(super) fn total(&self) -> Option<u64> {
        self.group.number_of_transactions
    }
}
