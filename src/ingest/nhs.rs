//! NHS numbers: the Modulus 11 check and the keyed hash that replaces them.
//!
//! The check is a polars expression over the whole column; the hash is
//! HMAC-SHA256 of the ten digits with the pipeline's key, as lower-case hex.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use polars::prelude::*;
use sha2::Sha256;

/// The column with spaces and hyphens removed (NHS numbers are often written 943 476 5919).
pub fn digits(e: Expr) -> Expr {
    e.str().replace_all(lit("[ -]"), lit(""), false)
}

/// True where the text is exactly ten digits.
pub fn is_ten_digits(digits: Expr) -> Expr {
    digits.str().contains(lit("^[0-9]{10}$"), false)
}

/// True where ten digits pass the Modulus 11 check (NHS Data Dictionary):
/// weights 10..2 on the first nine digits; check = 11 − (sum mod 11), 11 → 0,
/// and 10 is never valid.
pub fn passes_modulus_11(digits: Expr) -> Expr {
    let digit = |i: i64| {
        digits
            .clone()
            .str()
            .slice(lit(i), lit(1))
            .cast(DataType::Int64)
    };
    let sum = (0..9)
        .map(|i| digit(i) * lit(10 - i))
        .reduce(|a, b| a + b)
        .expect("nine digits");
    let check = lit(11i64) - sum % lit(11i64);
    let check = when(check.clone().eq(lit(11i64)))
        .then(lit(0i64))
        .otherwise(check);
    check.clone().neq(lit(10i64)).and(check.eq(digit(9)))
}

/// Shown where a value held something that reads as an NHS number.
pub const REMOVED: &str = "[NHS number removed]";

/// Characters that may separate the digits of a written NHS number: any
/// that is not a letter or a digit ("943 476 5919", "943-476-5919",
/// "943.476.5919", "943/476/5919", "943–476–5919" with Excel's en dash,
/// "(943) 476 5919", "943|476|5919", any Unicode space or dash).
fn is_separator(c: char) -> bool {
    !c.is_alphanumeric() || is_invisible(c)
}

/// Characters that show as nothing, or only as a mark on the character
/// before: Unicode's default-ignorable code points (zero-width spaces and
/// joiners, the soft hyphen, direction marks, variation selectors, and the
/// Hangul fillers, letters that show as a blank), the other format
/// characters, and combining marks (an accent on a digit, which Unicode
/// counts as part of a word). A separator that does not count toward
/// [`MAX_GAP`] and does not part two groups of digits: "943" + six
/// zero-width spaces + "4765919" shows as 9434765919, and is read as it
/// shows.
fn is_invisible(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
        || matches!(
            c as u32,
            0x0600..=0x0605
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0xFFF9..=0xFFFB
                | 0x00AD
                | 0x034F
                | 0x061C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFF8
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

/// At most this many separator characters between two digits of one number
/// ("943  -  476  -  5919" has five), invisible ones ([`is_invisible`]) not
/// counted. Runs of spaces are counted one by one: a table of counts padded
/// with spaces is not one long number.
const MAX_GAP: usize = 5;

/// True when ten digits pass the Modulus 11 check.
pub fn valid_digits(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, x)| (*x as u32) * (10 - i as u32))
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == d[9] as u32
}

/// Every character Unicode gives a digit value, beyond ASCII: each run of
/// code points with consecutive values as (first code point, its value,
/// length). The decimal digits of every script (Arabic-Indic, Devanagari,
/// Bengali, Sinhala, Thai, Myanmar, NKo, Mongolian, Adlam, Hanifi Rohingya,
/// fullwidth, mathematical, segmented …) and the digit forms (superscript,
/// subscript, circled, parenthesised, with a full stop, dingbats), from
/// Unicode 18.0 (`unicodedata.digit` of PyPI's `unicodedata2` 18.0.0; it
/// adds Garay, Kawi, Sunuwar, Gurung Khema, Kirat Rai, outlined digits …
/// to Unicode 14's). An NHS number typed in any of them is still an NHS
/// number.
const DIGIT_RANGES: [(u32, u8, u8); 97] = [
    (0x00B2, 2, 2),
    (0x00B9, 1, 1),
    (0x0660, 0, 10),
    (0x06F0, 0, 10),
    (0x07C0, 0, 10),
    (0x0966, 0, 10),
    (0x09E6, 0, 10),
    (0x0A66, 0, 10),
    (0x0AE6, 0, 10),
    (0x0B66, 0, 10),
    (0x0BE6, 0, 10),
    (0x0C66, 0, 10),
    (0x0CE6, 0, 10),
    (0x0D66, 0, 10),
    (0x0DE6, 0, 10),
    (0x0E50, 0, 10),
    (0x0ED0, 0, 10),
    (0x0F20, 0, 10),
    (0x1040, 0, 10),
    (0x1090, 0, 10),
    (0x1369, 1, 9),
    (0x17E0, 0, 10),
    (0x1810, 0, 10),
    (0x1946, 0, 10),
    (0x19D0, 0, 10),
    (0x19DA, 1, 1),
    (0x1A80, 0, 10),
    (0x1A90, 0, 10),
    (0x1B50, 0, 10),
    (0x1BB0, 0, 10),
    (0x1C40, 0, 10),
    (0x1C50, 0, 10),
    (0x2070, 0, 1),
    (0x2074, 4, 6),
    (0x2080, 0, 10),
    (0x2460, 1, 9),
    (0x2474, 1, 9),
    (0x2488, 1, 9),
    (0x24EA, 0, 1),
    (0x24F5, 1, 9),
    (0x24FF, 0, 1),
    (0x2776, 1, 9),
    (0x2780, 1, 9),
    (0x278A, 1, 9),
    (0xA620, 0, 10),
    (0xA8D0, 0, 10),
    (0xA900, 0, 10),
    (0xA9D0, 0, 10),
    (0xA9F0, 0, 10),
    (0xAA50, 0, 10),
    (0xABF0, 0, 10),
    (0xFF10, 0, 10),
    (0x104A0, 0, 10),
    (0x10A40, 1, 4),
    (0x10D30, 0, 10),
    (0x10D40, 0, 10),
    (0x10E60, 1, 9),
    (0x11052, 1, 9),
    (0x11066, 0, 10),
    (0x110F0, 0, 10),
    (0x11136, 0, 10),
    (0x111D0, 0, 10),
    (0x112F0, 0, 10),
    (0x11450, 0, 10),
    (0x114D0, 0, 10),
    (0x11650, 0, 10),
    (0x116C0, 0, 10),
    (0x116D0, 0, 10),
    (0x116DA, 0, 10),
    (0x11730, 0, 10),
    (0x118E0, 0, 10),
    (0x11950, 0, 10),
    (0x11BF0, 0, 10),
    (0x11C50, 0, 10),
    (0x11D50, 0, 10),
    (0x11DA0, 0, 10),
    (0x11DE0, 0, 10),
    (0x11F50, 0, 10),
    (0x16130, 0, 10),
    (0x16A60, 0, 10),
    (0x16AC0, 0, 10),
    (0x16B50, 0, 10),
    (0x16D70, 0, 10),
    (0x1CCF0, 0, 10),
    (0x1D7CE, 0, 10),
    (0x1D7D8, 0, 10),
    (0x1D7E2, 0, 10),
    (0x1D7EC, 0, 10),
    (0x1D7F6, 0, 10),
    (0x1E140, 0, 10),
    (0x1E2F0, 0, 10),
    (0x1E4F0, 0, 10),
    (0x1E5F1, 0, 10),
    (0x1E950, 0, 10),
    (0x1F100, 0, 1),
    (0x1F101, 0, 10),
    (0x1FBF0, 0, 10),
];

/// A character's value as a digit, in any script or form of [`DIGIT_RANGES`].
fn digit_value(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c as u8 - b'0');
    }
    let cp = c as u32;
    let i = DIGIT_RANGES.partition_point(|&(first, _, _)| first <= cp);
    let (first, value, len) = *DIGIT_RANGES.get(i.checked_sub(1)?)?;
    (cp < first + len as u32).then(|| value + (cp - first) as u8)
}

/// How many digits (of any script) `text` holds.
fn digit_count(text: &str) -> usize {
    match text.is_ascii() {
        true => text.bytes().filter(u8::is_ascii_digit).count(),
        false => text.chars().filter(|c| digit_value(*c).is_some()).count(),
    }
}

/// The runs of digits (with separators between them) that hold a valid NHS
/// number in any ten consecutive digits: each run's byte span and digits.
fn nhs_runs(text: &str) -> Vec<((usize, usize), Vec<u8>)> {
    digit_runs(text)
        .into_iter()
        .filter(|(_, d, _)| d.len() >= 10 && d.windows(10).any(valid_digits))
        .map(|(span, d, _)| (span, d))
        .collect()
}

/// True when the text names an NHS number: consecutive whole groups of
/// digits (digits between separators) in one run that make exactly ten
/// digits passing the check (`943-476-5919`, `2024/9434765919`). For
/// refusing a name, a run id or a pipeline value, where
/// [`contains_nhs_number`]'s any-ten-of-a-longer-run would refuse a time
/// stamp one time in three (`export_20261128_023015.csv`); masking keeps the
/// wider rule.
pub fn names_an_nhs_number(text: &str) -> bool {
    digit_count(text) >= 10
        && digit_runs(text)
            .iter()
            .any(|(_, digits, groups)| ten_from_whole_groups(digits, groups))
}

/// True when some groups in a row, from a group's first digit, hold exactly
/// ten digits that pass the check.
fn ten_from_whole_groups(digits: &[u8], groups: &[usize]) -> bool {
    let mut start = 0;
    for (i, first) in groups.iter().enumerate() {
        let mut len = 0;
        for g in &groups[i..] {
            len += g;
            if len >= 10 {
                break;
            }
        }
        if len == 10 && valid_digits(&digits[start..start + 10]) {
            return true;
        }
        start += first;
    }
    false
}

/// Each maximal run of digits (any script) joined by short runs of
/// separators: its byte span, its digits, and the lengths of its groups of
/// digits between separators.
type DigitRun = ((usize, usize), Vec<u8>, Vec<usize>);

fn digit_runs(text: &str) -> Vec<DigitRun> {
    let mut spans = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        if digit_value(chars[i].1).is_none() {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut digits: Vec<u8> = Vec::new();
        let mut groups: Vec<usize> = vec![0];
        let mut end = i;
        let mut j = i;
        while j < chars.len() {
            let c = chars[j].1;
            if let Some(d) = digit_value(c) {
                digits.push(d);
                *groups.last_mut().expect("one group") += 1;
                end = j;
                j += 1;
            } else if is_separator(c) {
                let (mut k, mut seen) = (j, 0);
                while k < chars.len() && is_separator(chars[k].1) && seen <= MAX_GAP {
                    seen += usize::from(!is_invisible(chars[k].1));
                    k += 1;
                }
                if seen <= MAX_GAP && k < chars.len() && digit_value(chars[k].1).is_some() {
                    if seen > 0 {
                        groups.push(0);
                    }
                    j = k;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let stop = chars[end].0 + chars[end].1.len_utf8();
        spans.push(((start, stop), digits, groups));
        i = end + 1;
    }
    spans
}

/// True when the text holds an NHS number in any common written form.
pub fn contains_nhs_number(text: &str) -> bool {
    digit_count(text) >= 10 && !nhs_runs(text).is_empty()
}

/// The one masking function for everything written outside the ingest step
/// (rejects, messages, logs, stored free text): any run of ten digits, with
/// any separators, that forms a valid NHS number is replaced.
pub fn mask_text(text: &str) -> std::borrow::Cow<'_, str> {
    replace_runs(text, |_| REMOVED.to_string())
}

/// `text` with each run of digits that holds an NHS number (as
/// [`mask_text`] finds them) replaced by `with(its digits)`.
fn replace_runs(text: &str, with: impl Fn(&[u8]) -> String) -> std::borrow::Cow<'_, str> {
    if digit_count(text) < 10 {
        return std::borrow::Cow::Borrowed(text);
    }
    let runs = nhs_runs(text);
    if runs.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for ((a, b), digits) in runs {
        out.push_str(&text[last..a]);
        out.push_str(&with(&digits));
        last = b;
    }
    out.push_str(&text[last..]);
    std::borrow::Cow::Owned(out)
}

/// A key's NHS number replaced by a keyed token: `[id ` and the first 12
/// hex digits of the HMAC of its digits `]`.
fn id_token(keyed: &Hmac<Sha256>, digits: &[u8]) -> String {
    let ascii: Vec<u8> = digits.iter().map(|d| b'0' + d).collect();
    let mut mac = keyed.clone();
    mac.update(&ascii);
    let hex = hex::encode(mac.finalize().into_bytes());
    format!("[id {}]", &hex[..12])
}

/// A text column mapped whole by `f` to a column of type `dtype`, keeping its name.
fn map_text<F>(e: Expr, dtype: DataType, f: F) -> Expr
where
    F: Fn(&StringChunked) -> Column + Send + Sync + 'static,
{
    e.map(
        move |c: Column| Ok(f(c.str()?).with_name(c.name().clone())),
        move |_, field| Ok(Field::new(field.name().clone(), dtype.clone())),
    )
}

/// `f` over a long column in parts side by side (one a thread), the parts'
/// results in order: the hash and the checks are per value, so a column of
/// millions is split rather than done on one core.
fn in_parts<F>(ca: &StringChunked, f: F) -> Column
where
    F: Fn(&StringChunked) -> Series + Sync,
{
    const MIN_PART: usize = 1 << 16;
    let n = (ca.len() / MIN_PART).clamp(1, super::read::reading_threads());
    if n == 1 {
        return f(ca).into_column();
    }
    let step = ca.len().div_ceil(n);
    let parts: Vec<StringChunked> = (0..n).map(|k| ca.slice((k * step) as i64, step)).collect();
    let mut done = super::read::side_by_side(&parts, f).into_iter();
    let mut out = done.next().expect("at least one part");
    for d in done {
        out.append_owned(d)
            .expect("parts of one column share a type");
    }
    out.into_column()
}

/// `mask_text` over a text column.
pub fn mask(e: Expr) -> Expr {
    map_text(e, DataType::String, |ca| {
        masked_column(ca, |_| REMOVED.to_string())
    })
}

/// `mask` for a column that is a key (a course, provider or spell id): each
/// NHS number is replaced by a keyed token (`id_token`) rather than one
/// marker, so ids that differ only in their numbers (`BK2023050103`,
/// `BK2023050111`) stay apart, and no number is stored.
pub fn mask_keyed(e: Expr, key: Arc<Vec<u8>>) -> Expr {
    map_text(e, DataType::String, move |ca| {
        let keyed = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
        masked_column(ca, |d| id_token(&keyed, d))
    })
}

/// Each value with its NHS numbers replaced by `with(their digits)`
/// ([`replace_runs`]), in parts side by side; a part with nothing to mask
/// is kept as it is (not copied value by value).
fn masked_column(ca: &StringChunked, with: impl Fn(&[u8]) -> String + Sync) -> Column {
    in_parts(ca, |part| {
        if !part.iter().flatten().any(contains_nhs_number) {
            return part.clone().into_series();
        }
        part.apply_into_string_amortized(|v, buf| buf.push_str(&replace_runs(v, &with)))
            .into_series()
    })
}

/// True where a text column's value holds an NHS number in any written form.
pub fn holds_nhs_number(e: Expr) -> Expr {
    map_text(e, DataType::Boolean, |ca| {
        let out: BooleanChunked = ca.iter().map(|v| v.map(contains_nhs_number)).collect();
        out.into_column()
    })
}

/// HMAC-SHA256 of one value, hex encoded.
pub fn hmac_hex(key: &[u8], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Replaces each value by its keyed hash (as [`hmac_hex`]: the keyed state
/// is made once and cloned per value, the hex written without allocating).
pub fn pseudonymise(e: Expr, key: Arc<Vec<u8>>) -> Expr {
    map_text(e, DataType::String, move |ca| {
        let keyed = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
        in_parts(ca, |part| {
            let mut hex_buf = [0u8; 64];
            part.apply_into_string_amortized(|v, buf| {
                let mut mac = keyed.clone();
                mac.update(v.as_bytes());
                // 32 bytes always fit 64 hex digits.
                if hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex_buf).is_ok() {
                    buf.push_str(std::str::from_utf8(&hex_buf).unwrap_or_default());
                }
            })
            .into_series()
        })
    })
}

/// Each value's [`PERSON_KEY`](crate::schema::PERSON_KEY): the XXH3 64-bit
/// hash of its bytes (seed 0), its 64 bits stored as a signed integer (so
/// every Parquet reader takes it: Spark before 3.2 refuses unsigned 64-bit
/// columns), null where the value is. Eight bytes to the pseudonym's 64, so a
/// join of millions of hospital rows on it reads and compares an eighth as
/// much. Not keyed: it stands beside the pseudonym, which it adds nothing to.
pub fn person_key(e: Expr) -> Expr {
    map_text(e, DataType::Int64, |ca| {
        in_parts(ca, |part| {
            let keys: Int64Chunked =
                part.apply_nonnull_values_generic(DataType::Int64, |v: &str| {
                    i64::from_ne_bytes(xxhash_rust::xxh3::xxh3_64(v.as_bytes()).to_ne_bytes())
                });
            keys.into_series()
        })
    })
}

/// True where a frame of `schema` has the [`person_key`] this smpeval
/// writes (a signed 64-bit integer; a part from before has none, or briefly
/// had it unsigned, and has it worked out from `person_id` instead).
pub fn has_person_key(schema: &Schema) -> bool {
    schema.get(crate::schema::PERSON_KEY) == Some(&DataType::Int64)
}

/// True where every person of `people` (with its [`person_key`] column)
/// has a key of their own, so that they can be found by key.
pub fn keys_tell_apart(people: &DataFrame) -> PolarsResult<bool> {
    Ok(people.column(crate::schema::PERSON_KEY)?.n_unique()? == people.height())
}

/// A frame's [`person_key`] (of `schema`): as stored where it has it
/// ([`has_person_key`]), else worked out from `person_id`.
pub fn person_key_of(schema: &Schema) -> Expr {
    use crate::schema::{PERSON_ID, PERSON_KEY};
    match has_person_key(schema) {
        true => col(PERSON_KEY),
        false => person_key(col(PERSON_ID)).alias(PERSON_KEY),
    }
}

/// [`digits`] without a regex: spaces and hyphens removed (a value with
/// none is copied as it is), and a zero fraction ([`without_zero_fraction`]).
pub fn strip_separators(e: Expr) -> Expr {
    map_text(e, DataType::String, |ca| {
        in_parts(ca, |part| {
            part.apply_into_string_amortized(|v, buf| {
                let v = without_zero_fraction(v);
                if v.bytes().any(|b| b == b' ' || b == b'-') {
                    buf.extend(v.chars().filter(|c| *c != ' ' && *c != '-'));
                } else {
                    buf.push_str(v);
                }
            })
            .into_series()
        })
    })
}

/// An identifier's NHS number check, on bytes: after spaces and hyphens are
/// removed, 0 where it is a valid NHS number, 1 where it is not ten digits
/// ([`is_ten_digits`] false), 2 where ten digits fail the Modulus 11 check
/// ([`passes_modulus_11`] false); null where the value is.
pub fn nhs_status(e: Expr) -> Expr {
    map_text(e, DataType::UInt32, |ca| {
        in_parts(ca, |part| {
            let out: UInt32Chunked = part.iter().map(|v| v.map(status_of)).collect();
            out.into_series()
        })
    })
}

/// `v` without a decimal point and zeros after its digits: "9434765919.0",
/// as a spreadsheet or a data frame with a missing value writes a number
/// read as a decimal, is the number "9434765919". Any other fraction stays.
fn without_zero_fraction(v: &str) -> &str {
    match v.trim_end().rsplit_once('.') {
        Some((int, frac))
            if !frac.is_empty()
                && frac.bytes().all(|b| b == b'0')
                && int.ends_with(|c: char| c.is_ascii_digit()) =>
        {
            int
        }
        _ => v,
    }
}

fn status_of(v: &str) -> u32 {
    let v = without_zero_fraction(v);
    let mut d = [0u8; 10];
    let mut n = 0;
    for b in v.bytes() {
        match b {
            b' ' | b'-' => {}
            b'0'..=b'9' if n < 10 => {
                d[n] = b - b'0';
                n += 1;
            }
            _ => return 1,
        }
    }
    match (n == 10, valid_digits(&d)) {
        (false, _) => 1,
        (true, true) => 0,
        (true, false) => 2,
    }
}

/// A short fingerprint of the key, kept in the manifest so that a warehouse is
/// never filled with hashes made under two different keys.
pub fn key_fingerprint(key: &[u8]) -> String {
    hmac_hex(key, "smpeval key fingerprint")[..16].to_string()
}

/// Makes a valid NHS number from nine digits (for generated data and tests).
pub fn with_check_digit(first_nine: u64) -> Option<String> {
    let s = format!("{first_nine:09}");
    let sum: u32 = s
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or(0) * (10 - i as u32))
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return None,
        c => c,
    };
    Some(format!("{s}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_key_is_the_xxh3_of_the_id() {
        // Expected values from Python's `xxhash` package (xxh3_64_intdigest).
        let ids = Series::new("id".into(), [Some(""), Some("abc"), None]);
        let out = DataFrame::new(3, vec![ids.into_column()])
            .unwrap()
            .lazy()
            .select([person_key(col("id"))])
            .collect()
            .unwrap();
        // As signed integers: the same 64 bits.
        let keys: Vec<Option<u64>> = out
            .column("id")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .map(|k| k.map(|k| k as u64))
            .collect();
        assert_eq!(
            keys,
            vec![Some(0x2d06800538d394c2), Some(0x78af5f94892f3950), None]
        );
        // 0x78af… is below 2^63, so it reads the same signed: 8696274497037089104.
        let signed = out.column("id").unwrap().i64().unwrap().get(1);
        assert_eq!(signed, Some(8696274497037089104));
    }

    #[test]
    fn a_long_column_done_in_parts_is_done_value_by_value() {
        // Over 2 × 65,536 values, so the column is split (with 2 or more threads).
        let n = 150_001;
        let values: Vec<Option<String>> = (0..n)
            .map(|i| (i % 97 != 0).then(|| format!("{:03} {:03} {:04}", i % 1000, i / 1000, i)))
            .collect();
        let key = Arc::new(b"k".to_vec());
        // Free text with nothing to mask in any part.
        let plain: Vec<Option<String>> = (0..n).map(|i| Some(format!("code {i}"))).collect();
        let out = df!("v" => values.clone(), "w" => plain.clone())
            .unwrap()
            .lazy()
            .select([
                pseudonymise(strip_separators(col("v")), key).alias("p"),
                nhs_status(col("v")).alias("s"),
                mask(col("v")).alias("m"),
                mask(col("w")).alias("mw"),
            ])
            .collect()
            .unwrap();
        let p: Vec<Option<&str>> = out.column("p").unwrap().str().unwrap().iter().collect();
        let s: Vec<Option<u32>> = out.column("s").unwrap().u32().unwrap().iter().collect();
        let m: Vec<Option<&str>> = out.column("m").unwrap().str().unwrap().iter().collect();
        let mw: Vec<Option<&str>> = out.column("mw").unwrap().str().unwrap().iter().collect();
        assert_eq!(p.len(), n);
        let mut masked = 0;
        for (i, v) in values.iter().enumerate() {
            let want = v.as_ref().map(|v| hmac_hex(b"k", &v.replace(' ', "")));
            assert_eq!(p[i].map(str::to_string), want, "row {i}");
            assert_eq!(s[i], v.as_deref().map(status_of), "row {i}");
            let want = v.as_deref().map(|v| mask_text(v).into_owned());
            assert_eq!(m[i].map(str::to_string), want, "row {i}");
            masked += usize::from(m[i].is_some_and(|t| t.contains(REMOVED)));
            assert_eq!(mw[i], plain[i].as_deref(), "row {i}");
        }
        assert!(masked > 1000, "only {masked} values masked");
    }

    #[test]
    fn a_key_keeps_ids_apart_that_differ_only_in_their_numbers() {
        // 2023050103 and 2023050111 both pass the Modulus 11 check.
        assert!(valid_digits(&[2, 0, 2, 3, 0, 5, 0, 1, 0, 3]));
        assert!(valid_digits(&[2, 0, 2, 3, 0, 5, 0, 1, 1, 1]));
        let ids = ["BK2023050103", "BK2023050111", "BK 202-305-0103", "C1"];
        let out = df!("c" => ids)
            .unwrap()
            .lazy()
            .select([
                mask_keyed(col("c"), Arc::new(b"k".to_vec())).alias("keyed"),
                mask(col("c")).alias("masked"),
            ])
            .collect()
            .unwrap();
        let text = |c: &str| -> Vec<String> {
            let c = out.column(c).unwrap().str().unwrap().clone();
            c.iter().map(|v| v.unwrap().to_string()).collect()
        };
        let (keyed, masked) = (text("keyed"), text("masked"));
        // One marker merges the first two; keyed tokens keep them apart, give
        // the same number written another way the same token, and show no digit run.
        assert_eq!(masked[0], masked[1]);
        assert_ne!(keyed[0], keyed[1]);
        assert_eq!(keyed[2].replacen("BK ", "BK", 1), keyed[0]);
        assert_eq!(keyed[3], "C1");
        assert!(keyed[0].starts_with("BK[id ") && keyed[0].len() == "BK[id ]".len() + 12);
        assert!(keyed.iter().all(|k| !contains_nhs_number(k)), "{keyed:?}");
        // Another key gives other tokens.
        let other = df!("c" => ids)
            .unwrap()
            .lazy()
            .select([mask_keyed(col("c"), Arc::new(b"k2".to_vec()))])
            .collect()
            .unwrap();
        assert_ne!(
            other.column("c").unwrap().str().unwrap().get(0),
            Some(keyed[0].as_str())
        );
    }

    #[test]
    fn the_byte_checks_agree_with_the_expressions() {
        let values = [
            "9434765919",
            "943 476 5919",
            "943-476-5919",
            "9434765918",
            "943476591",
            "94347659190",
            "94347659a9",
            "",
            " ",
            "--",
            "9434765919 ",
            "٩434765919",
            "4010232137",
            "401 023 2137",
            "0000000000",
            "1111111111",
            "943\t476 5919",
            "9876543210",
            "+9434765919",
            "943.476.5919",
        ];
        let df = df!("v" => values).unwrap();
        let got = df
            .lazy()
            .select([
                nhs_status(col("v")).alias("status"),
                is_ten_digits(digits(col("v"))).alias("ten"),
                passes_modulus_11(digits(col("v"))).alias("m11"),
                strip_separators(col("v")).alias("fast"),
                digits(col("v")).alias("slow"),
                pseudonymise(strip_separators(col("v")), Arc::new(b"k".to_vec())).alias("h"),
            ])
            .collect()
            .unwrap();
        for (i, value) in values.iter().enumerate() {
            let status = got.column("status").unwrap().u32().unwrap().get(i).unwrap();
            let ten = got.column("ten").unwrap().bool().unwrap().get(i).unwrap();
            let m11 = got.column("m11").unwrap().bool().unwrap().get(i);
            let expected = if !ten {
                1
            } else if m11 == Some(true) {
                0
            } else {
                2
            };
            assert_eq!(status, expected, "{value:?}");
            let fast = got.column("fast").unwrap().str().unwrap().get(i);
            assert_eq!(fast, got.column("slow").unwrap().str().unwrap().get(i));
            let h = got.column("h").unwrap().str().unwrap().get(i).unwrap();
            assert_eq!(h, hmac_hex(b"k", fast.unwrap()), "{value:?}");
        }
    }

    fn check(values: &[&str]) -> Vec<Option<bool>> {
        let df = df!("v" => values).unwrap();
        let d = digits(col("v"));
        let out = df
            .lazy()
            .select([is_ten_digits(d.clone())
                .and(passes_modulus_11(d))
                .alias("ok")])
            .collect()
            .unwrap();
        let ok = out.column("ok").unwrap().bool().unwrap().clone();
        (0..ok.len()).map(|i| ok.get(i)).collect()
    }

    #[test]
    fn modulus_11_matches_the_data_dictionary_example() {
        // 943 476 5919 is the NHS Data Dictionary's worked example: sum 299, 299 mod 11 = 2, check 9.
        let got = check(&[
            "9434765919",
            "943 476 5919",
            "9434765918",
            "943476591",
            "94347659190",
            "abcdefghij",
        ]);
        assert_eq!(
            got,
            vec![
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                Some(false),
                Some(false)
            ]
        );
    }

    #[test]
    fn a_number_written_with_a_zero_fraction_is_the_number() {
        for v in ["9434765919.0", "9434765919.00", "943 476 5919.0"] {
            assert_eq!(status_of(v), 0, "{v}");
        }
        for (v, status) in [
            ("9434765919.5", 1),
            ("9.434765919E9", 1),
            ("9434765918.0", 2),
            (".0", 1),
        ] {
            assert_eq!(status_of(v), status, "{v}");
        }
        // The same person, whichever way the number is written.
        let df = df!("id" => ["9434765919", "9434765919.0", "943-476-5919.000"]).unwrap();
        let out = df
            .lazy()
            .select([pseudonymise(
                strip_separators(col("id")),
                Arc::new(b"k".to_vec()),
            )])
            .collect()
            .unwrap();
        let ids: Vec<_> = out.column("id").unwrap().str().unwrap().iter().collect();
        assert!(ids.iter().all(|x| *x == ids[0]), "{ids:?}");
    }

    #[test]
    fn check_digit_ten_is_never_valid() {
        // 000000006 → weights give 6*2 = 12; 12 mod 11 = 1; check 10: no valid number.
        assert_eq!(with_check_digit(6), None);
        let made = with_check_digit(943476591).unwrap();
        assert_eq!(made, "9434765919");
    }

    #[test]
    fn written_forms_are_recognised_and_masked() {
        for form in [
            "9434765919",
            "943 476 5919",
            "943-476-5919",
            "943.476.5919",
            "NHS 9434765919",
            "NHS no: 943 476 5919",
            "nhs#943/476/5919",
            "see 9434 765 919 please",
            "943\u{2013}476\u{2013}5919",
            "943\u{2014}476\u{2014}5919",
            "943|476|5919",
            "943;476;5919",
            "(943) 476 5919",
            "943  -  476  -  5919",
            "943\u{202f}476\u{202f}5919",
            "943\u{2009}476\u{2009}5919",
            "943\u{2007}476\u{2007}5919",
            "943\r\n476\r\n5919",
            "\u{FF19}\u{FF14}\u{FF13}\u{FF14}\u{FF17}\u{FF16}\u{FF15}\u{FF19}\u{FF11}\u{FF19}",
            "\u{0669}\u{0664}\u{0663} \u{0664}\u{0667}\u{0666} \u{0665}\u{0669}\u{0661}\u{0669}",
            "\u{096F}\u{096A}\u{0969}\u{096A}\u{096D}\u{096C}\u{096B}\u{096F}\u{0967}\u{096F}",
            "943 \u{09EA}\u{09ED}\u{09EC} 5919",
            // Superscript, subscript, circled, Sinhala, NKo, Adlam, segmented.
            "\u{2079}\u{2074}\u{00B3}\u{2074}\u{2077}\u{2076}\u{2075}\u{2079}\u{00B9}\u{2079}",
            "\u{2089}\u{2084}\u{2083}\u{2084}\u{2087}\u{2086}\u{2085}\u{2089}\u{2081}\u{2089}",
            "\u{2468}\u{2463}\u{2462}\u{2463}\u{2466}\u{2465}\u{2464}\u{2468}\u{2460}\u{2468}",
            "\u{0DEF}\u{0DEA}\u{0DE9}\u{0DEA}\u{0DED}\u{0DEC}\u{0DEB}\u{0DEF}\u{0DE7}\u{0DEF}",
            "\u{07C9}\u{07C4}\u{07C3} \u{07C4}\u{07C7}\u{07C6} \u{07C5}\u{07C9}\u{07C1}\u{07C9}",
            "\u{1E959}\u{1E954}\u{1E953}\u{1E954}\u{1E957}\u{1E956}\u{1E955}\u{1E959}\u{1E951}\u{1E959}",
            "\u{1FBF9}\u{1FBF4}\u{1FBF3}\u{1FBF4}\u{1FBF7}\u{1FBF6}\u{1FBF5}\u{1FBF9}\u{1FBF1}\u{1FBF9}",
        ] {
            assert!(contains_nhs_number(form), "{form}");
            let m = mask_text(form);
            assert!(!m.contains("5919") && m.contains(REMOVED), "{form} → {m}");
        }
        // Characters that show as nothing do not part a number, however
        // many: six zero-width spaces, the Hangul fillers (letters that show
        // as a blank), a soft hyphen, a word joiner, a BOM.
        for form in [
            "943\u{200B}\u{200B}\u{200B}\u{200B}\u{200B}\u{200B}4765919",
            "943\u{3164}476\u{3164}5919",
            "943\u{1160}476\u{FFA0}5919",
            "943\u{115F}4765919",
            "943\u{00AD}476\u{2060}5919\u{FEFF}",
            // A combining mark on a digit (Arabic fatha, an acute, a
            // keycap), other format characters.
            "943\u{064E}4765919",
            "943\u{0301}\u{0301}\u{0301}\u{0301}\u{0301}\u{0301}476\u{20E3}5919",
            "943\u{13430}\u{13430}\u{13430}\u{13430}\u{13430}\u{13430}4765919",
            "943\u{FFF9}\u{FFF9}\u{FFF9}\u{FFF9}\u{FFF9}\u{FFF9}4765919",
            "Cohort 943 \u{200D}\u{200D}\u{200D}\u{200D}\u{200D}\u{200D}\u{200D} 476 5919",
        ] {
            assert!(contains_nhs_number(form), "{form:?}");
            assert!(names_an_nhs_number(form), "{form:?}");
            assert!(!mask_text(form).contains("5919"), "{form:?}");
        }
        // Invisible characters inside a group do not make groups of it: an
        // eleven-digit run with a zero-width space is still not named.
        assert!(!names_an_nhs_number("9434765919\u{200B}1"));
        // A table of counts padded with spaces is not one number.
        assert_eq!(mask_text("9434      765919"), "9434      765919");
        // Digits added after Unicode 14: Kawi, Garay, Kirat Rai, outlined.
        for zero in [0x11F50, 0x10D40, 0x16D70, 0x1CCF0] {
            let form: String = "9434765919"
                .chars()
                .map(|c| char::from_u32(zero + c.to_digit(10).unwrap()).unwrap())
                .collect();
            assert!(contains_nhs_number(&form), "{zero:X}: {form}");
            assert_eq!(mask_text(&form), REMOVED, "{zero:X}");
        }
        // Not NHS numbers: a wrong check digit, nine digits, a date, a phone
        // number whose windows all fail the check.
        for other in ["9434765918", "943 476 591", "2024-01-15", "01632 960 000"] {
            assert!(!contains_nhs_number(other), "{other}");
            assert_eq!(mask_text(other), other);
        }
        // Inside a longer run of digits the number is still found.
        assert!(contains_nhs_number("X19434765919"));
        assert!(contains_nhs_number("ref 1-943-476-5919-7"));
    }

    #[test]
    fn a_name_is_refused_for_ten_digits_not_for_a_time_stamp() {
        for named in [
            "returns_9434765919.csv",
            "943-476-5919",
            "run 943 476 5919 b",
            "/tmp/x0/943-476-5919.csv",
            "data/2024/9434765919.csv",
        ] {
            assert!(names_an_nhs_number(named), "{named}");
        }
        // Longer runs of digits (time stamps) are masked where they are
        // written, but do not make a name refused.
        for stamp in [
            "export_20261128_023015.csv",
            "r1764302456789012345",
            "X19434765919",
        ] {
            assert!(!names_an_nhs_number(stamp), "{stamp}");
        }
        assert!(contains_nhs_number("X19434765919"));
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let a = hmac_hex(b"k1", "9434765919");
        assert_eq!(a, hmac_hex(b"k1", "9434765919"));
        assert_ne!(a, hmac_hex(b"k2", "9434765919"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("9434765919"));
    }
}
