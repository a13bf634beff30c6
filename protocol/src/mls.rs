//! MLS.
