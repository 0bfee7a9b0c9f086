//! The `port_env` and `path_env` values: no panic; accepted values are what
//! they claim, refused ones are InvalidInput naming the variable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| restartable_fuzz::check_env_values(data));
