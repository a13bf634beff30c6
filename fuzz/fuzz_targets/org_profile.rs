#![no_main]
//! Fuzz target `org_profile`: see `stadtbote_protocol::fuzzing::org_profile`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("org_profile", data));
