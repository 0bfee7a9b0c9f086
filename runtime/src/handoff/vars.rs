//! The `LISTEN_*` variables, read as text: whom they address and which
//! descriptors they name. Pure: nothing here touches a descriptor.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::io::RawFd;

use crate::process::inherited::SD_LISTEN_FDS_START;
use crate::variable::bad_variable;

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
                .ok_or_else(|| {
                    bad_variable(
                        LISTEN_FDS_FIRST_FD,
                        first,
                        &format!(
                            "is not a descriptor number from {SD_LISTEN_FDS_START} to {} (0 to \
                             2 are standard input, output and error)",
                            RawFd::MAX
                        ),
                    )
                })?,
        };
        // The last descriptor is a descriptor number too. (Without
        // LISTEN_FDS_FIRST_FD it always is: MAX_FDS is far below.)
        let last = i64::from(first) + i64::from(count) - 1;
        let last = RawFd::try_from(last).map_err(|_| {
            bad_variable(
                LISTEN_FDS_FIRST_FD,
                self.first_fd.as_deref().unwrap_or_default(),
                &format!(
                    "with {LISTEN_FDS}={count} names descriptors up to {last}, past {}, the \
                     largest descriptor number",
                    RawFd::MAX
                ),
            )
        })?;
        let names: Vec<Option<String>> = match &self.names {
            None => (0..count).map(|_| None).collect(),
            // No names for no sockets. For one socket, "" is one empty name,
            // as libsystemd splits it and as systemd writes an empty
            // FileDescriptorName=.
            Some(names) if names.is_empty() && count == 0 => Vec::new(),
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
        // An inclusive range: it ends at `RawFd::MAX` without stepping past.
        Ok(Addressed::Ours((first..=last).zip(names).collect()))
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
        for first in ["0", "2", "x", "+4", "2147483648"] {
            let mut vars = vars(Some("42"), Some("1"), None);
            vars.first_fd = Some(first.into());
            let error = vars.parse(42, false).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert_eq!(
                error.to_string(),
                format!(
                    "environment variable LISTEN_FDS_FIRST_FD=\"{first}\" is not a descriptor \
                     number from 3 to 2147483647 (0 to 2 are standard input, output and error)"
                )
            );
        }
    }

    /// The last descriptor number is `i32::MAX`: the sockets may end there,
    /// and a range that goes past it is said to, not called a bad number.
    #[test]
    fn passed_descriptors_may_end_at_the_largest_descriptor_number_and_not_past_it() {
        let mut last = vars(Some("42"), Some("1"), Some("http"));
        last.first_fd = Some("2147483647".into());
        assert_eq!(ours(&last), [(i32::MAX, Some("http".into()))]);
        let mut two = vars(Some("42"), Some("2"), None);
        two.first_fd = Some("2147483646".into());
        assert_eq!(ours(&two), [(i32::MAX - 1, None), (i32::MAX, None)]);

        for (first, count, last) in [
            ("2147483647", "2", "2147483648"),
            ("2147483000", "65536", "2147548535"),
        ] {
            let mut past = vars(Some("42"), Some(count), None);
            past.first_fd = Some(first.into());
            let error = past.parse(42, false).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert_eq!(
                error.to_string(),
                format!(
                    "environment variable LISTEN_FDS_FIRST_FD=\"{first}\" with \
                     LISTEN_FDS={count} names descriptors up to {last}, past 2147483647, the \
                     largest descriptor number"
                )
            );
        }
    }

    /// `LISTEN_FDNAMES=""` is no names for no sockets, and one empty name
    /// for one socket, as libsystemd splits it (`strv_split_full` with
    /// `EXTRACT_DONT_COALESCE_SEPARATORS` gives one empty word for "") and
    /// as systemd writes a socket whose `FileDescriptorName=` is empty.
    #[test]
    fn an_empty_listen_fdnames_is_no_name_for_no_socket_and_an_empty_name_for_one() {
        assert!(ours(&vars(Some("42"), Some("0"), Some(""))).is_empty());
        assert_eq!(
            ours(&vars(Some("42"), Some("1"), Some(""))),
            [(3, Some(String::new()))]
        );
        assert_eq!(
            ours(&vars(Some("42"), Some("2"), Some(":"))),
            [(3, Some(String::new())), (4, Some(String::new()))]
        );
        let error = vars(Some("42"), Some("0"), Some("http"))
            .parse(42, false)
            .unwrap_err();
        assert!(
            error.to_string().ends_with(
                "LISTEN_FDNAMES=\"http\" has 1 names, but LISTEN_FDS=0 passes 0 sockets"
            ),
            "{error}"
        );
        let error = vars(Some("42"), Some("2"), Some(""))
            .parse(42, false)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("LISTEN_FDNAMES=\"\" has 1 names, but LISTEN_FDS=2 passes 2 sockets"),
            "{error}"
        );
    }
}
