#![no_main]
//! Fuzz target `mls_message`: see `stadtbote_protocol::fuzzing::mls_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("mls_message", data));
