#![no_main]
//! Fuzz target `group_link`: see `stadtbote_protocol::fuzzing::group_link`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("group_link", data));
