//! The status report's `AddtlInf` (Max105Text, repeated without limit in
//! pain.002.001.10 and pacs.002.001.10): the rule first, then where, split
//! over as many elements as it takes, never cut before the rule.

use iso20022::Text;

/// Characters of one `AddtlInf` element (Max105Text).
pub const ELEMENT_CHARS_MAX: usize = 105;
/// `AddtlInf` elements of one transaction: a limit on the report's size;
/// the text of an invalid transaction quotes at most a few errors anyway.
pub const ELEMENTS_MAX: usize = 8;

/// The text of an invalid transaction's reason for its sender: each
/// `PATH: RULE` part (`; `-separated, as the ingest quotes the reader's and
/// the conversion's errors) becomes `RULE (at RELATIVE-PATH)`, the path
/// relative to the transaction's own element, which the entry's ids (or
/// its position) already name.
pub fn rule_first(transaction_path: &str, reason: &str) -> String {
    reason
        .split("; ")
        .map(|part| rule_first_in_part(transaction_path, part))
        .collect::<Vec<_>>()
        .join("; ")
}

fn rule_first_in_part(transaction_path: &str, part: &str) -> String {
    // `PATH: RULE`, possibly after a lead such as "its payment information
    // block is invalid: ".
    let Some(start) = part.find('/') else {
        return part.to_owned();
    };
    let lead = &part[..start];
    if !(lead.is_empty() || lead.ends_with(": ")) {
        return part.to_owned();
    }
    let Some(length) = part[start..].find(": ") else {
        return part.to_owned();
    };
    let path = &part[start..start + length];
    let rule = &part[start + length + 2..];
    if path.contains(' ') || rule.is_empty() {
        return part.to_owned();
    }
    let relative = match path.strip_prefix(transaction_path) {
        Some(inside) => inside.trim_start_matches('/'),
        // Outside the transaction (its payment information block): from
        // the message's root element on.
        None => path
            .splitn(4, '/')
            .nth(3)
            .filter(|rest| !rest.is_empty())
            .unwrap_or(path),
    };
    if relative.is_empty() {
        format!("{lead}{rule}")
    } else {
        format!("{lead}{rule} (at {relative})")
    }
}

/// `text` as `AddtlInf` elements of at most 105 characters, split between
/// words where it can be, at most [`ELEMENTS_MAX`] of them (the last one
/// ends with "..." when the text goes on).
pub fn elements(text: &str) -> Vec<Text<ELEMENT_CHARS_MAX>> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word = word;
        loop {
            let used = current.chars().count();
            let needed = word.chars().count() + usize::from(used > 0);
            if used + needed <= ELEMENT_CHARS_MAX {
                if used > 0 {
                    current.push(' ');
                }
                current.push_str(word);
                break;
            }
            if used > 0 {
                chunks.push(std::mem::take(&mut current));
                continue;
            }
            // One word longer than an element: cut it.
            let cut = word
                .char_indices()
                .nth(ELEMENT_CHARS_MAX)
                .map_or(word.len(), |(index, _)| index);
            chunks.push(word[..cut].to_owned());
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    if chunks.len() > ELEMENTS_MAX {
        chunks.truncate(ELEMENTS_MAX);
        let last = chunks.last_mut().expect("ELEMENTS_MAX > 0");
        let kept: String = last.chars().take(ELEMENT_CHARS_MAX - 3).collect();
        *last = format!("{kept}...");
    }
    chunks
        .iter()
        .filter_map(|chunk| Text::new(chunk).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSACTION: &str = "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[7]";

    #[test]
    fn the_rule_comes_first_and_the_path_is_relative_to_the_transaction() {
        let reason = format!("{TRANSACTION}/CdtrAcct/Id/IBAN: the IBAN's check digits are wrong");
        assert_eq!(
            rule_first(TRANSACTION, &reason),
            "the IBAN's check digits are wrong (at CdtrAcct/Id/IBAN)"
        );
    }

    #[test]
    fn a_rule_about_the_transaction_element_itself_names_no_path() {
        let reason = format!("{TRANSACTION}: a required element is missing");
        assert_eq!(
            rule_first(TRANSACTION, &reason),
            "a required element is missing"
        );
    }

    #[test]
    fn every_quoted_error_is_rewritten_and_a_payment_information_path_starts_at_its_block() {
        let reason = format!(
            "its payment information block is invalid: /Document/CstmrCdtTrfInitn/PmtInf[2]/DbtrAcct/Id/IBAN: bad IBAN; \
             {TRANSACTION}/Amt/InstdAmt: too many decimals"
        );
        assert_eq!(
            rule_first(TRANSACTION, &reason),
            "its payment information block is invalid: bad IBAN (at PmtInf[2]/DbtrAcct/Id/IBAN); \
             too many decimals (at Amt/InstdAmt)"
        );
    }

    #[test]
    fn text_without_a_path_is_kept_as_it_is() {
        for text in ["insufficient funds", "a/b is odd: yes", ""] {
            assert_eq!(rule_first(TRANSACTION, text), text);
        }
    }

    #[test]
    fn a_short_text_is_one_element() {
        let elements = elements("account not found");
        assert_eq!(elements.len(), 1);
        assert_eq!(elements[0].as_str(), "account not found");
    }

    #[test]
    fn a_long_text_is_split_between_words_and_nothing_is_lost() {
        let text = "word ".repeat(60);
        let elements = elements(&text);
        assert!(elements.len() > 1);
        assert!(elements
            .iter()
            .all(|element| element.as_str().chars().count() <= ELEMENT_CHARS_MAX));
        let joined = elements
            .iter()
            .map(|element| element.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(joined, text.trim());
    }

    #[test]
    fn a_word_longer_than_an_element_is_cut_at_a_character_boundary() {
        let text = "é".repeat(250);
        let elements = elements(&text);
        let lengths: Vec<usize> = elements
            .iter()
            .map(|element| element.as_str().chars().count())
            .collect();
        assert_eq!(lengths, [105, 105, 40]);
    }

    #[test]
    fn a_text_beyond_the_limit_ends_with_an_ellipsis() {
        let text = "x".repeat(ELEMENT_CHARS_MAX * (ELEMENTS_MAX + 2));
        let elements = elements(&text);
        assert_eq!(elements.len(), ELEMENTS_MAX);
        let last = elements.last().unwrap().as_str();
        assert!(last.ends_with("..."), "{last}");
        assert_eq!(last.chars().count(), ELEMENT_CHARS_MAX);
    }

    #[test]
    fn an_empty_text_is_no_element() {
        assert!(elements("").is_empty());
        assert!(elements("   ").is_empty());
    }
}
