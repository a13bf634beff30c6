#![no_main]
//! Fuzz target `org_code`: see `stadtbote_protocol::fuzzing::org_code`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("org_code", data));
