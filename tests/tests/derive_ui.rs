//! Compile-time behaviour of `iotc-sdk-derive`: `tests/ui/pass/*.rs` must build and run,
//! `tests/ui/fail/*.rs` must fail with exactly the checked-in `.stderr`.
//!
//! After changing a diagnostic, regenerate with `TRYBUILD=overwrite cargo test -p iotc-tests
//! --test derive_ui` and review the `.stderr` diff. The `.stderr` files follow the toolchain's
//! wording, so they may need regenerating after a Rust upgrade.

#[test]
fn derive_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
