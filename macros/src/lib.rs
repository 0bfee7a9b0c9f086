//! The `#[restartable_listener]` attribute. Use it through the `restartable`
//! crate, which re-exports it and holds the code its expansion calls.
//!
//! The pipeline: `args` parses the attribute's arguments, `item` the
//! function, `valid` checks them against each other, `expand` writes the
//! code from the Rust source in `template`s. Every mistake becomes a
//! `syn::Error` on the token that caused it.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod args;
mod errors;
mod expand;
mod item;
mod messages;
mod template;
mod valid;

use proc_macro::TokenStream;

/// Makes the annotated function create, configure, bind and return a
/// listening socket with the right policy for the target OS. See the
/// `restartable` crate for the options.
#[proc_macro_attribute]
pub fn restartable_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::restartable_listener(args.into(), item.into()).into()
}
