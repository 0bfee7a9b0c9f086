//! The trybuild pass case `ui/pass/lint_clean.rs` as a module of this test,
//! so that `cargo clippy --all-targets -- -D warnings` checks the generated
//! code under `clippy::pedantic` too (trybuild runs rustc only).

#[path = "../ui/pass/lint_clean.rs"]
mod lint_clean;

#[test]
fn generated_code_is_lint_clean_and_runs() {
    lint_clean::main();
}
