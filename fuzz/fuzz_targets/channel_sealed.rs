#![no_main]
//! Fuzz target `channel_sealed`: see `stadtbote_protocol::fuzzing::channel_sealed`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("channel_sealed", data));
