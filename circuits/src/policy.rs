//! The policy language: readable by a regulator, versioned, with a canonical form and a
//! SHA3-256 policy hash that every verdict carries (a white box, not a black box).
//!
//! ```text
//! # comments run to the end of the line
//! policy xinyidai version 1
//! let score = 3*tax.credit_score + 2*market.compliance_score + social.insurance_score
//! rule unlisted = all(not_listed(court.dishonest_debtor), not_listed(credit.serious_dishonesty))
//! eligible = all(unlisted, score >= 600)
//! ```
//!
//! Grammar (`NAME` has no dot and names a `let` or `rule`; `ATTR` has a dot and names a
//! catalogue attribute):
//!
//! ```text
//! file   := 'policy' NAME 'version' INT item*
//! item   := 'reads' ATTR KIND 'max' INT 'default' INT ['holder' NAME]
//!                                                            (optional; must match the catalogue)
//!         | 'require' ATTR (',' ATTR)*                       (eligibility policies only)
//!         | 'let' NAME '=' sum | 'rule' NAME '=' bool | 'eligible' '=' bool
//!         | 'grade' sum '{' LABEL '>=' INT (',' LABEL '>=' INT)* ',' LABEL '}'
//! sum    := ['-'] term (('+' | '-') term)*
//! term   := INT '*' (ATTR | NAME) | ATTR | NAME | INT
//! bool   := 'all' '(' bool (',' bool)* ')' | 'any' '(' bool (',' bool)* ')' | 'not' '(' bool ')'
//!         | 'listed' '(' ATTR ')' | 'not_listed' '(' ATTR ')' | 'flag' '(' ATTR ')'
//!         | NAME                       (a rule)
//!         | sum ('>=' | '<=' | '>' | '<' | '==' | '!=') INT
//! ```
//!
//! `listed(a)` holds on the question's day `D` iff `a > D` (`a` is an `until` attribute);
//! `flag(a)` iff `a = 1`. Sums range over `level` and `flag` attributes. A policy has exactly one
//! output: `eligible` (yes/no) or `grade` (the first band whose threshold the score reaches, else
//! the last label). Errors carry the line and column.
//!
//! `require a, b` makes records of `a` and `b` a precondition of "eligible": without a record
//! of every required attribute (the others take their catalogue defaults) the answer is "not
//! eligible", and the verdict's coverage says which records were missing. So an enterprise
//! nobody has reported on is never eligible by default. Every constant — thresholds, weights,
//! grade bands — is bounded by ±2⁶² so that no lowering can overflow.
//!
//! The **canonical form** lists the catalogue entries the policy reads (id, kind, max, default
//! and the owning holder authority — they are part of its meaning: a verifier accepts an
//! attribute only from a holder of that authority), then every item re-printed with normalised
//! spacing and no comments. The policy hash is [`crate::policy_hash`] of the canonical form.

use crate::catalog::{Catalog, Kind};
use credence_protocols::names::AttributeId;
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

/// A malformed policy: what is wrong, and where (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy error at line {line}, column {column}: {message}")]
pub struct PolicyError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    fn as_str(self) -> &'static str {
        match self {
            Cmp::Ge => ">=",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Lt => "<",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }
    /// Whether `lhs <op> rhs`.
    pub fn holds(self, lhs: i128, rhs: i128) -> bool {
        match self {
            Cmp::Ge => lhs >= rhs,
            Cmp::Le => lhs <= rhs,
            Cmp::Gt => lhs > rhs,
            Cmp::Lt => lhs < rhs,
            Cmp::Eq => lhs == rhs,
            Cmp::Ne => lhs != rhs,
        }
    }
}

/// What a sum term names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// A catalogue attribute.
    Attr(AttributeId),
    /// An earlier `let`.
    Let(String),
}

/// A weighted sum, in source order: `coefficient × name`, or a constant when `name` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sum {
    /// The terms.
    pub terms: Vec<(i64, Option<Name>)>,
}

/// A boolean expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoolExpr {
    /// All hold.
    All(Vec<BoolExpr>),
    /// At least one holds.
    Any(Vec<BoolExpr>),
    /// Negation.
    Not(Box<BoolExpr>),
    /// `until > D`.
    Listed(AttributeId),
    /// `until ≤ D`.
    NotListed(AttributeId),
    /// A flag is set.
    Flag(AttributeId),
    /// `sum <op> constant`.
    Compare(Sum, Cmp, i64),
    /// A named rule.
    Rule(String),
}

/// The policy's single output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Yes/no.
    Eligible(BoolExpr),
    /// Score bands: the first `(label, threshold)` whose threshold the score reaches; else
    /// `otherwise`. Grade index 0 is the first band.
    Grade {
        /// The score.
        score: Sum,
        /// Bands, thresholds strictly decreasing.
        bands: Vec<(String, i64)>,
        /// The label below every band.
        otherwise: String,
    },
}

/// A parsed, checked policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Policy name.
    pub name: String,
    /// Version.
    pub version: u32,
    /// `let` definitions, in order.
    pub lets: Vec<(String, Sum)>,
    /// `rule` definitions, in order.
    pub rules: Vec<(String, BoolExpr)>,
    /// The output.
    pub output: Output,
    /// Catalogue entries read: `(id, kind, max, default)`, sorted by id.
    pub reads: Vec<(AttributeId, Kind, u64, u64)>,
    /// The authority owning each attribute of `reads` (same order), from the catalogue.
    pub owners: Vec<String>,
    /// Attributes that must have a record for the answer to be "eligible" (sorted).
    pub required: Vec<AttributeId>,
    canonical: String,
    hash: [u8; 32],
}

/// A sum with every `let` expanded: `Σ weight·attribute + constant`, attributes merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearForm {
    /// `(attribute, weight)` in first-appearance order, no duplicates, no zero weights.
    pub terms: Vec<(AttributeId, i64)>,
    /// The constant.
    pub constant: i64,
}

impl Policy {
    /// Parses and checks `text` against `catalog`.
    pub fn parse(text: &str, catalog: &Catalog) -> Result<Policy, PolicyError> {
        Parser::new(text, catalog)?.file()
    }

    /// The canonical form (what the hash covers).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The policy hash every verdict carries.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Whether every required attribute is among `present` (the attributes with records).
    pub fn requirements_met<S: AsRef<str>>(&self, present: &[S]) -> bool {
        self.required
            .iter()
            .all(|r| present.iter().any(|p| p.as_ref() == r.as_str()))
    }

    /// How `coverage` (the attributes with records) splits this policy's attributes:
    /// `(with records, defaults used, required but missing)`, each in the policy's order.
    pub fn coverage_split<'a>(
        &'a self,
        coverage: &[AttributeId],
    ) -> (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>) {
        let has = |a: &AttributeId| coverage.contains(a);
        let present = self
            .reads
            .iter()
            .filter(|r| has(&r.0))
            .map(|r| r.0.as_str())
            .collect();
        let defaults = self
            .reads
            .iter()
            .filter(|r| !has(&r.0))
            .map(|r| r.0.as_str())
            .collect();
        let missing = self
            .required
            .iter()
            .filter(|a| !has(a))
            .map(|a| a.as_str())
            .collect();
        (present, defaults, missing)
    }

    /// The policy as a verifier pins it ([`credence_protocols::question::PinnedPolicy`]):
    /// hash, attributes read, required attributes, output shape and — when it has one — its
    /// proof lowering.
    pub fn pin(&self) -> credence_protocols::question::PinnedPolicy {
        use credence_protocols::question::{OutputShape, PinnedPolicy};
        let output = match &self.output {
            Output::Eligible(_) => OutputShape::Eligible,
            Output::Grade { bands, .. } => OutputShape::Grade {
                bands: bands.len() as u8,
            },
        };
        PinnedPolicy::new(
            self.hash,
            self.reads.iter().map(|r| r.0.clone()).collect(),
            self.required.clone(),
            output,
            crate::proof::lower_to_proof(self).ok(),
        )
        .expect("a parsed policy pins")
    }

    /// The expression of a named rule.
    pub fn rule(&self, name: &str) -> Option<&BoolExpr> {
        self.rules.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Expands `lets` in a sum and merges repeated attributes.
    pub fn linear_form(&self, sum: &Sum) -> LinearForm {
        let mut terms: Vec<(AttributeId, i64)> = Vec::new();
        let mut constant = 0i64;
        self.expand(sum, 1, &mut terms, &mut constant);
        terms.retain(|(_, w)| *w != 0);
        LinearForm { terms, constant }
    }

    fn expand(
        &self,
        sum: &Sum,
        scale: i64,
        terms: &mut Vec<(AttributeId, i64)>,
        constant: &mut i64,
    ) {
        // Overflow is impossible: the parser bounds every expanded coefficient (see `bounds`).
        for (c, name) in &sum.terms {
            let c = c * scale;
            match name {
                None => *constant += c,
                Some(Name::Attr(a)) => match terms.iter_mut().find(|(x, _)| x == a) {
                    Some((_, w)) => *w += c,
                    None => terms.push((a.clone(), c)),
                },
                Some(Name::Let(l)) => {
                    let inner = &self.lets.iter().find(|(n, _)| n == l).expect("checked").1;
                    self.expand(inner, c, terms, constant);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Assign,
    Star,
    Plus,
    Minus,
    Cmp(Cmp),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(i) => write!(f, "`{i}`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBrace => f.write_str("`{`"),
            Tok::RBrace => f.write_str("`}`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Assign => f.write_str("`=`"),
            Tok::Star => f.write_str("`*`"),
            Tok::Plus => f.write_str("`+`"),
            Tok::Minus => f.write_str("`-`"),
            Tok::Cmp(c) => write!(f, "`{}`", c.as_str()),
            Tok::Eof => f.write_str("the end of the policy"),
        }
    }
}

/// Longest policy text accepted.
pub const MAX_POLICY_LEN: usize = 64 * 1024;
/// Most bands of a grade (grade indices stay far inside one byte).
pub const MAX_BANDS: usize = 32;
/// Deepest nesting of expressions accepted.
const MAX_DEPTH: usize = 32;

fn lex(text: &str) -> Result<Vec<(Tok, usize, usize)>, PolicyError> {
    let err = |line, column, message: String| PolicyError {
        line,
        column,
        message,
    };
    if text.len() > MAX_POLICY_LEN {
        return Err(err(1, 1, "policy is longer than 64 KiB".into()));
    }
    let mut out = Vec::new();
    for (li, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let (c, col) = (chars[i], i + 1);
            let pos = |t| (t, li + 1, col);
            match c {
                '#' => break,
                c if c.is_whitespace() => i += 1,
                '(' | ')' | '{' | '}' | ',' | '*' | '+' | '-' => {
                    out.push(pos(match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '{' => Tok::LBrace,
                        '}' => Tok::RBrace,
                        ',' => Tok::Comma,
                        '*' => Tok::Star,
                        '+' => Tok::Plus,
                        _ => Tok::Minus,
                    }));
                    i += 1;
                }
                '=' | '!' | '<' | '>' => {
                    let next_eq = chars.get(i + 1) == Some(&'=');
                    let tok = match (c, next_eq) {
                        ('=', true) => Tok::Cmp(Cmp::Eq),
                        ('=', false) => Tok::Assign,
                        ('!', true) => Tok::Cmp(Cmp::Ne),
                        ('<', true) => Tok::Cmp(Cmp::Le),
                        ('<', false) => Tok::Cmp(Cmp::Lt),
                        ('>', true) => Tok::Cmp(Cmp::Ge),
                        ('>', false) => Tok::Cmp(Cmp::Gt),
                        _ => return Err(err(li + 1, col, "`!` must be followed by `=`".into())),
                    };
                    i += if next_eq { 2 } else { 1 };
                    out.push(pos(tok));
                }
                c if c.is_ascii_digit() => {
                    let start = i;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    let s: String = chars[start..i].iter().collect();
                    let v = s
                        .parse::<i64>()
                        .map_err(|_| err(li + 1, col, format!("number {s} is too large")))?;
                    out.push(pos(Tok::Int(v)));
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let start = i;
                    while i < chars.len()
                        && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                    {
                        i += 1;
                    }
                    out.push(pos(Tok::Ident(chars[start..i].iter().collect())));
                }
                c => {
                    return Err(err(li + 1, col, format!("unexpected character `{c}`")));
                }
            }
        }
    }
    let last_line = text.lines().count().max(1);
    out.push((
        Tok::Eof,
        last_line,
        text.lines().last().map_or(1, |l| l.chars().count() + 1),
    ));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

const KEYWORDS: &[&str] = &[
    "policy",
    "version",
    "reads",
    "holder",
    "require",
    "max",
    "default",
    "let",
    "rule",
    "eligible",
    "grade",
    "all",
    "any",
    "not",
    "listed",
    "not_listed",
    "flag",
];

struct Parser<'c> {
    toks: Vec<(Tok, usize, usize)>,
    pos: usize,
    catalog: &'c Catalog,
    lets: Vec<(String, Sum)>,
    rules: Vec<(String, BoolExpr)>,
    reads: BTreeSet<String>,
    required: BTreeSet<String>,
    depth: usize,
}

impl<'c> Parser<'c> {
    fn new(text: &str, catalog: &'c Catalog) -> Result<Self, PolicyError> {
        Ok(Parser {
            toks: lex(text)?,
            pos: 0,
            catalog,
            lets: Vec::new(),
            rules: Vec::new(),
            reads: BTreeSet::new(),
            required: BTreeSet::new(),
            depth: 0,
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn error_here(&self, message: impl Into<String>) -> PolicyError {
        let (_, line, column) = &self.toks[self.pos];
        PolicyError {
            line: *line,
            column: *column,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if t != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok) -> Result<(), PolicyError> {
        if *self.peek() == want {
            self.next();
            Ok(())
        } else {
            Err(self.error_here(format!("expected {want}, found {}", self.peek())))
        }
    }

    fn keyword(&mut self, kw: &str) -> Result<(), PolicyError> {
        match self.peek() {
            Tok::Ident(s) if s == kw => {
                self.next();
                Ok(())
            }
            other => Err(self.error_here(format!("expected `{kw}`, found {other}"))),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, PolicyError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok(s)
            }
            other => Err(self.error_here(format!("expected {what}, found {other}"))),
        }
    }

    fn int(&mut self) -> Result<i64, PolicyError> {
        match self.peek().clone() {
            Tok::Int(i) => {
                self.next();
                Ok(i)
            }
            Tok::Minus => {
                self.next();
                match self.peek().clone() {
                    Tok::Int(i) => {
                        self.next();
                        Ok(-i)
                    }
                    other => Err(self.error_here(format!("expected a number, found {other}"))),
                }
            }
            other => Err(self.error_here(format!("expected a number, found {other}"))),
        }
    }

    fn new_name(&mut self, what: &str) -> Result<String, PolicyError> {
        let at = self.pos;
        let name = self.ident(what)?;
        let fail = |p: &Self, m: String| {
            let (_, line, column) = p.toks[at];
            Err(PolicyError {
                line,
                column,
                message: m,
            })
        };
        if name.contains('.') || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return fail(self, format!("`{name}`: names of lets and rules are lower case and have no dot (dotted names are catalogue attributes)"));
        }
        if KEYWORDS.contains(&name.as_str()) {
            return fail(self, format!("`{name}` is a keyword"));
        }
        if self.lets.iter().any(|(n, _)| *n == name) || self.rules.iter().any(|(n, _)| *n == name) {
            return fail(self, format!("`{name}` is already defined"));
        }
        Ok(name)
    }

    fn attribute(&mut self, kinds: &[Kind], role: &str) -> Result<AttributeId, PolicyError> {
        let at = self.pos;
        let name = self.ident("a catalogue attribute")?;
        let fail = |p: &Self, m: String| {
            let (_, line, column) = p.toks[at];
            PolicyError {
                line,
                column,
                message: m,
            }
        };
        let a = self
            .catalog
            .get(&name)
            .map_err(|e| fail(self, e.to_string()))?;
        if !kinds.contains(&a.kind) {
            return Err(fail(
                self,
                format!(
                    "`{name}` is a `{}` attribute and cannot be used {role}",
                    a.kind
                ),
            ));
        }
        self.reads.insert(name);
        Ok(a.id.clone())
    }

    fn file(mut self) -> Result<Policy, PolicyError> {
        self.keyword("policy")?;
        let name = self.ident("the policy name")?;
        if AttributeId::new(&name).is_err() || name.contains('.') {
            return Err(PolicyError {
                line: self.toks[self.pos - 1].1,
                column: self.toks[self.pos - 1].2,
                message: format!("policy name `{name}` must be lower case letters, digits and `_`"),
            });
        }
        self.keyword("version")?;
        let v_at = self.pos;
        let version = self.int()?;
        let Some(version) = u32::try_from(version).ok().filter(|v| *v >= 1) else {
            self.pos = v_at;
            return Err(self.error_here("version must be a positive number"));
        };
        let mut output = None;
        loop {
            let at = self.pos;
            match self.peek().clone() {
                Tok::Eof => break,
                Tok::Ident(kw) if kw == "reads" => {
                    // Canonical forms pin the catalogue entries they were written against.
                    self.next();
                    let a = self.attribute(&[Kind::Until, Kind::Level, Kind::Flag], "")?;
                    let entry = self.catalog.get(a.as_str()).expect("just checked").clone();
                    let kind = self.ident("the attribute kind")?;
                    self.keyword("max")?;
                    let max = self.int()?;
                    self.keyword("default")?;
                    let default = self.int()?;
                    // `holder H` pins the authority that owns the attribute (optional in
                    // texts written by hand, always in canonical forms).
                    let holder = match self.peek() {
                        Tok::Ident(kw) if kw == "holder" => {
                            self.next();
                            Some(self.ident("the holder authority")?)
                        }
                        _ => None,
                    };
                    if kind != entry.kind.to_string()
                        || max != entry.max as i64
                        || default != entry.default as i64
                        || holder.is_some_and(|h| h != entry.holder)
                    {
                        self.pos = at;
                        return Err(self.error_here(format!(
                            "`reads {a}` does not match the catalogue entry ({} max {} default {} holder {})",
                            entry.kind, entry.max, entry.default, entry.holder
                        )));
                    }
                }
                Tok::Ident(kw) if kw == "require" => {
                    self.next();
                    loop {
                        let a = self.attribute(&[Kind::Until, Kind::Level, Kind::Flag], "")?;
                        self.required.insert(a.to_string());
                        if *self.peek() != Tok::Comma {
                            break;
                        }
                        self.next();
                    }
                }
                Tok::Ident(kw) if kw == "let" => {
                    self.next();
                    let n = self.new_name("a name for the sum")?;
                    self.expect(Tok::Assign)?;
                    let s = self.sum()?;
                    self.lets.push((n, s));
                }
                Tok::Ident(kw) if kw == "rule" => {
                    self.next();
                    let n = self.new_name("a name for the rule")?;
                    self.expect(Tok::Assign)?;
                    let e = self.boolean()?;
                    self.rules.push((n, e));
                }
                Tok::Ident(kw) if kw == "eligible" || kw == "grade" => {
                    if output.is_some() {
                        return Err(self.error_here(
                            "a policy has exactly one output (`eligible` or `grade`)",
                        ));
                    }
                    self.next();
                    output = Some(if kw == "eligible" {
                        self.expect(Tok::Assign)?;
                        Output::Eligible(self.boolean()?)
                    } else {
                        self.grade()?
                    });
                }
                other => {
                    self.pos = at;
                    return Err(self.error_here(format!(
                        "expected `let`, `rule`, `eligible`, `grade`, `require` or `reads`, found {other}"
                    )));
                }
            }
        }
        let output = output.ok_or_else(|| {
            self.error_here("the policy has no output: add `eligible = …` or `grade …`")
        })?;
        if !self.required.is_empty() && matches!(output, Output::Grade { .. }) {
            return Err(PolicyError {
                line: 1,
                column: 1,
                message: "`require` applies to eligibility policies (a grade has no \"not eligible\" to fall back on)".into(),
            });
        }
        let owners = self
            .reads
            .iter()
            .map(|id| {
                self.catalog
                    .get(id)
                    .expect("checked when read")
                    .holder
                    .clone()
            })
            .collect();
        let required = self
            .required
            .iter()
            .map(|id| self.catalog.get(id).expect("checked when read").id.clone())
            .collect();
        let reads = self
            .reads
            .iter()
            .map(|id| {
                let a = self.catalog.get(id).expect("checked when read");
                (a.id.clone(), a.kind, a.max, a.default)
            })
            .collect();
        let mut policy = Policy {
            name,
            version,
            lets: self.lets,
            rules: self.rules,
            output,
            reads,
            owners,
            required,
            canonical: String::new(),
            hash: [0; 32],
        };
        check_bounds(&policy, self.catalog).map_err(|m| PolicyError {
            line: 1,
            column: 1,
            message: m,
        })?;
        policy.canonical = canonical(&policy);
        policy.hash = crate::policy_hash(&policy.canonical);
        Ok(policy)
    }

    fn grade(&mut self) -> Result<Output, PolicyError> {
        let score = self.sum()?;
        self.expect(Tok::LBrace)?;
        let mut bands: Vec<(String, i64)> = Vec::new();
        loop {
            let at = self.pos;
            let label = self.ident("a grade label")?;
            if bands.iter().any(|(l, _)| *l == label) {
                self.pos = at;
                return Err(self.error_here(format!("grade label `{label}` appears twice")));
            }
            if *self.peek() == Tok::RBrace {
                self.next();
                if bands.is_empty() {
                    self.pos = at;
                    return Err(self.error_here(
                        "a grade needs at least one `LABEL >= N` band before the last label",
                    ));
                }
                return Ok(Output::Grade {
                    score,
                    bands,
                    otherwise: label,
                });
            }
            self.expect(Tok::Cmp(Cmp::Ge))?;
            let t_at = self.pos;
            let t = self.int()?;
            if bands.last().is_some_and(|(_, prev)| t >= *prev) {
                self.pos = t_at;
                return Err(self.error_here("grade thresholds must be strictly decreasing"));
            }
            if bands.len() == MAX_BANDS {
                self.pos = t_at;
                return Err(self.error_here(format!("a grade has at most {MAX_BANDS} bands")));
            }
            bands.push((label, t));
            self.expect(Tok::Comma)?;
        }
    }

    fn sum(&mut self) -> Result<Sum, PolicyError> {
        let mut terms = Vec::new();
        let mut sign = 1i64;
        if *self.peek() == Tok::Minus {
            self.next();
            sign = -1;
        }
        loop {
            let (c, name) = self.term()?;
            terms.push((c * sign, name));
            match self.peek() {
                Tok::Plus => sign = 1,
                Tok::Minus => sign = -1,
                _ => break,
            }
            self.next();
        }
        Ok(Sum { terms })
    }

    fn term(&mut self) -> Result<(i64, Option<Name>), PolicyError> {
        match self.peek().clone() {
            Tok::Int(c) => {
                self.next();
                if *self.peek() == Tok::Star {
                    self.next();
                    Ok((c, Some(self.operand()?)))
                } else {
                    Ok((c, None))
                }
            }
            Tok::Ident(_) => Ok((1, Some(self.operand()?))),
            other => Err(self.error_here(format!("expected a number or a name, found {other}"))),
        }
    }

    fn operand(&mut self) -> Result<Name, PolicyError> {
        let at = self.pos;
        let name = match self.peek().clone() {
            Tok::Ident(s) => s,
            other => return Err(self.error_here(format!("expected a name, found {other}"))),
        };
        if name.contains('.') {
            return Ok(Name::Attr(self.attribute(
                &[Kind::Level, Kind::Flag],
                "in a sum (use listed/not_listed for lists)",
            )?));
        }
        self.next();
        if self.lets.iter().any(|(n, _)| *n == name) {
            Ok(Name::Let(name))
        } else {
            self.pos = at;
            Err(self.error_here(format!("`{name}` is not a `let` defined above")))
        }
    }

    fn list(&mut self) -> Result<Vec<BoolExpr>, PolicyError> {
        self.expect(Tok::LParen)?;
        let mut items = vec![self.boolean()?];
        while *self.peek() == Tok::Comma {
            self.next();
            items.push(self.boolean()?);
        }
        self.expect(Tok::RParen)?;
        Ok(items)
    }

    fn boolean(&mut self) -> Result<BoolExpr, PolicyError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("expressions are nested too deeply"));
        }
        let r = self.boolean_inner();
        self.depth -= 1;
        r
    }

    fn boolean_inner(&mut self) -> Result<BoolExpr, PolicyError> {
        if let Tok::Ident(word) = self.peek().clone() {
            let call = self.toks.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::LParen);
            match word.as_str() {
                "all" | "any" if call => {
                    self.next();
                    let items = self.list()?;
                    return Ok(if word == "all" {
                        BoolExpr::All(items)
                    } else {
                        BoolExpr::Any(items)
                    });
                }
                "not" if call => {
                    self.next();
                    self.expect(Tok::LParen)?;
                    let e = self.boolean()?;
                    self.expect(Tok::RParen)?;
                    return Ok(BoolExpr::Not(Box::new(e)));
                }
                "listed" | "not_listed" | "flag" if call => {
                    self.next();
                    self.expect(Tok::LParen)?;
                    let kind = if word == "flag" {
                        Kind::Flag
                    } else {
                        Kind::Until
                    };
                    let role = if word == "flag" {
                        "with flag()"
                    } else {
                        "with listed()/not_listed()"
                    };
                    let a = self.attribute(&[kind], role)?;
                    self.expect(Tok::RParen)?;
                    return Ok(match word.as_str() {
                        "listed" => BoolExpr::Listed(a),
                        "not_listed" => BoolExpr::NotListed(a),
                        _ => BoolExpr::Flag(a),
                    });
                }
                w if self.rules.iter().any(|(n, _)| n == w) => {
                    self.next();
                    return Ok(BoolExpr::Rule(word));
                }
                _ => {}
            }
        }
        let sum = self.sum()?;
        let op = match self.peek() {
            Tok::Cmp(c) => *c,
            other => {
                return Err(self.error_here(format!(
                    "expected a comparison (>=, <=, >, <, ==, !=) after the sum, found {other}"
                )))
            }
        };
        self.next();
        let rhs = self.int()?;
        Ok(BoolExpr::Compare(sum, op, rhs))
    }
}

/// Every expanded sum must stay far inside `i64` (and the proof system's ±2¹⁰⁰ window).
fn check_bounds(p: &Policy, catalog: &Catalog) -> Result<(), String> {
    const LIMIT: i128 = 1 << 62;
    let check = |s: &Sum| -> Result<(), String> {
        // Expand with i128 first so overflow cannot happen while checking.
        fn walk(
            p: &Policy,
            s: &Sum,
            scale: i128,
            acc: &mut Vec<(String, i128)>,
            k: &mut i128,
        ) -> Result<(), String> {
            for (c, n) in &s.terms {
                let c = i128::from(*c) * scale;
                if c.abs() >= LIMIT {
                    return Err("a coefficient is too large".into());
                }
                match n {
                    // Every constant counts by its magnitude, so no partial sum (as
                    // `linear_form` accumulates them in i64) can exceed the limit either.
                    None => {
                        *k += c;
                        acc.push((String::new(), c));
                    }
                    Some(Name::Attr(a)) => acc.push((a.to_string(), c)),
                    Some(Name::Let(l)) => {
                        let inner = &p.lets.iter().find(|(n, _)| n == l).expect("checked").1;
                        walk(p, inner, c, acc, k)?;
                    }
                }
            }
            Ok(())
        }
        let mut acc = Vec::new();
        let mut k = 0i128;
        walk(p, s, 1, &mut acc, &mut k)?;
        let mut extreme = k.abs();
        for (a, c) in acc {
            let max = if a.is_empty() {
                1
            } else {
                catalog.get(&a).expect("checked").max
            };
            extreme += c.abs() * i128::from(max);
            if extreme >= LIMIT {
                return Err("a sum can exceed 2^62 in magnitude".into());
            }
        }
        if extreme >= LIMIT {
            return Err("a sum can exceed 2^62 in magnitude".into());
        }
        Ok(())
    };
    for (_, s) in &p.lets {
        check(s)?;
    }
    fn sums_in<'a>(e: &'a BoolExpr, out: &mut Vec<&'a Sum>) {
        match e {
            BoolExpr::All(v) | BoolExpr::Any(v) => v.iter().for_each(|x| sums_in(x, out)),
            BoolExpr::Not(x) => sums_in(x, out),
            BoolExpr::Compare(s, _, _) => out.push(s),
            _ => {}
        }
    }
    fn thresholds_in(e: &BoolExpr, out: &mut Vec<i64>) {
        match e {
            BoolExpr::All(v) | BoolExpr::Any(v) => v.iter().for_each(|x| thresholds_in(x, out)),
            BoolExpr::Not(x) => thresholds_in(x, out),
            BoolExpr::Compare(_, _, t) => out.push(*t),
            _ => {}
        }
    }
    let mut thresholds = Vec::new();
    for (_, e) in &p.rules {
        thresholds_in(e, &mut thresholds);
    }
    match &p.output {
        Output::Eligible(e) => thresholds_in(e, &mut thresholds),
        Output::Grade { bands, .. } => thresholds.extend(bands.iter().map(|b| b.1)),
    }
    if thresholds.iter().any(|t| t.unsigned_abs() >= LIMIT as u64) {
        return Err("a threshold is larger than 2^62 in magnitude".into());
    }
    let mut sums = Vec::new();
    for (_, e) in &p.rules {
        sums_in(e, &mut sums);
    }
    match &p.output {
        Output::Eligible(e) => sums_in(e, &mut sums),
        Output::Grade { score, .. } => sums.push(score),
    }
    sums.into_iter().try_for_each(check)
}

// ---------------------------------------------------------------------------------------------
// Canonical form

fn sum_text(s: &Sum) -> String {
    let mut out = String::new();
    for (i, (c, n)) in s.terms.iter().enumerate() {
        let (neg, mag) = (*c < 0, c.unsigned_abs());
        if i == 0 {
            if neg {
                out.push('-');
            }
        } else {
            out.push_str(if neg { " - " } else { " + " });
        }
        match n {
            None => write!(out, "{mag}").unwrap(),
            Some(name) => {
                let name = match name {
                    Name::Attr(a) => a.as_str().to_string(),
                    Name::Let(l) => l.clone(),
                };
                if mag == 1 {
                    out.push_str(&name);
                } else {
                    write!(out, "{mag}*{name}").unwrap();
                }
            }
        }
    }
    out
}

fn bool_text(e: &BoolExpr) -> String {
    let list = |v: &[BoolExpr]| v.iter().map(bool_text).collect::<Vec<_>>().join(", ");
    match e {
        BoolExpr::All(v) => format!("all({})", list(v)),
        BoolExpr::Any(v) => format!("any({})", list(v)),
        BoolExpr::Not(x) => format!("not({})", bool_text(x)),
        BoolExpr::Listed(a) => format!("listed({a})"),
        BoolExpr::NotListed(a) => format!("not_listed({a})"),
        BoolExpr::Flag(a) => format!("flag({a})"),
        BoolExpr::Compare(s, c, t) => format!("{} {} {t}", sum_text(s), c.as_str()),
        BoolExpr::Rule(r) => r.clone(),
    }
}

fn canonical(p: &Policy) -> String {
    let mut out = format!("policy {} version {}\n", p.name, p.version);
    for ((id, kind, max, default), holder) in p.reads.iter().zip(&p.owners) {
        writeln!(
            out,
            "reads {id} {kind} max {max} default {default} holder {holder}"
        )
        .unwrap();
    }
    if !p.required.is_empty() {
        let r: Vec<&str> = p.required.iter().map(|a| a.as_str()).collect();
        writeln!(out, "require {}", r.join(", ")).unwrap();
    }
    for (n, s) in &p.lets {
        writeln!(out, "let {n} = {}", sum_text(s)).unwrap();
    }
    for (n, e) in &p.rules {
        writeln!(out, "rule {n} = {}", bool_text(e)).unwrap();
    }
    match &p.output {
        Output::Eligible(e) => writeln!(out, "eligible = {}", bool_text(e)).unwrap(),
        Output::Grade {
            score,
            bands,
            otherwise,
        } => {
            let b: Vec<String> = bands.iter().map(|(l, t)| format!("{l} >= {t}")).collect();
            writeln!(
                out,
                "grade {} {{ {}, {otherwise} }}",
                sum_text(score),
                b.join(", ")
            )
            .unwrap();
        }
    }
    out
}

/// The policies shipped with Credence: `(file name, text)`.
pub const BUILTIN_POLICIES: &[(&str, &str)] = &[
    ("xinyidai", include_str!("../policies/xinyidai.policy")),
    (
        "public_procurement",
        include_str!("../policies/public_procurement.policy"),
    ),
    (
        "credit_grade",
        include_str!("../policies/credit_grade.policy"),
    ),
    ("rongque", include_str!("../policies/rongque.policy")),
];

/// Parses a built-in policy by name against the built-in catalogue.
pub fn builtin(name: &str) -> Option<Policy> {
    let (_, text) = BUILTIN_POLICIES.iter().find(|(n, _)| *n == name)?;
    Some(Policy::parse(text, &Catalog::builtin()).expect("built-in policies are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, &Catalog::builtin())
    }

    #[test]
    fn shipped_policies_parse_and_canonical_forms_round_trip() {
        for (name, text) in BUILTIN_POLICIES {
            let p = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, *name);
            let again = parse(p.canonical())
                .unwrap_or_else(|e| panic!("{name} canonical: {e}\n{}", p.canonical()));
            assert_eq!(again.canonical(), p.canonical());
            assert_eq!(again.hash(), p.hash());
        }
    }

    #[test]
    fn hash_ignores_layout_and_comments_but_not_meaning() {
        let a = parse("policy p version 1\neligible = tax.credit_score >= 60\n").unwrap();
        let b = parse(
            "# a comment\npolicy   p\n version 1   # trailing\n\neligible=\n  tax.credit_score>=60",
        )
        .unwrap();
        assert_eq!(a.hash(), b.hash());
        for other in [
            "policy p version 2\neligible = tax.credit_score >= 60\n",
            "policy p version 1\neligible = tax.credit_score >= 61\n",
            "policy p version 1\neligible = tax.credit_score > 60\n",
            "policy q version 1\neligible = tax.credit_score >= 60\n",
        ] {
            assert_ne!(parse(other).unwrap().hash(), a.hash(), "{other}");
        }
    }

    #[test]
    fn errors_carry_line_and_column() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("policy p version 1\neligible = tax.nope >= 1\n", 2, 12, "unknown attribute"),
            ("policy p version 1\neligible = court.dishonest_debtor >= 1\n", 2, 12, "cannot be used in a sum"),
            ("policy p version 1\neligible = listed(tax.credit_score)\n", 2, 19, "cannot be used"),
            ("policy p version 1\nlet s = tax.credit_score\n", 2, 25, "no output"),
            ("policy p version 1\neligible = score >= 1\n", 2, 12, "not a `let`"),
            ("policy p version 1\neligible = tax.credit_score >= 1\neligible = tax.credit_score >= 2\n", 3, 1, "exactly one output"),
            ("policy p version 1\neligible = all(tax.credit_score >= 1\n", 2, 37, "expected `)`"),
            ("policy p version 1\neligible = tax.credit_score ? 1\n", 2, 29, "unexpected character"),
            ("policy p version 1\nlet all = 1\n", 2, 5, "keyword"),
            ("policy p version 1\ngrade tax.credit_score { A >= 50, B >= 60, C }\n", 2, 40, "strictly decreasing"),
            ("policy p version 0\neligible = tax.credit_score >= 1\n", 1, 18, "positive"),
            ("version 1\n", 1, 1, "expected `policy`"),
            ("policy p version 1\nreads tax.credit_score level max 99 default 60\neligible = tax.credit_score >= 1\n", 2, 1, "does not match the catalogue"),
        ];
        for (text, line, column, msg) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.message.contains(msg), "{text:?}: {e}");
            assert_eq!((e.line, e.column), (*line, *column), "{text:?}: {e}");
        }
    }
}
