//! The `$filter` forms the daemon uses: `prop eq literal`, `prop in (…)`,
//! `startswith(prop,'…')`, `groupTypes/any(c:c eq 'Unified')`, joined by `and` / `or` with
//! parentheses. String literals escape a quote by doubling it (`'Visitors'' Desk'`). Anything
//! else is `Request_UnsupportedQuery`.

use super::error::GraphError;

/// A literal in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'`
    Text(String),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `prop eq literal`
    Eq(String, Literal),
    /// `prop in ('a','b')`
    In(String, Vec<Literal>),
    /// `startswith(prop,'x')`
    StartsWith(String, String),
    /// `collection/any(c:c eq 'x')`
    AnyEq(String, String),
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn unsupported(filter: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Unsupported or invalid query filter clause specified: '{filter}'."
    ))
}

fn tokenize(input: &str) -> Result<Vec<Token>, GraphError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' | ')' | ',' | ':' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Colon,
                });
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => text.push(other),
                        None => return Err(unsupported(input)),
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | '@') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if word.is_empty() {
                    return Err(unsupported(input));
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: Token) -> Result<(), GraphError> {
        if self.next() == Some(token) {
            Ok(())
        } else {
            Err(unsupported(self.input))
        }
    }

    fn or(&mut self) -> Result<Filter, GraphError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, GraphError> {
        let mut left = self.term()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn literal(&mut self) -> Result<Literal, GraphError> {
        match self.next() {
            Some(Token::Text(t)) => Ok(Literal::Text(t)),
            Some(Token::Word(w)) if w == "true" => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w == "false" => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w == "null" => Ok(Literal::Null),
            _ => Err(unsupported(self.input)),
        }
    }

    fn term(&mut self) -> Result<Filter, GraphError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("startswith") => {
                self.expect(Token::Open)?;
                let Some(Token::Word(prop)) = self.next() else {
                    return Err(unsupported(self.input));
                };
                self.expect(Token::Comma)?;
                let Some(Token::Text(prefix)) = self.next() else {
                    return Err(unsupported(self.input));
                };
                self.expect(Token::Close)?;
                Ok(Filter::StartsWith(prop, prefix))
            }
            Some(Token::Word(w)) if w.to_ascii_lowercase().ends_with("/any") => {
                let collection = w[..w.len() - 4].to_owned();
                self.expect(Token::Open)?;
                let Some(Token::Word(var)) = self.next() else {
                    return Err(unsupported(self.input));
                };
                self.expect(Token::Colon)?;
                let Some(Token::Word(var2)) = self.next() else {
                    return Err(unsupported(self.input));
                };
                if var != var2 || !self.peek_word("eq") {
                    return Err(unsupported(self.input));
                }
                self.at += 1;
                let Literal::Text(value) = self.literal()? else {
                    return Err(unsupported(self.input));
                };
                self.expect(Token::Close)?;
                Ok(Filter::AnyEq(collection, value))
            }
            Some(Token::Word(prop)) => {
                if self.peek_word("eq") {
                    self.at += 1;
                    Ok(Filter::Eq(prop, self.literal()?))
                } else if self.peek_word("in") {
                    self.at += 1;
                    self.expect(Token::Open)?;
                    let mut values = vec![self.literal()?];
                    while self.tokens.get(self.at) == Some(&Token::Comma) {
                        self.at += 1;
                        values.push(self.literal()?);
                    }
                    self.expect(Token::Close)?;
                    Ok(Filter::In(prop, values))
                } else {
                    Err(unsupported(self.input))
                }
            }
            _ => Err(unsupported(self.input)),
        }
    }
}

/// Parses a `$filter` value.
pub fn parse(input: &str) -> Result<Filter, GraphError> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        at: 0,
        input,
    };
    let filter = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(unsupported(input));
    }
    Ok(filter)
}

impl Filter {
    /// Every property the filter names.
    pub fn properties(&self) -> Vec<&str> {
        match self {
            Self::Eq(p, _) | Self::In(p, _) | Self::StartsWith(p, _) | Self::AnyEq(p, _) => vec![p],
            Self::And(a, b) | Self::Or(a, b) => {
                let mut props = a.properties();
                props.extend(b.properties());
                props
            }
        }
    }

    /// Evaluates against an object whose property values `lookup` gives (text, bool or
    /// missing; collections for `any`). Text comparisons ignore case, as the directory's do.
    pub fn matches(&self, lookup: &dyn Fn(&str) -> Value) -> bool {
        match self {
            Self::Eq(p, literal) => lookup(p).equals(literal),
            Self::In(p, literals) => {
                let value = lookup(p);
                literals.iter().any(|l| value.equals(l))
            }
            Self::StartsWith(p, prefix) => match lookup(p) {
                Value::Text(t) => t.to_lowercase().starts_with(&prefix.to_lowercase()),
                _ => false,
            },
            Self::AnyEq(p, wanted) => match lookup(p) {
                Value::List(items) => items.iter().any(|i| i.eq_ignore_ascii_case(wanted)),
                _ => false,
            },
            Self::And(a, b) => a.matches(lookup) && b.matches(lookup),
            Self::Or(a, b) => a.matches(lookup) || b.matches(lookup),
        }
    }

    /// The ids of an `id eq '…' or id eq '…'` filter (the only form delta accepts), or `None`.
    pub fn id_list(&self) -> Option<Vec<String>> {
        match self {
            Self::Eq(p, Literal::Text(id)) if p.eq_ignore_ascii_case("id") => {
                Some(vec![id.clone()])
            }
            Self::Or(a, b) => {
                let mut ids = a.id_list()?;
                ids.extend(b.id_list()?);
                Some(ids)
            }
            _ => None,
        }
    }
}

/// A property value as the filter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text.
    Text(String),
    /// Boolean.
    Bool(bool),
    /// A string collection.
    List(Vec<String>),
    /// No value.
    Null,
}

impl Value {
    fn equals(&self, literal: &Literal) -> bool {
        match (self, literal) {
            (Self::Text(a), Literal::Text(b)) => {
                a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
            }
            (Self::Bool(a), Literal::Bool(b)) => a == b,
            (Self::Null, Literal::Null) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubled_quotes_escape_a_quote() {
        let filter = parse("displayName eq 'Visitors'' Desk'").expect("parse");
        assert_eq!(
            filter,
            Filter::Eq("displayName".into(), Literal::Text("Visitors' Desk".into()))
        );
    }

    #[test]
    fn id_lists_parse_and_anything_else_is_unsupported() {
        let filter = parse("id eq 'a' or id eq 'b' or id eq 'c'").expect("parse");
        assert_eq!(
            filter.id_list(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(parse("displayName eq 'x'").expect("parse").id_list(), None);
        for bad in [
            "displayName ne 'x'",
            "endswith(mail,'x')",
            "id eq",
            "id eq 'unterminated",
        ] {
            let error = parse(bad).expect_err(bad);
            assert_eq!(error.code, "Request_UnsupportedQuery");
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_any_matches_collections() {
        let filter = parse("groupTypes/any(c:c eq 'Unified') and (startswith(displayName,'SG') or mailEnabled eq true)").expect("parse");
        let lookup = |p: &str| match p {
            "groupTypes" => Value::List(vec!["Unified".into()]),
            "displayName" => Value::Text("All Company".into()),
            "mailEnabled" => Value::Bool(true),
            _ => Value::Null,
        };
        assert!(filter.matches(&lookup));
    }
}
