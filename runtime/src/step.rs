//! The steps of making a listener, as its errors name them.

use std::fmt;

/// The step of making a listener that failed. Each says its whole
/// sentence, the address in it, so that a message can be searched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    CreateSocket,
    #[cfg(unix)]
    SetReuseAddress,
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    SetReusePort,
    #[cfg(target_os = "freebsd")]
    SetReusePortLb,
    #[cfg(windows)]
    SetExclusiveAddressUse,
    SetOnlyV6,
    MakeNonblocking,
    Configure,
    #[cfg(unix)]
    SetMode,
    Bind,
    Listen,
    #[cfg(unix)]
    RemoveStaleFile,
    #[cfg(unix)]
    Probe,
    #[cfg(unix)]
    LookAtWhatHolds,
    #[cfg(unix)]
    FindOutWhetherBound,
}

impl Step {
    /// The sentence for a failure of this step on `place` (an address, as
    /// its `Display` writes it).
    pub(crate) fn write(self, f: &mut fmt::Formatter<'_>, place: &dyn fmt::Display) -> fmt::Result {
        match self {
            Step::CreateSocket => write!(f, "cannot create a socket for {place}"),
            #[cfg(unix)]
            Step::SetReuseAddress => write!(f, "cannot set SO_REUSEADDR on the socket for {place}"),
            #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
            Step::SetReusePort => write!(f, "cannot set SO_REUSEPORT on the socket for {place}"),
            #[cfg(target_os = "freebsd")]
            Step::SetReusePortLb => {
                write!(f, "cannot set SO_REUSEPORT_LB on the socket for {place}")
            }
            #[cfg(windows)]
            Step::SetExclusiveAddressUse => {
                write!(
                    f,
                    "cannot set SO_EXCLUSIVEADDRUSE on the socket for {place}"
                )
            }
            Step::SetOnlyV6 => write!(f, "cannot set IPV6_V6ONLY on the socket for {place}"),
            Step::MakeNonblocking => write!(f, "cannot make the socket for {place} nonblocking"),
            Step::Configure => write!(f, "cannot configure the socket for {place}"),
            #[cfg(unix)]
            Step::SetMode => write!(f, "cannot set the mode of {place}"),
            Step::Bind => write!(f, "cannot bind {place}"),
            Step::Listen => write!(f, "cannot listen on {place}"),
            #[cfg(unix)]
            Step::RemoveStaleFile => write!(f, "cannot remove the stale socket file {place}"),
            #[cfg(unix)]
            Step::Probe => write!(f, "cannot make a socket to probe {place}"),
            #[cfg(unix)]
            Step::LookAtWhatHolds => write!(f, "cannot look at what holds {place}"),
            #[cfg(unix)]
            Step::FindOutWhetherBound => {
                write!(f, "cannot find out whether a socket is bound to {place}")
            }
        }
    }
}
