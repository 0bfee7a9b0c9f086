//! A unit test that needs another process runs itself there: the same
//! `#[test]`, in a copy of the test binary that runs that one test alone,
//! does the work where [`in_child`] is true, and the test's own process
//! checks what the copy says. The behaviour tests do the same with
//! `restartable_tests::copy`; this crate's tests cannot use that package
//! (it depends on this one, and these tests must build from the published
//! crate alone), hence these two functions.

use std::process::Command;

/// Set in a copy of the test binary that [`command`] made (the variable
/// `restartable_tests::copy` sets, too).
const IN_CHILD: &str = "RESTARTABLE_TEST_IN_CHILD";

/// Whether this process is a copy of the test binary started by
/// [`command`].
pub(crate) fn in_child() -> bool {
    std::env::var_os(IN_CHILD).is_some()
}

/// The command that runs the unit test `name` (its path in the crate, such
/// as `error::holder::tests::NAME`) again, alone, in a copy of the test
/// binary where [`in_child`] is true. `launcher`, when not empty, is a
/// program and its arguments that run the copy: `sh -c 'umask 0 && exec
/// "$0" "$@"'` sets its umask without a `umask` call in this multi-threaded
/// process.
pub(crate) fn command(launcher: &[&str], name: &str) -> Command {
    let binary = std::env::current_exe().expect("the test binary");
    let mut command = match launcher {
        [] => Command::new(binary),
        [program, args @ ..] => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
    };
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(IN_CHILD, "1");
    command
}
