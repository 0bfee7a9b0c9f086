//! The `#[restartable_listener]` attribute. Use it through the `restartable`
//! crate, which re-exports it and holds the code its expansion calls.
//!
//! This file only adapts `proc_macro` to `proc_macro2`; the attribute is
//! `pipeline`, which the tests and the fuzz targets compile too.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod pipeline;

use proc_macro::TokenStream;

/// Makes the annotated function create, configure, bind and return a
/// listening socket with the right policy for the target OS. See the
/// `restartable` crate for the options.
#[proc_macro_attribute]
pub fn restartable_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::restartable_listener(args.into(), item.into()).into()
}
