//! The inbound log's messages: every one is composed here, clause by clause.

/// An inbound-log message under construction: clauses in the order they were added, each once,
/// joined by `"; "`.
///
/// - A clause already present is not added again (a user and an agent deactivated for the same
///   reason say so once).
/// - A reason is never empty: `label: reason` with a blank reason (or one that is only a label,
///   like `"out of scope: "`) is cut back to what it says, and a bare label adds nothing (the
///   row's action already names it).
/// - A reason that is a clause already present takes its place: `out of scope: X` followed by
///   `deactivated` for that reason reads `deactivated: out of scope: X`, once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    clauses: Vec<String>,
}

impl Message {
    /// A message of one clause (a run warning).
    pub fn of(text: &str) -> Message {
        let mut message = Message::default();
        message.note(text);
        message
    }

    /// Adds a clause of its own (a plan's note). Blank text adds nothing.
    pub fn note(&mut self, text: &str) -> &mut Self {
        let text = text.trim();
        if !text.is_empty() && !self.clauses.iter().any(|c| c == text) {
            self.clauses.push(text.to_owned());
        }
        self
    }

    /// Adds `label: reason`, or nothing when the reason is empty.
    pub fn reason(&mut self, label: &str, reason: &str) -> &mut Self {
        let reason = without_dangling_labels(reason);
        if reason.is_empty() {
            return self;
        }
        let clause = format!("{label}: {reason}");
        match self.clauses.iter().position(|c| c == reason) {
            Some(at) if !self.clauses.contains(&clause) => self.clauses[at] = clause,
            Some(at) => {
                self.clauses.remove(at);
            }
            None => {
                self.note(&clause);
            }
        }
        self
    }

    /// Whether nothing has been said.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The message, or `None` when there is nothing to say.
    pub fn finish(self) -> Option<String> {
        (!self.is_empty()).then(|| self.clauses.join("; "))
    }
}

/// `reason` without trailing colons and blanks: `"out of scope: "` → `"out of scope"`.
fn without_dangling_labels(reason: &str) -> &str {
    reason.trim().trim_end_matches([':', ' ']).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clause_said_twice_is_said_once() {
        let mut message = Message::default();
        message
            .reason("deactivated", "account disabled in Entra")
            .reason("deactivated", "account disabled in Entra");
        assert_eq!(
            message.finish().as_deref(),
            Some("deactivated: account disabled in Entra")
        );
    }

    #[test]
    fn an_empty_reason_is_left_out_and_a_dangling_label_is_cut() {
        let mut message = Message::default();
        message
            .reason("out of scope", "")
            .reason("deactivated", "out of scope: ");
        assert_eq!(
            message.finish().as_deref(),
            Some("deactivated: out of scope")
        );
        let mut nothing = Message::default();
        nothing.reason("deactivated", " : ").note("  ");
        assert_eq!(nothing.finish(), None);
    }

    #[test]
    fn a_reason_that_is_an_earlier_clause_takes_its_place() {
        let mut message = Message::default();
        message
            .note("team \"Payroll\" does not exist; the default team is left unchanged")
            .reason("out of scope", "not a member of \"SG\" on mapping 10")
            .reason(
                "deactivated",
                "out of scope: not a member of \"SG\" on mapping 10",
            )
            .reason(
                "deactivated",
                "out of scope: not a member of \"SG\" on mapping 10",
            );
        assert_eq!(
            message.finish().as_deref(),
            Some(
                "team \"Payroll\" does not exist; the default team is left unchanged; \
                 deactivated: out of scope: not a member of \"SG\" on mapping 10"
            )
        );
    }

    #[test]
    fn clauses_keep_their_order() {
        let mut message = Message::default();
        message
            .note("deleted in Entra permanently")
            .reason("deactivated", "deleted in Entra permanently")
            .reason("deactivated", "holds inactive role \"Leavers\"");
        assert_eq!(
            message.finish().as_deref(),
            Some(
                "deactivated: deleted in Entra permanently; deactivated: holds inactive role \"Leavers\""
            )
        );
        assert_eq!(
            Message::of("a warning").finish().as_deref(),
            Some("a warning")
        );
    }
}
