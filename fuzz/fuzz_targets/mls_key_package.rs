#![no_main]
//! Fuzz target `mls_key_package`: see `stadtbote_protocol::fuzzing::mls_key_package`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("mls_key_package", data));
