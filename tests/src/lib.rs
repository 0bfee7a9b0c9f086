//! Helpers shared by the test suites: reading back the options a socket got.

use std::io;

#[cfg(target_os = "linux")]
pub mod upgrade;

use restartable::socket2::SockRef;

/// The socket options that the policy decides, read back with getsockopt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// SO_REUSEADDR.
    pub reuse_address: bool,
    /// SO_REUSEPORT, where the target has it.
    pub reuse_port: Option<bool>,
    /// IPV6_V6ONLY, for an IPv6 socket.
    pub only_v6: Option<bool>,
}

/// Reads the options of `socket` back from the kernel.
///
/// # Errors
///
/// When getsockopt fails.
pub fn options<'s, S>(socket: &'s S) -> io::Result<Options>
where
    SockRef<'s>: From<&'s S>,
{
    let socket = SockRef::from(socket);
    let is_ipv6 = socket.local_addr()?.is_ipv6();
    Ok(Options {
        reuse_address: socket.reuse_address()?,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        reuse_port: Some(socket.reuse_port()?),
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        reuse_port: None,
        only_v6: if is_ipv6 {
            Some(socket.only_v6()?)
        } else {
            None
        },
    })
}

/// The variable `.ci/run` sets: everything is required, so a test that
/// cannot run here (no network namespace, no root, a tool missing) fails
/// instead of passing as skipped.
pub const REQUIRE_ALL: &str = "RESTARTABLE_REQUIRE_ALL";

/// Says why a test checks nothing here and returns, or, when
/// [`REQUIRE_ALL`] is set, fails the test with that reason.
///
/// # Panics
///
/// When [`REQUIRE_ALL`] is set.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os(REQUIRE_ALL).is_none(),
        "{REQUIRE_ALL} is set, and this test cannot run: {reason}"
    );
    println!("skipped: {reason}");
}

/// Set in a copy of a test binary that [`child`] started.
const IN_CHILD: &str = "RESTARTABLE_TEST_IN_CHILD";

/// Whether this process is a copy of a test binary started by [`child`]:
/// the test runs its body there, with the variables `child` gave it.
#[must_use]
pub fn in_child() -> bool {
    std::env::var_os(IN_CHILD).is_some()
}

/// For a test that must run alone in its process (no other test's threads
/// or forked children beside it): `true` in the copy of this binary that
/// runs it; elsewhere it runs that copy, fails with it, and gives `false`.
///
/// # Panics
///
/// As [`child`].
#[must_use]
pub fn alone(name: &str) -> bool {
    if in_child() {
        return true;
    }
    let _ = child(name, &[]);
    false
}

/// This test binary again, to run the test `name` alone with `vars` in its
/// environment: variables go to a process through `Command::env`, never
/// `set_var` in a multi-threaded test binary. The test's body runs where
/// [`in_child`] is true.
///
/// # Panics
///
/// When the copy cannot be started, or its test fails (its output is in
/// the message).
#[must_use]
pub fn child(name: &str, vars: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(IN_CHILD, "1")
        .envs(vars.iter().copied())
        .output()
        .expect("a copy of the test binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the copy running {name} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the copy ran no test named {name}:\n{stdout}"
    );
    stdout
}
