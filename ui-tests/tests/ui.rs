//! The macros' compile-time contract: every `pass/` case compiles, every `fail/` case fails
//! with the message in its `.stderr` snapshot (refresh with `TRYBUILD=overwrite`, then
//! review `git diff`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("pass/*.rs");
    cases.compile_fail("fail/*.rs");
}
