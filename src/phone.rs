//! Phone numbers to E.164, by the `phonenumber` crate's rules and metadata, without its regex
//! cache.
//!
//! The crate's `parse` + `is_valid` look every pattern up in one shared, string-keyed LRU cache
//! of 100 compiled regexes: each look-up hashes the whole pattern (SipHash, hundreds of bytes),
//! and a country with many patterns (the UK, with `0|180020` as its national prefix rule) costs
//! microseconds per number. Here each region's patterns are compiled once per process, the first
//! time a number of that region is seen, into the same `regex` engine, and found again by table
//! index. The steps and their order are the crate's own (see `parse_cleaned`), quirks included,
//! so both give the same answer for every input; `tests::agrees_with_the_phonenumber_crate`
//! checks that on every region's example numbers and on random digit strings.

use once_cell::sync::{Lazy, OnceCell};
use phonenumber::metadata::DATABASE;
use phonenumber::Metadata;
use regex::{Regex, RegexBuilder};

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// Not shaped like a phone number, or its country calling code is unknown.
    NotANumber,
    /// Parsed, but not a valid number for its country.
    Invalid,
    /// The region given for a national number is not in the metadata.
    UnknownRegion,
}

/// Shortest and longest national significant number (ITU-T E.164).
const MIN_NSN: usize = 2;
const MAX_NSN: usize = 17;

/// One number-type pattern of a region and the lengths it allows.
struct Desc {
    /// The pattern, anchored at the start: the crate accepts a match that starts at 0.
    starts: Regex,
    lengths: Vec<u16>,
    local_lengths: Vec<u16>,
}

impl Desc {
    fn new(desc: &phonenumber::metadata::Descriptor) -> Option<Desc> {
        Some(Desc {
            starts: anchored(desc.national_number().as_str())?,
            lengths: desc.possible_length().to_vec(),
            local_lengths: desc.possible_local_length().to_vec(),
        })
    }

    /// The crate's `Descriptor::is_match`: a possible length, and the pattern matching from 0.
    fn is_match(&self, value: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(value.len() as u16)))
            && self.starts.is_match(value)
    }
}

/// A region's rules, compiled.
struct Region {
    meta: &'static Metadata,
    general: Desc,
    /// Every number type the crate's `number_type` tries; a number is valid when one matches.
    /// Mobile and fixed line first: most numbers stop there.
    types: Vec<Desc>,
    international_prefix: Option<Regex>,
    prefix_for_parsing: Option<Regex>,
    leading_digits: Option<Regex>,
}

/// `pattern` compiled as the crate compiles it (whitespace ignored), anchored at the start. The
/// newline ends a `#` comment before the closing bracket, as it would in the crate's pattern.
fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern}\n)"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

impl Region {
    fn compile(meta: &'static Metadata) -> Option<Region> {
        let d = meta.descriptors();
        let mut types = Vec::with_capacity(10);
        for desc in [
            d.mobile(),
            d.fixed_line(),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        {
            types.push(Desc::new(desc)?);
        }
        let optional = |pattern: Option<&str>| -> Option<Option<Regex>> {
            match pattern {
                None => Some(None),
                Some(p) => anchored(p).map(Some),
            }
        };
        Some(Region {
            meta,
            general: Desc::new(d.general())?,
            types,
            international_prefix: optional(meta.international_prefix().map(|r| r.as_str()))?,
            prefix_for_parsing: optional(meta.national_prefix_for_parsing().map(|r| r.as_str()))?,
            leading_digits: optional(meta.leading_digits().map(|r| r.as_str()))?,
        })
    }

    /// Whether the crate's `number_type` finds a type other than Unknown.
    fn has_type(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }

    /// The crate's `validator::length(meta, number, Type::Unknown)`, reduced to what parsing
    /// asks of it.
    fn length(&self, national: &str) -> Length {
        let len = national.len() as u16;
        let possible = &self.general.lengths;
        let (Some(&min), Some(&max)) = (possible.first(), possible.last()) else {
            return Length::Invalid;
        };
        if self.general.local_lengths.contains(&len) || len == min {
            Length::Possible
        } else if len < min {
            Length::TooShort
        } else if len > max {
            Length::Invalid
        } else if possible.contains(&len) {
            Length::Possible
        } else {
            Length::Invalid
        }
    }

    /// The crate's `helper::national_number`: the national prefix (and carrier code) stripped
    /// by the region's parsing rule, or transformed by its transform rule.
    fn strip_national_prefix<'s>(
        &self,
        national: &'s str,
        crate_quirk: bool,
    ) -> std::borrow::Cow<'s, str> {
        use std::borrow::Cow;
        let Some(parsing) = &self.prefix_for_parsing else {
            return match self.meta.national_prefix() {
                Some(p) if national.starts_with(p) => Cow::Borrowed(&national[p.len()..]),
                _ => Cow::Borrowed(national),
            };
        };
        let Some(caps) = parsing.captures(national) else {
            return Cow::Borrowed(national);
        };
        let whole = caps.get(0).map_or(0, |m| m.end());
        let last = caps.get(caps.len() - 1);
        match self.meta.national_prefix_transform_rule() {
            Some(transform) if last.is_some() => {
                let mut transformed = String::with_capacity(national.len() + transform.len());
                caps.expand(transform, &mut transformed);
                transformed.push_str(&national[whole..]);
                if self.general.is_match(national) && !self.general.is_match(&transformed) {
                    return Cow::Borrowed(national);
                }
                Cow::Owned(transformed)
            }
            // libphonenumber keeps the prefix when the number matched the general pattern and
            // the rest would not ("+55 900000000" would lose "90"); the crate compares the
            // number with itself there (`national[start..]`, start = 0), so it always strips,
            // and "0900000000" (BR) then normalises to a number that does not parse again.
            // convapi follows libphonenumber; `crate_quirk` keeps the crate's rule for the tests
            // that compare the two.
            _ if !crate_quirk
                && self.general.is_match(national)
                && !self.general.is_match(&national[whole..]) =>
            {
                Cow::Borrowed(national)
            }
            _ => Cow::Borrowed(&national[whole..]),
        }
    }
}

/// The regions sharing one country calling code, in the metadata's order.
struct Code {
    regions: Vec<(&'static Metadata, OnceCell<Option<Region>>)>,
}

/// Country calling codes (1 to 999) to their regions.
static CODES: Lazy<Vec<Option<Code>>> = Lazy::new(|| {
    (0..1000u16)
        .map(|code| {
            let ids = DATABASE.region(&code)?;
            let regions: Vec<(&'static Metadata, OnceCell<Option<Region>>)> = ids
                .iter()
                .filter_map(|id| {
                    if *id == "001" {
                        // Non-geographic entities share the id "001": take this code's own.
                        DATABASE.by_code(&code)?.into_iter().next()
                    } else {
                        DATABASE.by_id(*id)
                    }
                })
                .map(|meta| (meta, OnceCell::new()))
                .collect();
            (!regions.is_empty()).then_some(Code { regions })
        })
        .collect()
});

/// An ISO 3166-1 alpha-2 region (uppercase) to its calling code and position under it.
static REGION_INDEX: Lazy<Vec<Option<(u16, usize)>>> = Lazy::new(|| {
    let mut index = vec![None; 26 * 26];
    for (code, entry) in CODES.iter().enumerate() {
        let Some(entry) = entry else { continue };
        for (i, (meta, _)) in entry.regions.iter().enumerate() {
            if let Some(slot) = region_slot(meta.id()) {
                index[slot].get_or_insert((code as u16, i));
            }
        }
    }
    index
});

fn region_slot(id: &str) -> Option<usize> {
    match id.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
        }
        _ => None,
    }
}

fn code_entry(code: u16) -> Option<&'static Code> {
    CODES.get(usize::from(code))?.as_ref()
}

/// The compiled rules of the `i`-th region of `code`.
fn region_at(code: u16, i: usize) -> Option<&'static Region> {
    let (meta, cell) = code_entry(code)?.regions.get(i)?;
    cell.get_or_init(|| Region::compile(meta)).as_ref()
}

/// The compiled rules of an uppercase alpha-2 region.
fn region_by_id(id: &str) -> Option<(u16, &'static Region)> {
    let (code, i) = (*REGION_INDEX.get(region_slot(id)?)?)?;
    Some((code, region_at(code, i)?))
}

/// The crate's `validator::source_for`: which region of `code` a national number belongs to.
fn region_for(code: u16, national: &str) -> Option<&'static Region> {
    let entry = code_entry(code)?;
    if entry.regions.len() == 1 {
        return region_at(code, 0);
    }
    for i in 0..entry.regions.len() {
        let region = region_at(code, i)?;
        match &region.leading_digits {
            Some(leading) => {
                if leading.is_match(national) {
                    return Some(region);
                }
            }
            None => {
                if region.has_type(national) {
                    return Some(region);
                }
            }
        }
    }
    None
}

/// E.164 (`+` and digits) of a number already reduced to digits with an optional leading `+`,
/// national numbers read in `region` (uppercase alpha-2). The same result as the crate's
/// `parse(region, cleaned)` followed by `is_valid`.
pub fn e164(cleaned: &str, region: Option<&str>) -> Result<String, PhoneError> {
    e164_with(cleaned, region, false)
}

/// [`e164`], with the crate's national-prefix rule when `crate_quirk` (tests only).
fn e164_with(cleaned: &str, region: Option<&str>, crate_quirk: bool) -> Result<String, PhoneError> {
    let home = match region {
        Some(id) => Some(region_by_id(id).ok_or(PhoneError::UnknownRegion)?),
        None => None,
    };
    let (code, national) = parse_cleaned(cleaned, home, crate_quirk)?;
    let region = region_for(code, &national).ok_or(PhoneError::Invalid)?;
    if !region.has_type(&national) {
        return Err(PhoneError::Invalid);
    }
    let mut out = String::with_capacity(national.len() + 4);
    out.push('+');
    out.push_str(itoa::Buffer::new().format(code));
    out.push_str(&national);
    Ok(out)
}

/// The crate's `parse_with` for cleaned input: the country calling code and the national
/// significant number.
fn parse_cleaned(
    cleaned: &str,
    home: Option<(u16, &'static Region)>,
    crate_quirk: bool,
) -> Result<(u16, String), PhoneError> {
    let (plus, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, cleaned),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneError::NotANumber);
    }
    // is_viable: two bare digits, or three digits at least.
    if digits.len() < 2 || (plus && digits.len() < 3) {
        return Err(PhoneError::NotANumber);
    }
    // international_prefix: a leading '+', and/or the home region's international prefix
    // (unless a 0 follows it).
    let mut national = digits;
    let mut international = plus;
    let idd = home.and_then(|(_, r)| r.international_prefix.as_ref());
    if let Some(m) = idd.and_then(|re| re.find(national)) {
        if !national[m.end()..].starts_with('0') {
            international = true;
            national = &national[m.end()..];
        }
    }
    // country_code
    let (code, national) = if international {
        if national.len() <= MIN_NSN || national.starts_with('0') {
            return Err(PhoneError::NotANumber);
        }
        let found = (1..=3).find_map(|len| {
            let code: u16 = national[..len].parse().ok()?;
            code_entry(code).map(|_| (code, len))
        });
        let (code, len) = found.ok_or(PhoneError::NotANumber)?;
        (code, &national[len..])
    } else {
        let Some((code, region)) = home else {
            return Err(PhoneError::NotANumber);
        };
        let mut buf = itoa::Buffer::new();
        let code_text = buf.format(code);
        let national = if national.starts_with(code_text)
            && (!region.general.is_match(national) || region.length(national) != Length::Possible)
        {
            &national[code_text.len()..]
        } else {
            national
        };
        (code, national)
    };
    // The metadata the national prefix is read with: the home region's when one is given,
    // else the region the number's digits (leading zeros dropped) belong to.
    let meta_region = match home {
        Some((_, region)) => Some(region),
        None => region_for(code, national.trim_start_matches('0')),
    };
    let mut national = std::borrow::Cow::Borrowed(national);
    if let Some(region) = meta_region {
        let mut potential = region
            .strip_national_prefix(&national, crate_quirk)
            .into_owned();
        if let Some(prefix) = region.meta.national_prefix() {
            if potential.starts_with(prefix) {
                potential.drain(..prefix.len());
            }
        }
        if region.length(&potential) != Length::TooShort {
            national = std::borrow::Cow::Owned(potential);
        }
    }
    if national.len() < MIN_NSN || national.len() > MAX_NSN {
        return Err(PhoneError::NotANumber);
    }
    // NationalNumber: leading zeros counted, the rest a u64 below 2^56.
    let significant = national.trim_start_matches('0');
    match significant.parse::<u64>() {
        Ok(v) if v < (1 << 56) => Ok((code, national.into_owned())),
        _ => Err(PhoneError::NotANumber),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Possible,
    TooShort,
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// The crate's own answer: `parse` then `is_valid`, as E.164. A panic inside the crate
    /// (it unwraps in places) counts as a refusal.
    fn crate_e164(cleaned: &str, region: Option<&str>) -> Option<String> {
        let id = match region {
            Some(r) => Some(phonenumber::country::Id::from_str(r).ok()?),
            None => None,
        };
        let input = cleaned.to_string();
        std::panic::catch_unwind(move || {
            phonenumber::parse(id, &input)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| format!("+{}{}", n.code().value(), n.national()))
        })
        .ok()
        .flatten()
    }

    fn ours(cleaned: &str, region: Option<&str>) -> Option<String> {
        e164(cleaned, region).ok()
    }

    /// With the crate's national-prefix rule, the port gives the crate's answer for every
    /// input; with libphonenumber's, it differs only where that rule decides, and a number it
    /// gives normalises to itself again.
    fn check(cleaned: &str, region: Option<&str>) {
        let quirk = e164_with(cleaned, region, true).ok();
        assert_eq!(
            quirk,
            crate_e164(cleaned, region),
            "{cleaned:?} in {region:?}"
        );
        let as_normalize_calls = !cleaned.starts_with('+') || region.is_none();
        if let Some(once) = ours(cleaned, region).filter(|_| as_normalize_calls) {
            assert_eq!(
                ours(&once, None).as_deref(),
                Some(once.as_str()),
                "{cleaned:?} in {region:?}"
            );
        }
    }

    #[test]
    fn common_numbers() {
        assert_eq!(
            ours("0612345678", Some("FR")).as_deref(),
            Some("+33612345678")
        );
        assert_eq!(ours("+33612345678", None).as_deref(), Some("+33612345678"));
        assert_eq!(ours("+330612345678", None).as_deref(), Some("+33612345678"));
        assert_eq!(
            ours("6505551212", Some("US")).as_deref(),
            Some("+16505551212")
        );
        assert_eq!(
            ours("07400123456", Some("GB")).as_deref(),
            Some("+447400123456")
        );
        assert_eq!(
            ours("+390612345678", None).as_deref(),
            Some("+390612345678")
        );
        assert_eq!(e164("07700900123", Some("GB")), Err(PhoneError::Invalid));
        assert_eq!(e164("+1000", None), Err(PhoneError::NotANumber));
        assert_eq!(e164("+15555555555", None), Err(PhoneError::Invalid));
        assert_eq!(e164("12", Some("ZZ")), Err(PhoneError::UnknownRegion));
        assert_eq!(e164("+12", None), Err(PhoneError::NotANumber));
        // The crate strips "90" from the E.164 form of this Brazilian premium number.
        assert_eq!(
            ours("0900000000", Some("BR")).as_deref(),
            Some("+55900000000")
        );
        assert_eq!(ours("+55900000000", None).as_deref(), Some("+55900000000"));
        assert_eq!(crate_e164("+55900000000", None), None);
    }

    /// Every region's example numbers (each number type), written nationally with and without
    /// the trunk prefix, and internationally with and without '+', agree with the crate.
    #[test]
    fn agrees_with_the_phonenumber_crate_on_every_example_number() {
        let mut checked = 0;
        for meta in DATABASE.iter() {
            let id = meta.id();
            let region = (region_slot(id).is_some()).then_some(id);
            let d = meta.descriptors();
            for desc in [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            {
                let Some(example) = desc.example() else {
                    continue;
                };
                let code = meta.country_code();
                check(&format!("+{code}{example}"), None);
                check(&format!("{code}{example}"), region);
                if let Some(region) = region {
                    check(example, Some(region));
                    if let Some(prefix) = meta.national_prefix() {
                        check(&format!("{prefix}{example}"), Some(region));
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} example numbers");
    }

    proptest! {
        #[test]
        fn agrees_with_the_phonenumber_crate_on_random_digits(
            digits in "[0-9]{1,18}",
            plus in any::<bool>(),
            region in proptest::option::of(
                "(US|CA|FR|GB|DE|IT|ES|NL|BE|CH|AT|PL|SE|NO|DK|FI|IE|PT|BR|MX|AR|CO|CL|IN|JP|CN|KR|AU|NZ|ZA|NG|EG|RU|KZ|TR|IL|AE|SA|SG|HK|ID|PH|VN|TH|MY|GG|JE|IM|PR|JM)"),
        ) {
            let cleaned = if plus { format!("+{digits}") } else { digits };
            let region = region.as_deref();
            prop_assert_eq!(e164_with(&cleaned, region, true).ok(), crate_e164(&cleaned, region));
            // As normalize_phone calls it: a region only for national numbers.
            if let Some(once) = ours(&cleaned, region).filter(|_| !plus || region.is_none()) {
                prop_assert_eq!(ours(&once, None), Some(once.clone()));
            }
        }
    }
}
