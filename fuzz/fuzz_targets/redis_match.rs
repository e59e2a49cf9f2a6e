//! The Redis backend's `MATCH` form of a pattern selects a superset of the contract's
//! matches, and nothing outside the cache's prefix (checked against a reference matcher).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    redis_test_support::glob::check_match_form(data, cache_redis::match_pattern)
});
