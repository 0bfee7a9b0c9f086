//! The `LISTEN_*` parser (sd_listen_fds(3)): no panic; what it accepts is
//! consistent with the variables.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| restartable_fuzz::check_listen_vars(data));
