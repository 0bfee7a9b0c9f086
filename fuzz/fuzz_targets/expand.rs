//! The whole attribute: arguments and item from bytes (split at the first
//! NUL). No panic; the output parses as items; every error points inside
//! the input or at the attribute.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| restartable_fuzz::check_expansion(data));
