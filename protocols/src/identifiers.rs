//! Subject identifiers: Unified Social Credit Codes (GB 32100-2015) for enterprises and
//! resident identity numbers (GB 11643-1999) for persons.
//!
//! Both are validated strictly, and an error names the rule and the (1-based) character
//! position that broke it. The normalised form is trimmed and upper-case. Raw identifiers are
//! personal data: inside the service a subject is only ever a [`crate::pseudonym::Pseudonym`].
//! A [`ResidentId`] is zeroized on drop and never printed by `Debug`.

use std::fmt;
use zeroize::Zeroize;

/// The kind of subject an identifier names. Also the pseudonym's domain separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKind {
    /// A market entity or other organisation, named by its Unified Social Credit Code.
    Enterprise,
    /// A natural person, named by their resident identity number.
    Person,
}

impl SubjectKind {
    /// Stable one-byte tag used in encodings.
    pub fn tag(self) -> u8 {
        match self {
            SubjectKind::Enterprise => 1,
            SubjectKind::Person => 2,
        }
    }
    /// Inverse of [`SubjectKind::tag`].
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(SubjectKind::Enterprise),
            2 => Some(SubjectKind::Person),
            _ => None,
        }
    }
    /// Lower-case name used in labels and text formats.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Enterprise => "enterprise",
            SubjectKind::Person => "person",
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule an identifier broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdRule {
    /// Not exactly 18 characters (after trimming).
    Length,
    /// USCC: a character outside `0123456789ABCDEFGHJKLMNPQRTUWXY`.
    UsccAlphabet,
    /// USCC position 1: not a registration-authority code (`1`–`9`, `A`, `N`, `Y`).
    RegistrationAuthority,
    /// USCC position 2: not an institution-category code (`1`–`5`, `9`).
    InstitutionCategory,
    /// USCC positions 3–8, or resident-ID positions 1–6: the administrative division code is
    /// not six digits starting with a province-level digit (1–8).
    DivisionCode,
    /// USCC position 17: the organisation code (positions 9–17, GB 11714) check character is wrong.
    OrganizationCodeCheck,
    /// USCC position 18: the MOD 31 check character is wrong.
    UsccCheck,
    /// Resident ID: a non-digit among positions 1–17, or position 18 neither a digit nor `X`.
    Digit,
    /// Resident ID positions 7–14: not a real calendar date between 1800-01-01 and 2099-12-31.
    BirthDate,
    /// Resident ID position 18: the ISO 7064 MOD 11-2 check character is wrong.
    ResidentIdCheck,
}

impl IdRule {
    fn describe(self) -> &'static str {
        match self {
            IdRule::Length => "must be exactly 18 characters",
            IdRule::UsccAlphabet => {
                "is not in the USCC alphabet 0123456789ABCDEFGHJKLMNPQRTUWXY (no I, O, S, V, Z)"
            }
            IdRule::RegistrationAuthority => {
                "is not a registration-authority code (1-9, A, N or Y)"
            }
            IdRule::InstitutionCategory => "is not an institution-category code (1-5 or 9)",
            IdRule::DivisionCode => {
                "breaks the administrative division code (six digits, first one 1-8)"
            }
            IdRule::OrganizationCodeCheck => {
                "is not the GB 11714 check character of the organisation code (positions 9-16)"
            }
            IdRule::UsccCheck => "is not the GB 32100 MOD 31 check character",
            IdRule::Digit => "must be a digit (position 18: a digit or X)",
            IdRule::BirthDate => "breaks the birth date (YYYYMMDD, a real date 1800-2099)",
            IdRule::ResidentIdCheck => "is not the ISO 7064 MOD 11-2 check character",
        }
    }
}

/// An identifier failed validation: which rule, at which 1-based character position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifierError {
    /// What was being parsed.
    pub kind: SubjectKind,
    /// The rule that failed.
    pub rule: IdRule,
    /// 1-based character position of the first offending character (for [`IdRule::Length`], the
    /// length found).
    pub position: usize,
    /// For check-character errors, the character that was expected.
    pub expected: Option<char>,
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SubjectKind::Enterprise => "unified social credit code",
            SubjectKind::Person => "resident identity number",
        };
        if self.rule == IdRule::Length {
            return write!(
                f,
                "invalid {what}: {} (found {})",
                self.rule.describe(),
                self.position
            );
        }
        write!(
            f,
            "invalid {what}: character at position {} {}",
            self.position,
            self.rule.describe()
        )?;
        if let Some(c) = self.expected {
            write!(f, " (expected {c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for IdentifierError {}

/// The 31-character USCC alphabet; a character's value is its index.
pub const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Computes the USCC check character (position 18) for the first 17 characters.
/// Weights are `3^i mod 31`; the check value is `31 - (sum mod 31)`, with 31 written as `0`.
fn uscc_check_char(body: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    let mut w = 1u32;
    for &c in &body[..17] {
        sum += uscc_value(c)? * w;
        w = (w * 3) % 31;
    }
    let v = (31 - sum % 31) % 31;
    Some(USCC_ALPHABET[v as usize])
}

/// GB 11714 organisation-code check character for its first 8 characters.
fn org_code_check_char(body: &[u8]) -> u8 {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body[..8]
        .iter()
        .zip(W)
        .map(|(&c, w)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c - b'A') + 10
            };
            v * w
        })
        .sum();
    match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        d => b'0' + d as u8,
    }
}

fn normalise(input: &str) -> String {
    input.trim().to_ascii_uppercase()
}

fn length_error(kind: SubjectKind, s: &str) -> IdentifierError {
    IdentifierError {
        kind,
        rule: IdRule::Length,
        position: s.chars().count(),
        expected: None,
    }
}

/// A validated Unified Social Credit Code (统一社会信用代码), GB 32100-2015.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);

impl Uscc {
    /// Parses and validates a USCC. Leading/trailing whitespace is ignored and lower case is
    /// accepted; the stored form is upper case.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let kind = SubjectKind::Enterprise;
        let s = normalise(input);
        let b = s.as_bytes();
        if !s.is_ascii() || b.len() != 18 {
            // Non-ASCII: report the first non-alphabet character if the length is right.
            if s.chars().count() == 18 {
                let pos = s.chars().position(|c| !c.is_ascii()).unwrap_or(0);
                return Err(err(kind, IdRule::UsccAlphabet, pos + 1, None));
            }
            return Err(length_error(kind, &s));
        }
        if let Some(p) = b.iter().position(|&c| uscc_value(c).is_none()) {
            return Err(err(kind, IdRule::UsccAlphabet, p + 1, None));
        }
        if !matches!(b[0], b'1'..=b'9' | b'A' | b'N' | b'Y') {
            return Err(err(kind, IdRule::RegistrationAuthority, 1, None));
        }
        if !matches!(b[1], b'1'..=b'5' | b'9') {
            return Err(err(kind, IdRule::InstitutionCategory, 2, None));
        }
        if let Some(p) = division_code_error(&b[2..8]) {
            return Err(err(kind, IdRule::DivisionCode, 3 + p, None));
        }
        let org = org_code_check_char(&b[8..16]);
        if b[16] != org {
            return Err(err(
                kind,
                IdRule::OrganizationCodeCheck,
                17,
                Some(org as char),
            ));
        }
        let check = uscc_check_char(b).expect("alphabet already checked");
        if b[17] != check {
            return Err(err(kind, IdRule::UsccCheck, 18, Some(check as char)));
        }
        Ok(Uscc(s))
    }

    /// Completes a 16-character USCC prefix with both check characters. For tests, fixtures
    /// and examples; the result still goes through [`Uscc::parse`].
    pub fn with_check_chars(prefix16: &str) -> Result<Self, IdentifierError> {
        let p = normalise(prefix16);
        if p.len() != 16 || !p.is_ascii() || p.bytes().any(|c| uscc_value(c).is_none()) {
            return Err(length_error(SubjectKind::Enterprise, &p));
        }
        let mut b = p.into_bytes();
        b.push(org_code_check_char(&b[8..16]));
        b.push(b'0');
        b[17] = uscc_check_char(&b).expect("alphabet checked");
        Uscc::parse(std::str::from_utf8(&b).expect("ascii"))
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enterprise codes are public registry data, but log lines should still not carry them
        // by accident: show only the division code.
        write!(f, "Uscc({}…)", &self.0[..8])
    }
}

impl std::str::FromStr for Uscc {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

fn err(
    kind: SubjectKind,
    rule: IdRule,
    position: usize,
    expected: Option<char>,
) -> IdentifierError {
    IdentifierError {
        kind,
        rule,
        position,
        expected,
    }
}

/// Six digits, the first a province-level digit 1–8. Returns the offset of the first bad one.
fn division_code_error(code: &[u8]) -> Option<usize> {
    if !matches!(code[0], b'1'..=b'8') {
        return Some(0);
    }
    code.iter().position(|c| !c.is_ascii_digit())
}

/// A validated resident identity number (公民身份号码), GB 11643-1999.
///
/// Personal data: zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId(String);

impl Drop for ResidentId {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ResidentId {
    /// Parses and validates an 18-character resident identity number; a trailing `x` is
    /// normalised to `X`.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let kind = SubjectKind::Person;
        let s = normalise(input);
        if s.chars().count() != 18 {
            return Err(length_error(kind, &s));
        }
        let chars: Vec<char> = s.chars().collect();
        if let Some(p) = chars[..17].iter().position(|c| !c.is_ascii_digit()) {
            return Err(err(kind, IdRule::Digit, p + 1, None));
        }
        if !(chars[17].is_ascii_digit() || chars[17] == 'X') {
            return Err(err(kind, IdRule::Digit, 18, None));
        }
        let b = s.as_bytes();
        if let Some(p) = division_code_error(&b[0..6]) {
            return Err(err(kind, IdRule::DivisionCode, 1 + p, None));
        }
        if let Some(p) = birth_date_error(&b[6..14]) {
            return Err(err(kind, IdRule::BirthDate, 7 + p, None));
        }
        let check = resident_check_char(b);
        if b[17] != check {
            return Err(err(kind, IdRule::ResidentIdCheck, 18, Some(check as char)));
        }
        Ok(ResidentId(s))
    }

    /// The normalised number. Handle with care: personal data.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentId(<redacted>)")
    }
}

impl std::str::FromStr for ResidentId {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResidentId::parse(s)
    }
}

/// ISO 7064 MOD 11-2 check character over the first 17 digits.
fn resident_check_char(b: &[u8]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(&c, w)| u32::from(c - b'0') * w)
        .sum();
    C[(sum % 11) as usize]
}

/// `YYYYMMDD` must be a real calendar date in 1800–2099. Returns the offset (0-based, within
/// the date) of the field that is wrong: 0 for the year, 4 for the month, 6 for the day.
fn birth_date_error(d: &[u8]) -> Option<usize> {
    let num = |r: std::ops::Range<usize>| -> u32 {
        d[r].iter()
            .fold(0, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (y, m, day) = (num(0..4), num(4..6), num(6..8));
    if !(1800..=2099).contains(&y) {
        return Some(0);
    }
    if !(1..=12).contains(&m) {
        return Some(4);
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap => 29,
        _ => 28,
    };
    if day == 0 || day > days {
        return Some(6);
    }
    None
}

/// A validated subject identifier of either kind.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SubjectId {
    /// An enterprise.
    Enterprise(Uscc),
    /// A person.
    Person(ResidentId),
}

impl SubjectId {
    /// Parses an identifier of the stated kind. (Both kinds are 18 characters and some codes
    /// are all digits, so the kind must be given, never guessed.)
    pub fn parse(kind: SubjectKind, input: &str) -> Result<Self, IdentifierError> {
        match kind {
            SubjectKind::Enterprise => Uscc::parse(input).map(SubjectId::Enterprise),
            SubjectKind::Person => ResidentId::parse(input).map(SubjectId::Person),
        }
    }
    /// The kind of subject.
    pub fn kind(&self) -> SubjectKind {
        match self {
            SubjectId::Enterprise(_) => SubjectKind::Enterprise,
            SubjectId::Person(_) => SubjectKind::Person,
        }
    }
    /// The normalised identifier text.
    pub fn as_str(&self) -> &str {
        match self {
            SubjectId::Enterprise(u) => u.as_str(),
            SubjectId::Person(p) => p.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_validate() {
        for code in [
            "914403001922038216",
            "9144030071526726XG",
            "91330100799655058B",
        ] {
            Uscc::parse(code).unwrap();
        }
        assert_eq!(
            Uscc::parse(" 9144030071526726xg ").unwrap().as_str(),
            "9144030071526726XG"
        );
        ResidentId::parse("11010519491231002X").unwrap();
        assert_eq!(
            ResidentId::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn check_char_error_names_expected() {
        let e = Uscc::parse("914403001922038217").unwrap_err();
        assert_eq!(
            (e.rule, e.position, e.expected),
            (IdRule::UsccCheck, 18, Some('6'))
        );
        assert!(e.to_string().contains("position 18"), "{e}");
    }

    #[test]
    fn debug_never_prints_a_person() {
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("1949"));
        assert!(!format!("{:?}", SubjectId::Person(id)).contains("1949"));
    }

    #[test]
    fn with_check_chars_builds_valid_codes() {
        let u = Uscc::with_check_chars("91110108MA01AB2C").unwrap();
        assert_eq!(Uscc::parse(u.as_str()).unwrap(), u);
    }
}
