//! The policy table (`policy_table.rs`) as the expansion writes it: one
//! `let policy = ...;` per row, under the row's `#[cfg]`, so that a reader
//! of the expansion sees which options each target gets.

use proc_macro2::{Ident, Literal, Span, TokenStream};

use super::messages;
use super::policy_table::policy_table;
use super::template::fill_at;
use super::valid::Config;

/// A row of the table: its targets, as the `cfg` predicates it is written
/// with (none for `_`), and what they get.
struct Row {
    targets: &'static [&'static str],
    /// The `Policy` constant, as its path under `__private`, or the message
    /// of the compile error.
    choice: Result<&'static str, &'static str>,
}

/// The rows for each choice of options.
struct Table {
    default: &'static [Row],
    not_exclusive: &'static [Row],
    reuse_port: &'static [Row],
}

/// A row's `Ok(..)` or `Err(..)` as this crate keeps it: a constant's path
/// is only text here, the message the text itself.
macro_rules! choice {
    (Ok ($($path:tt)+)) => {
        Ok(stringify!($($path)+))
    };
    (Err ($message:ident)) => {
        Err(messages::$message)
    };
}

/// The table as `TABLE`: text, never evaluated as a `cfg` here, on the
/// build machine.
macro_rules! table {
    ($($options:ident {
        $([$($target:meta),+] => $result:ident $choice:tt,)+
        _ => $other:ident $other_choice:tt,
    })+) => {
        const TABLE: Table = Table {
            $($options: &[
                $(Row {
                    targets: &[$(stringify!($target)),+],
                    choice: choice!($result $choice),
                },)+
                Row {
                    targets: &[],
                    choice: choice!($other $other_choice),
                },
            ],)+
        };
    };
}

policy_table!(table);

/// One `let $policy = ...;` per row of the table for the attribute's
/// options, each under its `#[cfg]`: the whole per-target choice, readable
/// in the expansion. With `reuse_port = true` the branches are spanned on
/// that key, where a target's compile error is reported.
pub(crate) fn branches(config: &Config, private: &TokenStream, policy: &Ident) -> TokenStream {
    let (rows, span) = match &config.reuse_port {
        Some(key) => (TABLE.reuse_port, key.span()),
        None if config.exclusive => (TABLE.default, Span::call_site()),
        None => (TABLE.not_exclusive, Span::call_site()),
    };
    let named: Vec<&str> = rows.iter().flat_map(|row| row.targets).copied().collect();
    let mut branches = TokenStream::new();
    for row in rows {
        let cfg = match row.targets {
            [] => format!("not(any({}))", named.join(", ")),
            [target] => (*target).to_owned(),
            targets => format!("any({})", targets.join(", ")),
        };
        let (value, message) = match row.choice {
            Ok(path) => (format!("$private::{path}"), None),
            Err(message) => (
                "::core::compile_error!($message)".to_owned(),
                Some(Literal::string(message)),
            ),
        };
        branches.extend(fill_at(
            span,
            &format!("#[cfg({cfg})] let $policy = {value};"),
            &[
                ("policy", policy),
                ("private", private),
                ("message", &message),
            ],
        ));
    }
    branches
}
