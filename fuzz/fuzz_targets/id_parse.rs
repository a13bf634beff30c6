#![no_main]
//! Fuzz target `id_parse`: see `stadtbote_protocol::fuzzing::id_parse`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("id_parse", data));
