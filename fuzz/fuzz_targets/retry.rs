//! The `retry` duration parser: no panic; an accepted duration is the
//! number times the unit, and nothing else is accepted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| restartable_fuzz::check_retry(data));
