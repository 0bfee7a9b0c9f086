//! Which errors of a refused bind on Windows mean "another socket holds the
//! port": Microsoft's table, as one pure function. It compiles and is tested
//! on every target, because nothing that runs here can check it: Wine maps
//! Winsock onto Linux sockets and does not follow the table (its refusals
//! are WSAEADDRINUSE, and WSAEACCES only where the second socket set
//! SO_REUSEADDR). The Windows branch alone uses it.
//!
//! Source: Microsoft, "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE",
//! <https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse>,
//! section "Enhanced Socket Security" (Windows Server 2003 and later, so
//! every Windows that Rust supports). A second socket binds the port of a
//! first one; "wildcard" is 0.0.0.0 or ::, "specific" the same specific
//! address; INUSE is WSAEADDRINUSE (10048), ACCESS is WSAEACCES (10013).
//! Rows: the first bind; columns: the second bind.
//!
//! Both binds under the same user account:
//!
//! ```text
//!                           | Default         | SO_REUSEADDR    | SO_EXCLUSIVEADDRUSE
//! first bind                | Wildcard Specif | Wildcard Specif | Wildcard Specif
//! Default        Wildcard   | INUSE   Success | ACCESS  Success | INUSE   Success
//! Default        Specific   | Success INUSE   | Success ACCESS  | INUSE   INUSE
//! SO_REUSEADDR   Wildcard   | INUSE   Success | Success Success | INUSE   Success
//! SO_REUSEADDR   Specific   | Success INUSE   | Success Success | INUSE   INUSE
//! EXCLUSIVE      Wildcard   | INUSE   ACCESS  | ACCESS  ACCESS  | INUSE   ACCESS
//! EXCLUSIVE      Specific   | Success INUSE   | Success ACCESS  | INUSE   INUSE
//! ```
//!
//! Under different user accounts:
//!
//! ```text
//!                           | Default         | SO_REUSEADDR    | SO_EXCLUSIVEADDRUSE
//! first bind                | Wildcard Specif | Wildcard Specif | Wildcard Specif
//! Default        Wildcard   | INUSE   ACCESS  | ACCESS  ACCESS  | INUSE   ACCESS
//! Default        Specific   | Success INUSE   | Success ACCESS  | INUSE   INUSE
//! SO_REUSEADDR   Wildcard   | INUSE   ACCESS  | Success Success | INUSE   ACCESS
//! SO_REUSEADDR   Specific   | Success INUSE   | Success Success | INUSE   INUSE
//! EXCLUSIVE      Wildcard   | INUSE   ACCESS  | ACCESS  ACCESS  | INUSE   ACCESS
//! EXCLUSIVE      Specific   | Success INUSE   | Success ACCESS  | INUSE   INUSE
//! ```
//!
//! And, from the same page: a dual-stack socket (IPv6, `IPV6_V6ONLY=0`) with
//! SO_EXCLUSIVEADDRUSE bound to the wildcard reserves the port on IPv4 too,
//! and "if an IPv4 TCP socket was previously bound to the loopback address
//! on port 5000, the bind call for the dual stack socket would fail with
//! WSAEACCES".
//!
//! So, read by the second socket's column: every INUSE and ACCESS in it is
//! a first socket holding the port. The crate's own sockets are in the
//! Default and SO_EXCLUSIVEADDRUSE columns (it never sets SO_REUSEADDR; a
//! `configure` function may). WSAEACCES is "in use" exactly where its column
//! has an ACCESS: a specific address, or SO_REUSEADDR, or the exclusive
//! dual-stack wildcard. A wildcard bind with no option or with
//! SO_EXCLUSIVEADDRUSE never meets ACCESS in the table: there WSAEACCES has
//! another cause (a port in a range Windows reserves, e.g. for Hyper-V:
//! microsoft/WSL#5514, dotnet/aspnetcore#25562), and it stays
//! `PermissionDenied`. The same reserved ranges give WSAEACCES on specific
//! addresses as well, which the table cannot tell apart: the message of an
//! "in use" WSAEACCES says so.

// Only the Windows branch calls it; the tests run everywhere.
#![cfg_attr(not(windows), allow(dead_code))]

/// WSAEACCES: the table's ACCESS.
pub(crate) const WSAEACCES: i32 = 10013;
/// WSAEADDRINUSE: the table's INUSE.
pub(crate) const WSAEADDRINUSE: i32 = 10048;

/// The reuse option a socket has when it binds: the table's column groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReuseOption {
    /// Neither option.
    Default,
    /// SO_REUSEADDR.
    ReuseAddress,
    /// SO_EXCLUSIVEADDRUSE.
    ExclusiveAddressUse,
}

/// How a socket binds, as the table tells binds apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bind {
    /// The option it set before bind.
    pub(crate) option: ReuseOption,
    /// The wildcard address (0.0.0.0, ::), rather than a specific one.
    pub(crate) wildcard: bool,
    /// An IPv6 socket bound to `::` with `IPV6_V6ONLY=0`, which reserves the
    /// port on IPv4 as well.
    pub(crate) dual_stack: bool,
}

/// Whether `code`, the WSA error of a bind made as `bind`, means that
/// another socket holds the port, as the table above says.
pub(crate) fn bind_error_in_use(code: i32, bind: Bind) -> bool {
    match code {
        WSAEADDRINUSE => true,
        WSAEACCES => {
            !bind.wildcard
                || bind.option == ReuseOption::ReuseAddress
                || (bind.option == ReuseOption::ExclusiveAddressUse && bind.dual_stack)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell of the table: success, or the error the second bind gets.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Cell {
        Success,
        InUse,
        Access,
    }
    use Cell::{Access, InUse, Success};

    /// The columns, in the table's order: Default, SO_REUSEADDR,
    /// SO_EXCLUSIVEADDRUSE, each wildcard then specific.
    const COLUMNS: [(ReuseOption, bool); 6] = [
        (ReuseOption::Default, true),
        (ReuseOption::Default, false),
        (ReuseOption::ReuseAddress, true),
        (ReuseOption::ReuseAddress, false),
        (ReuseOption::ExclusiveAddressUse, true),
        (ReuseOption::ExclusiveAddressUse, false),
    ];

    /// Both binds under the same user account; rows in the table's order
    /// (first bind Default, SO_REUSEADDR, SO_EXCLUSIVEADDRUSE, each wildcard
    /// then specific), as in the module docs.
    const SAME_USER: [[Cell; 6]; 6] = [
        [InUse, Success, Access, Success, InUse, Success],
        [Success, InUse, Success, Access, InUse, InUse],
        [InUse, Success, Success, Success, InUse, Success],
        [Success, InUse, Success, Success, InUse, InUse],
        [InUse, Access, Access, Access, InUse, Access],
        [Success, InUse, Success, Access, InUse, InUse],
    ];

    /// The binds under different user accounts.
    const DIFFERENT_USERS: [[Cell; 6]; 6] = [
        [InUse, Access, Access, Access, InUse, Access],
        [Success, InUse, Success, Access, InUse, InUse],
        [InUse, Access, Success, Success, InUse, Access],
        [Success, InUse, Success, Success, InUse, InUse],
        [InUse, Access, Access, Access, InUse, Access],
        [Success, InUse, Success, Access, InUse, InUse],
    ];

    fn bind(column: usize) -> Bind {
        let (option, wildcard) = COLUMNS[column];
        Bind {
            option,
            wildcard,
            dual_stack: false,
        }
    }

    #[test]
    fn every_refusal_in_the_table_is_in_use() {
        let mut refusals = 0;
        for table in [SAME_USER, DIFFERENT_USERS] {
            for (first, row) in table.iter().enumerate() {
                for (column, cell) in row.iter().enumerate() {
                    let code = match cell {
                        Success => continue,
                        InUse => WSAEADDRINUSE,
                        Access => WSAEACCES,
                    };
                    refusals += 1;
                    assert!(
                        bind_error_in_use(code, bind(column)),
                        "first bind {first}, second {:?}: {code}",
                        bind(column)
                    );
                }
            }
        }
        assert_eq!(refusals, 49);
    }

    #[test]
    fn wsaeacces_is_in_use_only_in_the_columns_where_the_table_gives_it() {
        for column in 0..COLUMNS.len() {
            let in_table = [SAME_USER, DIFFERENT_USERS]
                .iter()
                .any(|table| table.iter().any(|row| row[column] == Access));
            assert_eq!(
                bind_error_in_use(WSAEACCES, bind(column)),
                in_table,
                "{:?}",
                bind(column)
            );
        }
        // Where the crate binds the wildcard with no option or exclusively,
        // WSAEACCES is something else, e.g. a port Windows reserves.
        assert!(!bind_error_in_use(WSAEACCES, bind(0)));
        assert!(!bind_error_in_use(WSAEACCES, bind(4)));
    }

    #[test]
    fn an_exclusive_dual_stack_wildcard_is_in_use_with_wsaeacces() {
        let dual_stack = |option| Bind {
            option,
            wildcard: true,
            dual_stack: true,
        };
        assert!(bind_error_in_use(
            WSAEACCES,
            dual_stack(ReuseOption::ExclusiveAddressUse)
        ));
        // The page says it of SO_EXCLUSIVEADDRUSE only.
        assert!(!bind_error_in_use(
            WSAEACCES,
            dual_stack(ReuseOption::Default)
        ));
    }

    #[test]
    fn other_errors_are_not_in_use() {
        // WSAEINVAL (both options set), WSAEADDRNOTAVAIL, WSAENOBUFS.
        for code in [10022, 10049, 10055] {
            for column in 0..COLUMNS.len() {
                assert!(!bind_error_in_use(code, bind(column)), "{code}");
            }
        }
    }
}
