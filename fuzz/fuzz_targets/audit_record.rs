#![no_main]
//! Fuzz target `audit_record`: see `stadtbote_protocol::fuzzing::audit_record`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("audit_record", data));
