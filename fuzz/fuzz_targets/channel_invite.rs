#![no_main]
//! Fuzz target `channel_invite`: see `stadtbote_protocol::fuzzing::channel_invite`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("channel_invite", data));
