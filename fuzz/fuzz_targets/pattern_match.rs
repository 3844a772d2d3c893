//! Any pattern and subject into the permission matcher: never a panic; a subject
//! matches itself as a pattern, `/>` matches everything, and a pattern with `*`
//! in place of one segment still matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::{Subject, SubjectPattern};

fuzz_target!(|input: (&str, &str)| {
    let (pattern, subject) = input;
    let Ok(subject) = Subject::parse(subject) else {
        let _ = SubjectPattern::parse(pattern);
        return;
    };
    if let Ok(pattern) = SubjectPattern::parse(pattern) {
        let _ = pattern.matches(&subject);
    }
    let exact = SubjectPattern::parse(subject.as_str()).expect("a subject is a pattern");
    assert!(exact.matches(&subject));
    assert!(SubjectPattern::parse("/>").unwrap().matches(&subject));
    let segments: Vec<&str> = subject.as_str()[1..].split('/').collect();
    let starred = format!(
        "/*{}",
        segments[1..]
            .iter()
            .map(|s| format!("/{s}"))
            .collect::<String>()
    );
    assert!(SubjectPattern::parse(&starred).unwrap().matches(&subject));
});
