//! The units of each message family: which elements are records and containers, and the
//! typed values built when a unit ends (AppHdr, group header, PmtInf, statements, records),
//! with the group-level checks (NbOfTxs, CtrlSum, TtlIntrBkSttlmAmt) at the message's end.

use super::state::State;
use crate::error::ErrorKind;
use crate::model::{self, Ex, MessageFamily, Transaction};
use rust_decimal::Decimal;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub(super) struct FamilyDef {
    pub(super) family: MessageFamily,
    pub(super) records: &'static [&'static str],
    /// (container element, record element inside it)
    pub(super) containers: &'static [(&'static str, &'static str)],
}

pub(super) fn family_of(id: &str) -> Option<FamilyDef> {
    let f = |family, records, containers| {
        Some(FamilyDef {
            family,
            records,
            containers,
        })
    };
    match id.get(..8)? {
        "pacs.008" => f(MessageFamily::Pacs008, &["CdtTrfTxInf"], &[]),
        "pain.001" => f(MessageFamily::Pain001, &[], &[("PmtInf", "CdtTrfTxInf")]),
        "pacs.002" => f(
            MessageFamily::Pacs002,
            &["OrgnlGrpInfAndSts", "TxInfAndSts"],
            &[],
        ),
        "pain.002" => f(
            MessageFamily::Pain002,
            &["OrgnlGrpInfAndSts"],
            &[("OrgnlPmtInfAndSts", "TxInfAndSts")],
        ),
        "pacs.004" => f(MessageFamily::Pacs004, &["TxInf"], &[]),
        "camt.053" => f(MessageFamily::Camt053, &[], &[("Stmt", "Ntry")]),
        "camt.054" => f(MessageFamily::Camt054, &[], &[("Ntfctn", "Ntry")]),
        _ => None,
    }
}

impl State {
    #[inline(never)]
    pub(super) fn app_header_end(&mut self) {
        let version = self.head.map(|h| h.id).unwrap_or("");
        let mut errs = std::mem::take(&mut self.errs);
        if let Some(root) = self.trees[0].root() {
            let h = model::app_header(&mut Ex { errs: &mut errs }, version, root);
            self.header = Some(h);
        }
        self.errs = errs;
        self.trees[0].clear();
    }

    #[inline(never)]
    pub(super) fn top_end(&mut self) {
        let mut errs = std::mem::take(&mut self.errs);
        if let Some(root) = self.trees[0].root() {
            let mut ex = Ex { errs: &mut errs };
            match root.name() {
                "GrpHdr" => {
                    self.group = Some(model::group_header(&mut ex, root));
                    self.group_done = true;
                }
                "OrgnlGrpInf" => {
                    self.orig_group = Some((
                        root.string(&["OrgnlMsgId"]).unwrap_or_default(),
                        root.string(&["OrgnlMsgNmId"]).unwrap_or_default(),
                    ));
                }
                _ => {}
            }
        }
        self.errs = errs;
        self.trees[0].clear();
        if self.group_done {
            self.flush_errors();
        }
    }

    #[inline(never)]
    pub(super) fn container_start(&mut self) {
        self.pmt = None;
        self.pmt_count = 0;
        self.pmt_sum = Decimal::ZERO;
        self.pmt_path = self.path();
        self.stmt_emitted = false;
        self.stmt_id.clear();
    }

    /// Called when the first record of a container starts: its header is complete.
    #[inline(never)]
    pub(super) fn record_in_container_start(&mut self) {
        let fam = self.fam.map(|f| f.family);
        let mut errs = std::mem::take(&mut self.errs);
        if let Some(root) = self.trees[0].root() {
            let mut ex = Ex { errs: &mut errs };
            match fam {
                Some(MessageFamily::Pain001) if self.pmt.is_none() => {
                    self.pmt = Some(Arc::new(model::payment_info(&mut ex, root)));
                }
                Some(MessageFamily::Pain002) if self.pmt.is_none() => {
                    self.stmt_id = root.string(&["OrgnlPmtInfId"]).unwrap_or_default();
                    self.pmt = Some(Arc::default());
                }
                Some(MessageFamily::Camt053 | MessageFamily::Camt054) if !self.stmt_emitted => {
                    let s = model::statement(&mut ex, root);
                    self.stmt_id = s.id.clone();
                    self.stmt_emitted = true;
                    if ex.errs.is_empty() {
                        self.ready = true;
                        self.out.push_back(Ok(Transaction::Statement(s)));
                    }
                }
                _ => {}
            }
        }
        self.errs = errs;
        self.flush_errors();
    }

    #[inline(never)]
    pub(super) fn container_end(&mut self) {
        let fam = self.fam.map(|f| f.family);
        match fam {
            Some(MessageFamily::Camt053 | MessageFamily::Camt054) if !self.stmt_emitted => {
                self.record_in_container_start();
            }
            Some(MessageFamily::Pain001) => {
                if self.pmt.is_none() {
                    self.record_in_container_start();
                }
                if let Some(p) = self.pmt.clone() {
                    self.check_counts(
                        &format!("{}/NbOfTxs", self.pmt_path),
                        &format!("{}/CtrlSum", self.pmt_path),
                        p.number_of_transactions,
                        p.control_sum,
                        self.pmt_count,
                        self.pmt_sum,
                    );
                }
            }
            _ => {}
        }
        self.trees[0].clear();
        self.pmt = None;
        self.flush_errors();
    }

    fn check_counts(
        &mut self,
        nb_path: &str,
        sum_path: &str,
        declared: Option<u64>,
        ctrl: Option<Decimal>,
        count: u64,
        sum: Decimal,
    ) {
        if let Some(n) = declared {
            if n != count {
                self.err_at(
                    nb_path.to_owned(),
                    ErrorKind::NbOfTxs {
                        declared: n.to_string(),
                        counted: count,
                    },
                );
            }
        }
        if let Some(c) = ctrl {
            if c.normalize() != sum.normalize() {
                self.err_at(
                    sum_path.to_owned(),
                    ErrorKind::ControlSum {
                        field: "CtrlSum",
                        declared: c.normalize().to_string(),
                        computed: sum.normalize().to_string(),
                    },
                );
            }
        }
    }

    #[inline(never)]
    pub(super) fn record_end(&mut self) {
        let fam = match self.fam {
            Some(f) => f.family,
            None => return,
        };
        self.count += 1;
        let index = self.count;
        let mut errs = std::mem::take(&mut self.errs);
        let mut tx = None;
        let mut ct_done = false;
        if matches!(fam, MessageFamily::Pacs008 | MessageFamily::Pain001) {
            // built while streaming; its conversion errors come after the schema errors
            // (`finish` adds none: it runs when the transfer is yielded)
            for e in self.ctb.errs.drain(..) {
                if !errs.iter().any(|x| x.path == e.path) {
                    errs.push(e);
                }
            }
            if let Some(a) = self.ctb.ct.amount() {
                self.sum += a.value();
                self.pmt_sum += a.value();
            }
            self.pmt_count += 1;
            ct_done = true;
        } else if let Some(root) = self.trees[1].root() {
            let mut ex = Ex { errs: &mut errs };
            tx = match (fam, root.name()) {
                // built while streaming (above)
                (MessageFamily::Pacs008 | MessageFamily::Pain001, _) => None,
                (MessageFamily::Pacs002 | MessageFamily::Pain002, "OrgnlGrpInfAndSts") => {
                    self.count -= 1;
                    let g = model::group_status(&mut ex, root);
                    self.orig_group = Some((
                        g.original_message_id.clone(),
                        g.original_message_name_id.clone(),
                    ));
                    Some(Transaction::GroupStatus(g))
                }
                (MessageFamily::Pacs002 | MessageFamily::Pain002, _) => {
                    let pmt = if fam == MessageFamily::Pain002 {
                        Some(self.stmt_id.as_str())
                    } else {
                        None
                    };
                    Some(Transaction::TransactionStatus(model::transaction_status(
                        &mut ex,
                        root,
                        index,
                        self.orig_group.as_ref(),
                        pmt,
                    )))
                }
                (MessageFamily::Pacs004, _) => {
                    let r = model::payment_return(&mut ex, root, index, self.orig_group.as_ref());
                    if let Some(a) = r.returned_interbank_settlement_amount {
                        self.sum += a.value();
                    }
                    Some(Transaction::PaymentReturn(r))
                }
                (MessageFamily::Camt053 | MessageFamily::Camt054, _) => Some(Transaction::Entry(
                    model::entry(&mut ex, root, index, &self.stmt_id),
                )),
            };
        }
        self.trees[1].clear();
        if errs.is_empty() {
            if ct_done && self.out.is_empty() {
                self.ct_ready = Some(index);
                self.ready = true;
            } else if ct_done {
                let ct = self.ctb.finish(index, self.pmt.as_ref());
                self.ready = true;
                self.out.push_back(Ok(Transaction::CreditTransfer(ct)));
            } else if let Some(tx) = tx {
                self.ready = true;
                self.out.push_back(Ok(tx));
            }
            self.errs = errs;
        } else {
            self.errs = errs;
            self.flush_errors();
        }
    }

    #[inline(never)]
    pub(super) fn message_end(&mut self) {
        let fam = match self.fam {
            Some(f) => f.family,
            None => return,
        };
        let base = self.path();
        let g = self.group.clone().unwrap_or_default();
        match fam {
            MessageFamily::Pacs008 | MessageFamily::Pain001 | MessageFamily::Pacs004 => {
                self.check_counts(
                    &format!("{base}/GrpHdr/NbOfTxs"),
                    &format!("{base}/GrpHdr/CtrlSum"),
                    g.number_of_transactions,
                    g.control_sum,
                    self.count,
                    self.sum,
                );
                if let Some(t) = g.total_interbank_settlement_amount {
                    if t.value().normalize() != self.sum.normalize() {
                        let field = if fam == MessageFamily::Pacs004 {
                            "TtlRtrdIntrBkSttlmAmt"
                        } else {
                            "TtlIntrBkSttlmAmt"
                        };
                        self.err_at(
                            format!("{base}/GrpHdr/{field}"),
                            ErrorKind::ControlSum {
                                field,
                                declared: t.value().normalize().to_string(),
                                computed: self.sum.normalize().to_string(),
                            },
                        );
                    }
                }
            }
            _ => {}
        }
        self.flush_errors();
    }
}
