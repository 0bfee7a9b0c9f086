//! The attribute's keys are written once, in the macro's table
//! (`macros/src/args.rs`); what lists them elsewhere is checked against it:
//! the README's options table and its unknown-argument example, and the
//! fuzz dictionary.

#[path = "../../macros/src/pipeline.rs"]
mod pipeline;

use std::collections::BTreeSet;
use std::str::FromStr;

use proc_macro2::{TokenStream, TokenTree};

const README: &str = include_str!("../../README.md");
const DICTIONARY: &str = include_str!("../../fuzz/expand.dict");

fn keys() -> Vec<&'static str> {
    pipeline::args::KEYS.iter().map(|key| key.name).collect()
}

/// The first cells of the rows of every README table whose first column is
/// `key`, without their backticks.
fn readme_table_keys() -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_table = false;
    for line in README.lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let first = line.split('|').nth(1).unwrap_or_default().trim();
        if first == "key" {
            in_table = true;
        } else if in_table && !first.starts_with("---") {
            let key = first
                .strip_prefix('`')
                .and_then(|key| key.strip_suffix('`'))
                .unwrap_or_else(|| panic!("a key in backticks, not {first:?}, in: {line}"));
            keys.push(key.to_owned());
        }
    }
    keys
}

#[test]
fn the_readme_options_table_has_a_row_for_each_key() {
    let table = readme_table_keys();
    let unique: BTreeSet<&str> = table.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), table.len(), "a key has two rows: {table:?}");
    let expected: BTreeSet<&str> = keys().into_iter().collect();
    assert_eq!(
        unique, expected,
        "README.md's options table (left) and the macro's keys (right) differ"
    );
}

/// The message of the first `compile_error!` in `tokens`.
fn first_error(tokens: TokenStream) -> Option<String> {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Ident(ident) if ident == "compile_error" => {
                let Some(TokenTree::Group(group)) = tokens.get(at + 2) else {
                    continue;
                };
                let literal = group.stream().to_string();
                return Some(syn::parse_str::<syn::LitStr>(&literal).ok()?.value());
            }
            TokenTree::Group(group) => {
                if let Some(message) = first_error(group.stream()) {
                    return Some(message);
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn the_readme_unknown_argument_example_is_the_macro_s_message() {
    let line = README
        .lines()
        .find(|line| line.starts_with("error: unknown argument `"))
        .expect("README.md shows an unknown-argument error");
    let message = line.strip_prefix("error: ").unwrap_or_default();
    let written = message
        .split('`')
        .nth(1)
        .expect("the unknown key in backticks");
    let listed: Vec<&str> = message
        .split_once("expected one of ")
        .map(|(_, list)| list.split(", ").map(|key| key.trim_matches('`')).collect())
        .unwrap_or_default();
    assert_eq!(
        listed,
        keys(),
        "README.md's unknown-argument example should list the macro's keys:\n{line}"
    );
    let args = TokenStream::from_str(&format!("{written} = 8080")).expect("arguments");
    let item = TokenStream::from_str("fn listener() -> std::io::Result<std::net::TcpListener> {}")
        .expect("an item");
    let produced = first_error(pipeline::restartable_listener(args, item));
    assert_eq!(
        produced.as_deref(),
        Some(message),
        "README.md's example is not what the macro says for `{written} = 8080`"
    );
}

#[test]
fn the_fuzz_dictionary_has_each_key() {
    let entries: BTreeSet<&str> = DICTIONARY
        .lines()
        .filter_map(|line| line.strip_prefix('"')?.strip_suffix('"'))
        .collect();
    let missing: Vec<&str> = keys()
        .into_iter()
        .filter(|key| !entries.contains(key))
        .collect();
    assert!(
        missing.is_empty(),
        "fuzz/expand.dict lacks the keys {missing:?}"
    );
}
