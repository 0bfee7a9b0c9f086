//! The signal that triggers an upgrade.

use std::fmt;
use std::io;

/// A signal that can trigger an upgrade: [`Signal::HUP`] by default, or any
/// other that a handler may catch.
///
/// ```
/// use restartable::upgrade::{Signal, Upgrade};
///
/// let upgrade = Upgrade::new().signal(Some(Signal::USR2));
/// # drop(upgrade);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(libc::c_int);

impl Signal {
    /// SIGHUP: what `systemctl reload`'s `kill -HUP $MAINPID`, `docker kill
    /// -s HUP` and most service managers send for a reload.
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// SIGUSR1.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// SIGUSR2 (nginx's signal for a binary upgrade).
    pub const USR2: Signal = Signal(libc::SIGUSR2);

    /// The signal numbered `raw` on this system.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a number that is no signal, for SIGKILL and
    /// SIGSTOP (they cannot be caught), and for SIGILL, SIGFPE and SIGSEGV
    /// (a handler that returns from them is undefined behaviour; the signal
    /// registry refuses them).
    pub fn from_raw(raw: libc::c_int) -> io::Result<Signal> {
        let forbidden = [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGSEGV,
        ];
        if raw <= 0 || forbidden.contains(&raw) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "signal {raw} cannot trigger upgrades: it is no signal, or one that cannot \
                     be caught (SIGKILL, SIGSTOP) or must not be (SIGILL, SIGFPE, SIGSEGV)"
                ),
            ));
        }
        Ok(Signal(raw))
    }

    /// Its number on this system.
    #[must_use]
    pub fn as_raw(self) -> libc::c_int {
        self.0
    }

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGWINCH => "SIGWINCH",
            _ => return None,
        })
    }
}

/// `SIGHUP`, or `signal 34` for one without a common name.
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_that_cannot_be_caught_are_refused() {
        for raw in [0, -1, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let error = Signal::from_raw(raw).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{raw}");
        }
        assert_eq!(Signal::from_raw(libc::SIGHUP).unwrap(), Signal::HUP);
        assert_eq!(Signal::HUP.to_string(), "SIGHUP");
    }
}
