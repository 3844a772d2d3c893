//! Any text into the subject parser: never a panic; a parsed subject is its text,
//! splits into topic and key, and maps back from its Kafka topic and key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::Subject;

fuzz_target!(|text: &str| {
    if let Ok(subject) = Subject::parse(text) {
        assert_eq!(subject.as_str(), text);
        let back = Subject::from_record(subject.topic(), subject.key().map(str::as_bytes));
        assert_eq!(back.as_ref(), Some(&subject));
    }
});
