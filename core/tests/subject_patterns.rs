//! Permission patterns against subjects, as properties: a subject is a pattern that
//! matches exactly itself; `*` stands for any one segment, a trailing `>` for one
//! or more; `/>` matches everything; and nothing panics.

use proptest::prelude::*;
use sluice_core::{Subject, SubjectPattern};

fn segment() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]{1,4}", "\\PC{1,6}"].prop_filter("a segment", |s| {
        !s.is_empty() && !s.contains('/') && s != "*" && s != ">"
    })
}

fn subject() -> impl Strategy<Value = Subject> {
    ("[a-z]{1,6}", proptest::collection::vec(segment(), 0..5)).prop_filter_map(
        "a subject",
        |(topic, key)| {
            let text = std::iter::once(topic)
                .chain(key)
                .fold(String::new(), |acc, s| acc + "/" + &s);
            Subject::parse(&text).ok()
        },
    )
}

fn segments(s: &Subject) -> Vec<String> {
    s.as_str()[1..].split('/').map(str::to_owned).collect()
}

fn pattern(parts: &[String]) -> SubjectPattern {
    SubjectPattern::parse(&parts.iter().fold(String::new(), |acc, s| acc + "/" + s)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn a_subject_matches_itself_and_only_itself(a in subject(), b in subject()) {
        let p = SubjectPattern::parse(a.as_str()).unwrap();
        prop_assert!(p.matches(&a));
        prop_assert_eq!(p.matches(&b), a == b);
    }

    #[test]
    fn star_replaces_exactly_one_segment(s in subject(), at in any::<usize>()) {
        let mut parts = segments(&s);
        let i = at % parts.len();
        parts[i] = "*".into();
        prop_assert!(pattern(&parts).matches(&s));
        // One segment more or less no longer matches.
        let mut longer = parts.clone();
        longer.push("*".into());
        prop_assert!(!pattern(&longer).matches(&s));
        if parts.len() > 1 {
            prop_assert!(!pattern(&parts[..parts.len() - 1]).matches(&s));
        }
    }

    #[test]
    fn rest_matches_every_deeper_subject_and_not_the_prefix(s in subject(), depth in 1usize..6) {
        let parts = segments(&s);
        let keep = depth.min(parts.len());
        let mut prefix = parts[..keep].to_vec();
        prefix.push(">".into());
        // `/a/>` matches `/a/...` with at least one more segment.
        prop_assert_eq!(pattern(&prefix).matches(&s), parts.len() > keep);
        prop_assert!(SubjectPattern::parse("/>").unwrap().matches(&s));
    }

    #[test]
    fn any_text_parses_or_is_refused(p in "\\PC{0,40}", s in "\\PC{0,40}") {
        if let (Ok(p), Ok(s)) = (SubjectPattern::parse(&p), Subject::parse(&s)) {
            let _ = p.matches(&s);
        }
    }
}
