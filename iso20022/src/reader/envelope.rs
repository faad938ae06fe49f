//! Elements outside the message: envelopes (any non-ISO wrappers, up to
//! `MAX_ENVELOPE_DEPTH`), `AppHdr` and `Document`, whose namespace selects the schema of
//! the message's version and family.

use super::limits::MAX_ENVELOPE_DEPTH;
use super::state::{Frame, Ns, Role, State};
use super::supported_messages;
use super::units::family_of;
use crate::error::ErrorKind;
use crate::model::MessageKind;
use crate::schema;
use crate::tree::NONE;

const ISO_NS: &str = "urn:iso:std:iso:20022:tech:xsd:";

impl State {
    pub(super) fn start_outside(&mut self, local: &str, ns: Ns, path_len: u32) {
        let ns_str = match &ns {
            Ns::None => "",
            Ns::Expected => "",
            Ns::Other(s) => s.as_str(),
        };
        let mut f = Frame::blank();
        f.path_len = path_len;
        if local == "AppHdr" || local == "Document" {
            let found = schema::by_namespace(ns_str);
            let is_head = local == "AppHdr";
            let schema = match found {
                Some(s) if s.root == local => s,
                _ => {
                    let what = if ns_str.is_empty() {
                        format!("{local} in no namespace")
                    } else {
                        format!("{local} in namespace {ns_str}")
                    };
                    let supported = if is_head {
                        "head.001.001.01 to head.001.001.04".to_owned()
                    } else {
                        supported_messages().join(", ")
                    };
                    self.push_seg_side(local);
                    self.err(ErrorKind::Unsupported {
                        found: what,
                        supported,
                    });
                    return;
                }
            };
            self.truncate_segs(0);
            self.push_seg(if is_head { "AppHdr" } else { "Document" }, 0);
            f.path_len = 0;
            f.schema = Some(schema);
            f.name = schema.root;
            f.ty = schema.root_type;
            if is_head {
                if self.header.is_some() || self.head.is_some() {
                    self.err(ErrorKind::UnexpectedElement("second AppHdr".into()));
                }
                if self.doc.is_some() {
                    self.err(ErrorKind::UnexpectedElement(
                        "AppHdr after the Document".into(),
                    ));
                }
                self.head = Some(schema);
                f.role = Role::AppHdr;
                f.tree = 1;
                self.trees[0].clear();
                f.node = self.trees[0].add(NONE, schema.root, 0);
            } else {
                if self.doc.is_some() {
                    self.err(ErrorKind::UnexpectedElement("second Document".into()));
                    return;
                }
                let fam = match family_of(schema.id) {
                    Some(f) => f,
                    None => {
                        self.err(ErrorKind::Unsupported {
                            found: schema.id.into(),
                            supported: supported_messages().join(", "),
                        });
                        return;
                    }
                };
                self.doc = Some(schema);
                self.fam = Some(fam);
                self.kind = Some(MessageKind {
                    family: fam.family,
                    id: schema.id,
                    namespace: schema.namespace,
                });
                if let Some(h) = &self.header {
                    let def = h.message_definition_id.clone();
                    // a variant suffix in the header (pacs.002.001.03.ch.01) is accepted
                    let base_ok = def == schema.id
                        || def
                            .strip_prefix(schema.id)
                            .is_some_and(|rest| rest.starts_with('.'))
                        || schema
                            .id
                            .strip_prefix(def.as_str())
                            .is_some_and(|rest| rest.starts_with('.'));
                    if !base_ok {
                        self.err_at(
                            "/AppHdr/MsgDefIdr".into(),
                            ErrorKind::HeaderMismatch {
                                header: def,
                                document: schema.id.into(),
                            },
                        );
                    }
                }
                f.role = Role::Document;
            }
            self.push_frame(f);
            return;
        }
        if ns_str.starts_with(ISO_NS) {
            self.push_seg_side(local);
            self.err(ErrorKind::Unsupported {
                found: format!("root element {local} in {ns_str}"),
                supported: supported_messages().join(", "),
            });
            return;
        }
        if self.depth >= MAX_ENVELOPE_DEPTH {
            self.err(ErrorKind::Limit {
                limit: "MAX_ENVELOPE_DEPTH",
                max: MAX_ENVELOPE_DEPTH,
            });
            return;
        }
        f.role = Role::Wrapper;
        self.push_frame(f);
    }
}
