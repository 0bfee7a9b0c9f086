//! The policy for a choice of options on this target: the row of the policy
//! table (`policy_table.rs`) whose `cfg` holds here, which is the branch of
//! the attribute's expansion that compiles here too.

use std::io;

use crate::sys::Policy;

#[path = "policy_table.rs"]
mod table;

// The rows name a constant by its family, as the expansion names
// `__private::unix` and `__private::windows`: a row under the wrong family
// does not compile here either.
#[cfg(unix)]
use crate::sys as unix;
#[cfg(windows)]
use crate::sys as windows;

/// A row's `Ok(..)` or `Err(..)` as a constant's value.
macro_rules! choice {
    (Ok ($($path:tt)+)) => {
        Ok($($path)+)
    };
    (Err ($message:ident)) => {
        Err(crate::messages::$message)
    };
}

/// A module per choice of options, whose `CHOICE` is this target's row:
/// each row under its `cfg`, as in the expansion, `_` under the negation of
/// all the others.
macro_rules! choices {
    ($($options:ident {
        $([$($target:meta),+] => $result:ident $choice:tt,)+
        _ => $other:ident $other_choice:tt,
    })+) => {
        $(mod $options {
            use super::*;
            $(
                #[cfg(any($($target),+))]
                pub(super) const CHOICE: Result<Policy, &str> = choice!($result $choice);
            )+
            #[cfg(not(any($($($target),+),+)))]
            pub(super) const CHOICE: Result<Policy, &str> = choice!($other $other_choice);
        })+
    };
}

table::policy_table!(choices);

/// The policy for the builder's options, or an `Unsupported` error with the
/// message of the expansion's compile error on this target. `exclusive`
/// counts without `reuse_port` only, as in the attribute.
pub(crate) fn for_options(reuse_port: bool, exclusive: bool) -> io::Result<Policy> {
    let choice = if reuse_port {
        reuse_port::CHOICE
    } else if exclusive {
        default::CHOICE
    } else {
        not_exclusive::CHOICE
    };
    choice.map_err(|message| io::Error::new(io::ErrorKind::Unsupported, message))
}

/// Whether `reuse_port = true` gives a policy on this target.
#[cfg(unix)]
pub(crate) const REUSE_PORT_SUPPORTED: bool = reuse_port::CHOICE.is_ok();
