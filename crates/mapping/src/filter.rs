//! `where` filters (`eq, ne, contains, starts_with, ends_with, in, present, absent, matches`; case-insensitive unless `case_sensitive`; rows are ANDed): compiled once, evaluated per person without allocating for
//! ASCII values.

use std::sync::Arc;

use regex::{Regex, RegexBuilder};

use crate::catalogue::Attribute;
use crate::compile::attribute_at;
use crate::entra_user::AttributeValue;
use crate::problem::Problem;
use crate::spec::{FilterOp, FilterSpec, FilterValue};

/// A compiled `where` row.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub(crate) attribute: Attribute,
    op: FilterOp,
    /// Operands, lower-cased when the comparison ignores case.
    operands: Vec<Box<str>>,
    regex: Option<Regex>,
    case_sensitive: bool,
    /// `country eq "GB"`, for out-of-scope reasons.
    pub(crate) description: Arc<str>,
}

impl Filter {
    /// Compiles the filter at `path` (`site_mapping[0].where[1]`), pushing every problem.
    pub(crate) fn compile(
        spec: &FilterSpec,
        path: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<Filter> {
        let attribute = attribute_at(&spec.entra, &format!("{path}.entra"), problems);
        let value_path = format!("{path}.value");
        let operands: Option<Vec<String>> = match (spec.op, &spec.value) {
            (FilterOp::Present | FilterOp::Absent, None) => Some(Vec::new()),
            (FilterOp::Present | FilterOp::Absent, Some(_)) => {
                problems.push(Problem::new(
                    value_path,
                    format!("{} takes no value; remove `value`", op_name(spec.op)),
                ));
                None
            }
            (op, None) => {
                problems.push(Problem::new(
                    value_path,
                    format!("{} needs a value", op_name(op)),
                ));
                None
            }
            (FilterOp::In, Some(FilterValue::List(items))) => Some(items.clone()),
            (FilterOp::In, Some(_)) => {
                problems.push(Problem::new(
                    value_path,
                    "in needs a list of values, e.g. value = [\"GB\", \"IE\"]",
                ));
                None
            }
            (op, Some(FilterValue::List(_))) => {
                problems.push(Problem::new(
                    value_path,
                    format!(
                        "{} compares with one value; only `in` takes a list",
                        op_name(op)
                    ),
                ));
                None
            }
            (_, Some(FilterValue::Text(text))) => Some(vec![text.clone()]),
            (_, Some(FilterValue::Bool(flag))) => Some(vec![flag.to_string()]),
            (_, Some(FilterValue::Integer(number))) => Some(vec![number.to_string()]),
        };
        let regex = match (spec.op, operands.as_deref()) {
            (FilterOp::Matches, Some([pattern])) => {
                match RegexBuilder::new(pattern)
                    .case_insensitive(!spec.case_sensitive)
                    .build()
                {
                    Ok(regex) => Some(regex),
                    Err(error) => {
                        let first_line = error
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_owned();
                        problems.push(Problem::new(
                            format!("{path}.value"),
                            format!("invalid regular expression \"{pattern}\": {first_line}"),
                        ));
                        return None;
                    }
                }
            }
            _ => None,
        };
        let attribute = attribute?;
        let operands = operands?;
        let description = describe(&spec.entra, spec.op, &operands);
        let operands = operands
            .into_iter()
            .map(|operand| {
                if spec.case_sensitive {
                    operand.into_boxed_str()
                } else {
                    operand.to_lowercase().into_boxed_str()
                }
            })
            .collect();
        Some(Filter {
            attribute,
            op: spec.op,
            operands,
            regex,
            case_sensitive: spec.case_sensitive,
            description: Arc::from(description),
        })
    }

    /// Whether the attribute's value passes the filter. A list value (e.g. `assignedLicenses`)
    /// passes when any element does; `ne` passes when no element equals.
    pub(crate) fn matches(&self, value: AttributeValue<'_>) -> bool {
        match self.op {
            FilterOp::Present => !value.is_empty(),
            FilterOp::Absent => value.is_empty(),
            FilterOp::Ne => !value.any(|text| self.equals_any(text)),
            FilterOp::Eq | FilterOp::In => value.any(|text| self.equals_any(text)),
            FilterOp::Contains => value.any(|text| self.test(text, contains)),
            FilterOp::StartsWith => value.any(|text| self.test(text, starts_with)),
            FilterOp::EndsWith => value.any(|text| self.test(text, ends_with)),
            FilterOp::Matches => {
                value.any(|text| self.regex.as_ref().is_some_and(|re| re.is_match(text)))
            }
        }
    }

    fn equals_any(&self, text: &str) -> bool {
        self.test(text, same)
    }

    /// Runs `compare(value, operand, ascii_fold)` against each operand. ASCII values are compared
    /// folding ASCII case in place; only non-ASCII values are lower-cased into a new string.
    fn test(&self, text: &str, compare: impl Fn(&[u8], &[u8], bool) -> bool) -> bool {
        if self.case_sensitive {
            return self
                .operands
                .iter()
                .any(|o| compare(text.as_bytes(), o.as_bytes(), false));
        }
        if text.is_ascii() {
            return self
                .operands
                .iter()
                .any(|o| compare(text.as_bytes(), o.as_bytes(), true));
        }
        let lowered = text.to_lowercase();
        self.operands
            .iter()
            .any(|o| compare(lowered.as_bytes(), o.as_bytes(), false))
    }
}

fn same(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    if fold {
        hay.eq_ignore_ascii_case(needle)
    } else {
        hay == needle
    }
}

fn contains(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|window| same(window, needle, fold))
}

fn starts_with(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    hay.get(..needle.len())
        .is_some_and(|head| same(head, needle, fold))
}

fn ends_with(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    hay.len()
        .checked_sub(needle.len())
        .and_then(|start| hay.get(start..))
        .is_some_and(|tail| same(tail, needle, fold))
}

fn op_name(op: FilterOp) -> &'static str {
    match op {
        FilterOp::Eq => "eq",
        FilterOp::Ne => "ne",
        FilterOp::Contains => "contains",
        FilterOp::StartsWith => "starts_with",
        FilterOp::EndsWith => "ends_with",
        FilterOp::In => "in",
        FilterOp::Present => "present",
        FilterOp::Absent => "absent",
        FilterOp::Matches => "matches",
    }
}

fn describe(attribute: &str, op: FilterOp, operands: &[String]) -> String {
    match op {
        FilterOp::Present | FilterOp::Absent => format!("{attribute} {}", op_name(op)),
        FilterOp::In => format!("{attribute} in {operands:?}"),
        _ => format!(
            "{attribute} {} {:?}",
            op_name(op),
            operands.first().map(String::as_str).unwrap_or("")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(op: FilterOp, value: Option<FilterValue>, case_sensitive: bool) -> Filter {
        let spec = FilterSpec {
            entra: "country".to_owned(),
            op,
            value,
            case_sensitive,
        };
        let mut problems = Vec::new();
        let compiled = Filter::compile(&spec, "site_mapping[0].where[0]", &mut problems);
        assert_eq!(problems, vec![]);
        compiled.expect("compiles")
    }

    fn text(value: &str) -> Option<FilterValue> {
        Some(FilterValue::Text(value.to_owned()))
    }

    #[test]
    fn eq_ignores_case_unless_case_sensitive() {
        assert!(filter(FilterOp::Eq, text("GB"), false).matches(AttributeValue::One("gb")));
        assert!(!filter(FilterOp::Eq, text("GB"), true).matches(AttributeValue::One("gb")));
        assert!(
            filter(FilterOp::Eq, text("Straße"), false).matches(AttributeValue::One(
                "STRASSE".to_lowercase().replace("ss", "ß").as_str()
            ))
        );
    }

    #[test]
    fn ne_passes_an_absent_value() {
        assert!(filter(FilterOp::Ne, text("GB"), false).matches(AttributeValue::Absent));
        assert!(!filter(FilterOp::Ne, text("GB"), false).matches(AttributeValue::One("GB")));
    }

    #[test]
    fn substring_operators_compare_ignoring_case() {
        let value = AttributeValue::One("London Office");
        assert!(filter(FilterOp::Contains, text("DON OFF"), false).matches(value));
        assert!(filter(FilterOp::StartsWith, text("lon"), false).matches(value));
        assert!(filter(FilterOp::EndsWith, text("OFFICE"), false).matches(value));
        assert!(!filter(FilterOp::EndsWith, text("London"), false).matches(value));
    }

    #[test]
    fn in_matches_any_listed_value() {
        let list = Some(FilterValue::List(vec!["GB".to_owned(), "IE".to_owned()]));
        assert!(filter(FilterOp::In, list.clone(), false).matches(AttributeValue::One("ie")));
        assert!(!filter(FilterOp::In, list, false).matches(AttributeValue::One("FR")));
    }

    #[test]
    fn present_and_absent_treat_empty_text_as_absent() {
        assert!(filter(FilterOp::Absent, None, false).matches(AttributeValue::One("")));
        assert!(!filter(FilterOp::Present, None, false).matches(AttributeValue::One("")));
        assert!(filter(FilterOp::Present, None, false).matches(AttributeValue::One("x")));
    }

    #[test]
    fn matches_uses_the_compiled_regex_case_insensitively() {
        assert!(
            filter(FilterOp::Matches, text("^[a-z]+-admin$"), false)
                .matches(AttributeValue::One("JOE-ADMIN"))
        );
        assert!(
            !filter(FilterOp::Matches, text("^[a-z]+-admin$"), true)
                .matches(AttributeValue::One("JOE-ADMIN"))
        );
    }

    #[test]
    fn boolean_operands_compare_with_the_text_of_a_boolean_attribute() {
        assert!(
            filter(FilterOp::Eq, Some(FilterValue::Bool(true)), false)
                .matches(AttributeValue::One("true"))
        );
    }

    #[test]
    fn a_list_value_passes_when_any_element_passes() {
        let skus = ["a".to_owned(), "b".to_owned()];
        assert!(filter(FilterOp::Eq, text("B"), false).matches(AttributeValue::Many(&skus)));
        assert!(!filter(FilterOp::Ne, text("B"), false).matches(AttributeValue::Many(&skus)));
    }
}
