//! Collects every mistake of one attribute, so that one compile shows them
//! all.
//!
//! Every message is a whole sentence as the source writes it: one string
//! literal, or an option's "expected …" sentence, `; ` and one literal
//! clause (what was found, what to do). Only values are filled in (what was
//! written, a number, a key's name, the list of keys), never a piece of a
//! sentence, so that a user can search for any part of the message.

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
    count: usize,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// An error that covers exactly the tokens of `at`. Not generic over
    /// the tokens' type: one copy of syn's `new_spanned` for the crate.
    pub(crate) fn at(&mut self, at: &dyn ToTokens, message: impl Into<String>) {
        self.push(syn::Error::new_spanned(at, message.into()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.combined
            .map(|error| error.to_compile_error())
            .unwrap_or_default()
    }
}
