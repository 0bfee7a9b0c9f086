//! The attribute from arguments and item to the function and its errors:
//! `args` parses the arguments (its `KEYS` is the one list of keys), `item`
//! the function, `valid` checks them against each other, `expand` writes the
//! code from the Rust source in `template`s. Every mistake becomes a
//! `syn::Error` on the token that caused it.
//!
//! This file declares the modules itself, each by its path next to it, so
//! that the test and fuzz harnesses compile the attribute's own code by
//! including this one file (`#[path = ".../macros/src/pipeline.rs"] mod
//! pipeline;`): a proc-macro crate exports nothing but its macros.

// The macro's code is written for its rust-version, 1.71, which clippy goes
// by here, but not in a harness (Duration::from_hours is 1.91).
#![allow(clippy::duration_suboptimal_units)]

#[path = "args.rs"]
pub(crate) mod args;
#[path = "errors.rs"]
mod errors;
#[path = "expand.rs"]
mod expand;
#[path = "item.rs"]
mod item;
#[path = "messages.rs"]
mod messages;
#[path = "policy.rs"]
mod policy;
#[path = "policy_table.rs"]
mod policy_table;
#[path = "suggest.rs"]
mod suggest;
#[path = "template.rs"]
mod template;
#[path = "valid.rs"]
mod valid;
#[path = "values.rs"]
pub(crate) mod values;

use proc_macro2::TokenStream;

use errors::Errors;

/// The attribute: arguments and item in, the function (and any errors) out.
/// On any error the function is still emitted, with a body that
/// type-checks, so that the rest of the crate compiles against it.
pub(crate) fn restartable_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = args::parse(args, &mut errors);
    let function = match item::parse(item, &mut errors) {
        Ok(function) => function,
        Err(mut item) => {
            item.extend(errors.into_compile_errors());
            return item;
        }
    };
    let config = args.and_then(|args| valid::check(args, &function, &mut errors));
    let mut expanded = match config {
        Some(config) => expand::generate(&function, &config),
        None => expand::placeholder(&function),
    };
    expanded.extend(errors.into_compile_errors());
    expanded
}
