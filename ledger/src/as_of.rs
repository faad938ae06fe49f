//! Balances as of a moment (`Ledger::get_account_as_of`): an account's
//! balances as they stood at a given time, read from the running balances
//! every transfer records (`V8__running_balances.sql`), in one REPEATABLE
//! READ READ ONLY snapshot.
//!
//! Exact for any time before the oldest transaction still running began:
//! a transfer is stamped when it is written, under its accounts' row locks,
//! so an account's transfers are in the same order by time as by id, and
//! one committing later can only carry a later time.

use std::time::SystemTime;

use tokio_postgres::IsolationLevel;

use crate::error::LedgerError;
use crate::model::{Account, AccountId};
use crate::store::{self, StoreError};

impl crate::Ledger {
    /// The account with its balances as they stood at `as_of` (zero before
    /// its first transfer); `None` when there is no such account.
    pub async fn get_account_as_of(
        &self,
        account_id: AccountId,
        as_of: SystemTime,
    ) -> Result<Option<Account>, LedgerError> {
        let mut connection = self.checkout().await?;
        let tx = connection
            .begin(IsolationLevel::RepeatableRead, true)
            .await?;
        let read = async {
            let Some(account) = store::select_account_by_id(&tx, account_id).await? else {
                return Ok::<_, StoreError>(None);
            };
            let balances = store::select_balances_as_of(&tx, account_id, as_of).await?;
            Ok(Some(Account {
                balances,
                ..account
            }))
        }
        .await;
        let ended = tx.rollback().await.map_err(StoreError::from);
        connection.clean = ended.is_ok();
        let account = read?;
        ended?;
        Ok(account)
    }
}
