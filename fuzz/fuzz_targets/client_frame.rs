#![no_main]
//! Fuzz target `client_frame`: see `stadtbote_protocol::fuzzing::client_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("client_frame", data));
