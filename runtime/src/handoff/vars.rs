//! The `LISTEN_*` variables, read as text: whom they address and which
//! descriptors they name. Pure: nothing here touches a descriptor.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::io::RawFd;

use crate::variable::bad_variable;

/// The first passed descriptor when `LISTEN_FDS_FIRST_FD` is unset
/// (`SD_LISTEN_FDS_START`).
pub(crate) const SD_LISTEN_FDS_START: RawFd = 3;
/// More passed sockets than this is taken for a malformed `LISTEN_FDS`.
pub(super) const MAX_FDS: u32 = 65_536;

pub(crate) const LISTEN_PID: &str = "LISTEN_PID";
pub(crate) const LISTEN_FDS: &str = "LISTEN_FDS";
pub(crate) const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
pub(crate) const LISTEN_FDS_FIRST_FD: &str = "LISTEN_FDS_FIRST_FD";

/// The variables, as read.
#[derive(Default)]
pub(crate) struct Vars {
    pub(crate) pid: Option<OsString>,
    pub(crate) fds: Option<OsString>,
    pub(crate) names: Option<OsString>,
    pub(crate) first_fd: Option<OsString>,
}

/// Whom the variables address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Addressed {
    Nothing,
    NotOurs {
        count: String,
        pid: Option<u32>,
    },
    /// The descriptors and their names.
    Ours(Vec<(RawFd, Option<String>)>),
}

impl Vars {
    /// A malformed variable is an error only when the sockets are for this
    /// process: another process's variables are none of its business.
    pub(crate) fn parse(&self, own_pid: u32, accept_unset_pid: bool) -> io::Result<Addressed> {
        let Some(fds) = &self.fds else {
            return Ok(Addressed::Nothing);
        };
        let count_text = fds.to_string_lossy().into_owned();
        match self.pid.as_deref().filter(|pid| !pid.is_empty()) {
            Some(pid) => {
                let pid: u32 = number(pid)
                    .filter(|pid| *pid > 0)
                    .ok_or_else(|| bad_variable(LISTEN_PID, pid, "is not a process id"))?;
                if pid != own_pid {
                    return Ok(Addressed::NotOurs {
                        count: count_text,
                        pid: Some(pid),
                    });
                }
            }
            None if accept_unset_pid => {}
            None => {
                return Ok(Addressed::NotOurs {
                    count: count_text,
                    pid: None,
                })
            }
        }
        let count = number(fds)
            .filter(|count| *count <= MAX_FDS)
            .ok_or_else(|| {
                bad_variable(
                    LISTEN_FDS,
                    fds,
                    &format!("is not a number of passed sockets (expected 0 to {MAX_FDS})"),
                )
            })?;
        let first = match &self.first_fd {
            None => SD_LISTEN_FDS_START,
            Some(first) => number(first)
                .and_then(|first| RawFd::try_from(first).ok())
                .filter(|first| *first >= SD_LISTEN_FDS_START)
                .filter(|first| {
                    RawFd::try_from(count).is_ok_and(|count| first.checked_add(count).is_some())
                })
                .ok_or_else(|| {
                    bad_variable(
                        LISTEN_FDS_FIRST_FD,
                        first,
                        "is not a descriptor number of 3 or more (0 to 2 are standard input, \
                         output and error)",
                    )
                })?,
        };
        let names: Vec<Option<String>> = match &self.names {
            None => (0..count).map(|_| None).collect(),
            Some(names) => {
                let text = names
                    .to_str()
                    .ok_or_else(|| bad_variable(LISTEN_FDNAMES, names, "is not UTF-8"))?;
                let split: Vec<Option<String>> =
                    text.split(':').map(|n| Some(n.to_owned())).collect();
                if split.len() != count as usize {
                    return Err(bad_variable(
                        LISTEN_FDNAMES,
                        names,
                        &format!(
                            "has {} names, but {LISTEN_FDS}={count} passes {count} sockets",
                            split.len()
                        ),
                    ));
                }
                split
            }
        };
        Ok(Addressed::Ours((first..).zip(names).collect()))
    }
}

fn number(value: &OsStr) -> Option<u32> {
    let text = value.to_str()?;
    // `parse` takes a leading `+`; the protocol has plain digits only.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> Vars {
        Vars {
            pid: pid.map(OsString::from),
            fds: fds.map(OsString::from),
            names: names.map(OsString::from),
            first_fd: None,
        }
    }

    fn ours(vars: &Vars) -> Vec<(RawFd, Option<String>)> {
        match vars.parse(42, false).unwrap() {
            Addressed::Ours(fds) => fds,
            other => panic!("expected sockets for this process, got {other:?}"),
        }
    }

    #[test]
    fn nothing_passed_without_listen_fds() {
        assert_eq!(
            vars(Some("42"), None, None).parse(42, false).unwrap(),
            Addressed::Nothing
        );
        assert_eq!(
            vars(None, None, Some("http")).parse(42, true).unwrap(),
            Addressed::Nothing
        );
    }

    #[test]
    fn sockets_for_another_process_are_not_ours_even_when_malformed() {
        assert_eq!(
            vars(Some("43"), Some("2"), None).parse(42, true).unwrap(),
            Addressed::NotOurs {
                count: "2".into(),
                pid: Some(43)
            }
        );
        assert_eq!(
            vars(Some("43"), Some("x"), Some("a:b:c"))
                .parse(42, false)
                .unwrap(),
            Addressed::NotOurs {
                count: "x".into(),
                pid: Some(43)
            }
        );
    }

    #[test]
    fn an_unset_listen_pid_is_ours_only_when_accepted() {
        for pid in [None, Some("")] {
            assert_eq!(
                vars(pid, Some("1"), None).parse(42, false).unwrap(),
                Addressed::NotOurs {
                    count: "1".into(),
                    pid: None
                }
            );
            assert_eq!(
                vars(pid, Some("1"), None).parse(42, true).unwrap(),
                Addressed::Ours(vec![(3, None)])
            );
        }
    }

    #[test]
    fn sockets_for_this_process_start_at_fd_3_or_listen_fds_first_fd() {
        let fds = ours(&vars(Some("42"), Some("2"), Some("http:dns")));
        assert_eq!(fds, [(3, Some("http".into())), (4, Some("dns".into()))]);
        assert!(ours(&vars(Some("42"), Some("0"), None)).is_empty());
        let mut moved = vars(Some("42"), Some("2"), None);
        moved.first_fd = Some("4".into());
        assert_eq!(ours(&moved), [(4, None), (5, None)]);
    }

    #[test]
    fn malformed_variables_are_invalid_input_naming_the_variable() {
        let cases = [
            (
                vars(Some("abc"), Some("1"), None),
                "LISTEN_PID=\"abc\" is not a process id",
            ),
            (
                vars(Some("0"), Some("1"), None),
                "LISTEN_PID=\"0\" is not a process id",
            ),
            (vars(Some("-42"), Some("1"), None), "LISTEN_PID=\"-42\""),
            (
                vars(Some("42"), Some("x"), None),
                "LISTEN_FDS=\"x\" is not a number of passed sockets",
            ),
            (vars(Some("42"), Some("+1"), None), "LISTEN_FDS=\"+1\""),
            (vars(Some("42"), Some(""), None), "LISTEN_FDS=\"\""),
            (
                vars(Some("42"), Some("99999999"), None),
                "LISTEN_FDS=\"99999999\"",
            ),
            (
                vars(Some("42"), Some("2"), Some("http")),
                "LISTEN_FDNAMES=\"http\" has 1 names, but LISTEN_FDS=2 passes 2 sockets",
            ),
            (
                vars(Some("42"), Some("1"), Some("a:b")),
                "LISTEN_FDNAMES=\"a:b\" has 2 names",
            ),
        ];
        for (vars, message) in cases {
            let error = vars.parse(42, false).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert!(error.to_string().contains(message), "{error} ∌ {message}");
        }
        for first in ["0", "2", "x", "2147483647"] {
            let mut vars = vars(Some("42"), Some("1"), None);
            vars.first_fd = Some(first.into());
            let error = vars.parse(42, false).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("LISTEN_FDS_FIRST_FD=\"{first}\"")),
                "{error}"
            );
        }
    }
}
