#![no_main]
//! Fuzz target `revocation_list`: see `stadtbote_protocol::fuzzing::revocation_list`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("revocation_list", data));
