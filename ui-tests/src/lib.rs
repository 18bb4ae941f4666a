//! Compile-pass and compile-fail cases for the macros live in `pass/` and `fail/`; `tests/ui.rs` runs them.
