#![no_main]
//! Fuzz target `signed_object`: see `stadtbote_protocol::fuzzing::signed_object`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("signed_object", data));
