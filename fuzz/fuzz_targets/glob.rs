//! `Pattern` (and, with the Redis backend, its MATCH form) against the reference matcher.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cache_conformance::fuzz::glob(data));
