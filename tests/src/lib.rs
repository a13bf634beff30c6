//! Stadtbote's end-to-end tests live in `it/` and run the real binaries; this
//! library target is intentionally empty.
