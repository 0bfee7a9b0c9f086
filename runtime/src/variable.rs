//! The one message for an environment variable whose value cannot be used.

use std::ffi::OsStr;
use std::io;

/// An environment variable whose value cannot be used: `InvalidInput`,
/// naming the variable and its value.
pub(crate) fn bad_variable(name: &str, value: &OsStr, problem: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "environment variable {name}={:?} {problem}",
            value.to_string_lossy()
        ),
    )
}
