//! Every codec's decoder on arbitrary bytes (plain, behind an envelope head, in an lz4
//! frame): a value or nothing, never a panic; bytes round-trip through every codec.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cache_conformance::fuzz::codecs(data));
