//! Value maps: a source's own codes and labels → canonical values. Keys are
//! matched after trimming, collapsing inner spaces and case-folding, so
//! "Female ", "female" and "FEMALE" are one key. Named maps live at pipeline
//! level (`[value_maps.sex]`); `ethnicity` is built in.

use std::collections::BTreeMap;

/// Maps a pipeline may name without declaring them.
pub const BUILTIN: &[&str] = &["ethnicity"];

/// How a key or a cell is compared: trimmed, inner whitespace collapsed, lower case.
pub fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The map with normalised keys; two keys that normalise alike must agree.
pub fn normalised(map: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in map {
        let key = normalise(k);
        if let Some(prev) = out.get(&key) {
            if prev != v {
                return Err(format!(
                    "\"{k}\" maps to \"{v}\" but a key that differs only in case or spaces maps to \"{prev}\""
                ));
            }
        }
        // A target is a value as the field takes it: padding is not part of it.
        out.insert(key, v.trim().to_string());
    }
    Ok(out)
}

/// A built-in map by name.
pub fn builtin(name: &str) -> Option<BTreeMap<String, String>> {
    match name {
        "ethnicity" => Some(ethnicity()),
        _ => None,
    }
}

/// NHS Data Dictionary ETHNIC CATEGORY codes with the labels providers use
/// for each (the 2001 Census categories the code list follows).
const ETHNIC_LABELS: &[(&str, &str, &[&str])] = &[
    (
        "A",
        "white",
        &[
            "british",
            "white british",
            "english",
            "english, welsh, scottish, northern irish or british",
            "english/welsh/scottish/northern irish/british",
            "welsh",
            "scottish",
            "northern irish",
        ],
    ),
    ("B", "white", &["irish", "white irish"]),
    (
        "C",
        "white",
        &[
            "any other white background",
            "other white",
            "white other",
            "other white background",
            "gypsy or irish traveller",
            "gypsy/irish traveller",
            "roma",
        ],
    ),
    (
        "D",
        "mixed",
        &[
            "white and black caribbean",
            "mixed white and black caribbean",
        ],
    ),
    (
        "E",
        "mixed",
        &["white and black african", "mixed white and black african"],
    ),
    ("F", "mixed", &["white and asian", "mixed white and asian"]),
    (
        "G",
        "mixed",
        &[
            "any other mixed background",
            "any other mixed/multiple ethnic background",
            "other mixed",
            "mixed other",
        ],
    ),
    ("H", "asian", &["indian", "asian indian", "british indian"]),
    (
        "J",
        "asian",
        &["pakistani", "asian pakistani", "british pakistani"],
    ),
    (
        "K",
        "asian",
        &["bangladeshi", "asian bangladeshi", "british bangladeshi"],
    ),
    (
        "L",
        "asian",
        &[
            "any other asian background",
            "other asian",
            "asian other",
            "other asian background",
        ],
    ),
    ("M", "black", &["caribbean", "black caribbean"]),
    ("N", "black", &["african", "black african"]),
    (
        "P",
        "black",
        &[
            "any other black background",
            "any other black, black british, or caribbean background",
            "other black",
            "black other",
        ],
    ),
    ("R", "other", &["chinese", "asian chinese"]),
    (
        "S",
        "other",
        &[
            "any other ethnic group",
            "other ethnic group",
            "other",
            "arab",
            "any other",
        ],
    ),
    (
        "Z",
        "",
        &[
            "not stated",
            "prefer not to say",
            "declined",
            "refused",
            "not given",
        ],
    ),
    (
        "99",
        "",
        &["not known", "unknown", "not recorded", "n/k", "missing"],
    ),
];

/// Group-only labels: the group's "any other" code, so that the group the
/// pack reports is right; no finer category is claimed.
const ETHNIC_GROUP_ONLY: &[(&str, &[&str])] = &[
    ("C", &["white"]),
    (
        "G",
        &[
            "mixed",
            "mixed/multiple ethnic groups",
            "mixed or multiple ethnic groups",
            "mixed/multiple",
        ],
    ),
    (
        "L",
        &["asian", "asian or asian british", "asian/asian british"],
    ),
    (
        "P",
        &[
            "black",
            "black or black british",
            "black/african/caribbean/black british",
            "black, black british, caribbean or african",
        ],
    ),
];

/// How providers prefix a category with its group ("Asian or Asian British - Indian").
fn group_prefixes(group: &str) -> &'static [&'static str] {
    match group {
        "white" => &["white"],
        "mixed" => &[
            "mixed",
            "mixed/multiple ethnic groups",
            "mixed or multiple ethnic groups",
        ],
        "asian" => &["asian", "asian or asian british", "asian/asian british"],
        "black" => &[
            "black",
            "black or black british",
            "black/african/caribbean/black british",
            "black, black british, caribbean or african",
        ],
        "other" => &["other", "other ethnic group", "other ethnic groups"],
        _ => &[],
    }
}

/// The built-in `ethnicity` map: Data Dictionary codes (A–Z, 99) to
/// themselves, and common labels, alone or after their group ("White -
/// Irish", "Asian or Asian British: Indian"), to their code.
pub fn ethnicity() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (code, group, labels) in ETHNIC_LABELS {
        m.insert(normalise(code), code.to_string());
        for label in *labels {
            m.insert(normalise(label), code.to_string());
            for prefix in group_prefixes(group) {
                for sep in [" - ", ": ", " ", ", ", " / ", "/"] {
                    m.entry(normalise(&format!("{prefix}{sep}{label}")))
                        .or_insert_with(|| code.to_string());
                }
            }
        }
    }
    for (code, labels) in ETHNIC_GROUP_ONLY {
        for label in *labels {
            m.entry(normalise(label))
                .or_insert_with(|| code.to_string());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_case_folded() {
        assert_eq!(normalise("  Female "), "female");
        assert_eq!(normalise("White   British"), "white british");
        let mut m = BTreeMap::new();
        m.insert("F".to_string(), "female".to_string());
        m.insert("f ".to_string(), "male".to_string());
        assert!(normalised(&m).is_err());
    }

    #[test]
    fn ethnicity_labels_and_codes() {
        let m = ethnicity();
        let get = |s: &str| m.get(&normalise(s)).map(String::as_str);
        assert_eq!(get("A"), Some("A"));
        assert_eq!(get("99"), Some("99"));
        assert_eq!(get("White British"), Some("A"));
        assert_eq!(get("White - Irish"), Some("B"));
        assert_eq!(get("Asian or Asian British: Indian"), Some("H"));
        assert_eq!(get("Black African"), Some("N"));
        assert_eq!(get("Chinese"), Some("R"));
        assert_eq!(get("Prefer not to say"), Some("Z"));
        assert_eq!(get("Asian"), Some("L"));
        assert_eq!(get("Mixed - White and Asian"), Some("F"));
        // Every value is a Data Dictionary code.
        for v in m.values() {
            assert!(
                crate::schema::ETHNIC_CATEGORIES.contains(&v.as_str()),
                "{v}"
            );
        }
    }
}
