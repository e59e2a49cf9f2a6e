//! The value envelope: arbitrary bytes never panic, and no value decodes as another type.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cache_conformance::fuzz::type_confusion(data));
