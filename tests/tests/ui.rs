//! The attribute's diagnostics (compile-fail cases with reviewed `.stderr`
//! files, grouped by what is wrong) and programs that must compile and run.
//! `TRYBUILD=overwrite` rewrites the `.stderr` files.

#[test]
fn misuse_is_a_compile_error_on_the_offending_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/args/*.rs");
    cases.compile_fail("ui/item/*.rs");
    cases.compile_fail("ui/return_type/*.rs");
}

#[test]
fn correct_uses_compile_and_run() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
}
