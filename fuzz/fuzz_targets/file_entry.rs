//! Arbitrary bytes as a `FileBasedCache` entry file: a miss or a value, never a panic.
#![no_main]

#[path = "bodies/file_entry.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::file_entry(data));
