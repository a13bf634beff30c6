#![no_main]
//! Fuzz target `app_message`: see `stadtbote_protocol::fuzzing::app_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("app_message", data));
