//! Expansion snapshots: each `tests/expand/NAME.rs` expanded by the macro,
//! pretty-printed, must equal `tests/expand/NAME.expanded.rs`. The test suite
//! and the Windows check compile those files, so they are the generated code
//! per target. `RESTARTABLE_BLESS=1` rewrites them.
//!
//! The macro's pipeline is compiled into this test from `macros/src/` (a
//! proc-macro crate exports nothing but its macros), so the expansion is the
//! macro's own code.

#[path = "../../macros/src/pipeline.rs"]
mod pipeline;

use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, ImplItem, Item, Meta};

const ATTRIBUTE: &str = "restartable_listener";

fn take_attribute(attrs: &mut Vec<Attribute>) -> Option<TokenStream> {
    let position = attrs.iter().position(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|last| last.ident == ATTRIBUTE)
    })?;
    Some(match attrs.remove(position).meta {
        Meta::List(list) => list.tokens,
        Meta::Path(_) | Meta::NameValue(_) => TokenStream::new(),
    })
}

fn expand(args: TokenStream, item: &impl ToTokens) -> TokenStream {
    pipeline::restartable_listener(args, item.to_token_stream())
}

fn expand_items(items: Vec<Item>) -> Vec<Item> {
    let mut expanded = Vec::new();
    for mut item in items {
        match &mut item {
            Item::Fn(function) => {
                if let Some(args) = take_attribute(&mut function.attrs) {
                    let file: syn::File =
                        syn::parse2(expand(args, function)).expect("the expansion parses as items");
                    expanded.extend(file.items);
                    continue;
                }
            }
            Item::Impl(block) => {
                for member in &mut block.items {
                    if let ImplItem::Fn(function) = member {
                        if let Some(args) = take_attribute(&mut function.attrs) {
                            *member = syn::parse2(expand(args, function))
                                .expect("the expansion parses as an associated function");
                        }
                    }
                }
            }
            _ => {}
        }
        expanded.push(item);
    }
    expanded
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = fs::read_dir(dir)
        .expect("tests/expand exists")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "rs")
                && !path.to_string_lossy().ends_with(".expanded.rs")
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn expansions_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("expand");
    let bless = std::env::var_os("RESTARTABLE_BLESS").is_some();
    let inputs = inputs(&dir);
    assert!(
        inputs.len() >= 6,
        "expected at least 6 inputs in {}",
        dir.display()
    );
    let mut changed = Vec::new();
    for input in inputs {
        let source = fs::read_to_string(&input).expect("a readable input");
        let mut file = syn::parse_file(&source).expect("the input parses");
        file.items = expand_items(file.items);
        let name = input.file_name().expect("a file name").to_string_lossy();
        let expanded = format!(
            "// The expansion of {name} by #[restartable_listener].\n\
             // Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.\n\n{}",
            prettyplease::unparse(&file)
        );
        let snapshot = input.with_extension("expanded.rs");
        if bless {
            fs::write(&snapshot, &expanded).expect("the snapshot is writable");
        } else if fs::read_to_string(&snapshot).ok().as_deref() != Some(expanded.as_str()) {
            eprintln!(
                "--- {} changed; it now reads:\n{expanded}",
                snapshot.display()
            );
            changed.push(snapshot);
        }
    }
    assert!(
        changed.is_empty(),
        "expansions differ from {changed:?}: review them, then rerun with RESTARTABLE_BLESS=1"
    );
}
