//! Administrative changes: who changed which account or mapping, when, and
//! from what to what. Recorded in the same transaction as the change.

use std::time::SystemTime;

use super::ids::ClientId;

/// What an administrative change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminAction {
    OpenAccount,
    SetSettlementAccount,
    SetClearingAccount,
}

impl AdminAction {
    pub const ALL: [AdminAction; 3] = [
        AdminAction::OpenAccount,
        AdminAction::SetSettlementAccount,
        AdminAction::SetClearingAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::OpenAccount => "OPEN_ACCOUNT",
            AdminAction::SetSettlementAccount => "SET_SETTLEMENT_ACCOUNT",
            AdminAction::SetClearingAccount => "SET_CLEARING_ACCOUNT",
        }
    }

    pub fn parse(text: &str) -> Option<AdminAction> {
        AdminAction::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
    }
}

impl std::fmt::Display for AdminAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded change. `subject` names what changed (`account IBAN`,
/// `settlement BIC EUR`, `clearing EUR`); the values are the account
/// reference a mapping named before and after, or an opened account's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminChange {
    pub change_id: i64,
    pub changed_at: SystemTime,
    pub client_id: ClientId,
    pub action: AdminAction,
    pub subject: String,
    pub value_before: Option<String>,
    pub value_after: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_as_itself_and_nothing_else_is_an_action() {
        for action in AdminAction::ALL {
            assert_eq!(AdminAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AdminAction::parse("open_account"), None);
        assert_eq!(AdminAction::parse("DELETE_ACCOUNT"), None);
    }
}
