#![no_main]
//! Fuzz target `attachment_chunk`: see `stadtbote_protocol::fuzzing::attachment_chunk`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("attachment_chunk", data));
