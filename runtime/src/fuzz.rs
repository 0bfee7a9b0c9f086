//! The parsers of run-time input, for the fuzz targets in `fuzz/` only
//! (`cargo fuzz` builds with `--cfg fuzzing`); not part of the API.

use std::ffi::OsStr;
use std::io;

/// A `port_env` value, as `Spec` reads it.
pub fn port_from_variable(name: &str, value: &OsStr) -> io::Result<u16> {
    crate::addr::parse_port(name, &value.to_owned())
}

/// An `addr_env` value, as `Spec` reads it.
pub fn addr_from_variable(name: &str, value: &OsStr) -> io::Result<std::net::SocketAddr> {
    crate::addr::parse_addr(name, &value.to_owned())
}

/// The `LISTEN_*` variables for process `own_pid`: the passed
/// descriptors and their names when they are for it, `None` when not.
#[cfg(unix)]
pub fn listen_vars(
    pid: Option<&OsStr>,
    fds: Option<&OsStr>,
    names: Option<&OsStr>,
    first_fd: Option<&OsStr>,
    own_pid: u32,
    accept_unset_pid: bool,
) -> io::Result<Option<Vec<(i32, Option<String>)>>> {
    let vars = crate::handoff::Vars {
        pid: pid.map(OsStr::to_owned),
        fds: fds.map(OsStr::to_owned),
        names: names.map(OsStr::to_owned),
        first_fd: first_fd.map(OsStr::to_owned),
    };
    Ok(match vars.parse(own_pid, accept_unset_pid)? {
        crate::handoff::Addressed::Ours(fds) => Some(fds),
        _ => None,
    })
}

/// A `path_env` value: `Ok` with the place as errors print it.
#[cfg(unix)]
pub fn place_from_variable(name: &str, value: &OsStr) -> io::Result<String> {
    crate::addr::place_from_variable(name, &value.to_owned()).map(|p| p.to_string())
}
