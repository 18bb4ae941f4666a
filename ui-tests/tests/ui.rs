//! The macros' compile-time contract: every `pass/` case compiles, every `fail/` case fails
//! with the message in its `.stderr` snapshot (refresh with `TRYBUILD=overwrite`, then
//! review `git diff`). The TLS cases (`tls/`) run with the `tls` feature, the others
//! without it (rustc names some types by longer paths once rustls is in the build), where
//! `no-tls/` checks that `Tls<...>` asks for the feature.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    #[cfg(feature = "tls")]
    {
        cases.pass("tls/pass/*.rs");
        cases.compile_fail("tls/fail/*.rs");
    }
    #[cfg(not(feature = "tls"))]
    {
        cases.pass("pass/*.rs");
        cases.compile_fail("fail/*.rs");
        cases.compile_fail("no-tls/*.rs");
    }
}
