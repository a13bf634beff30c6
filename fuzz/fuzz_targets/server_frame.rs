#![no_main]
//! Fuzz target `server_frame`: see `stadtbote_protocol::fuzzing::server_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("server_frame", data));
