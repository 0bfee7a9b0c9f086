//! The IP listener: its plan (create, apply the OS policy, set the
//! requested options, bind, listen), and the entry points the attribute's
//! expansion and the builder call.

use std::io;
use std::time::Duration;

use socket2::{Domain, Socket};

use crate::convert::{Bindable, SocketKind};
use crate::error::Failure;
use crate::listener::attempts::{run, Handoff, Listening, Plan};
#[cfg(unix)]
use crate::spec::check_backlog;
use crate::spec::{Inherit, Spec};
use crate::step::Step;
use crate::sys::{self, Policy};

/// The socket `spec` describes: a passed one when `inherit` asks for it and
/// one was passed; else created with `policy`, bound (retried while the
/// address is in use, when `retry` asks for it) and, for a stream socket,
/// listening. Every error keeps its kind and names the address.
#[doc(hidden)]
pub fn listen<T: Bindable>(spec: &Spec<'_>, policy: Policy) -> io::Result<T> {
    run(IpPlan { spec, policy }, T::KIND, T::check_context).and_then(T::from_socket)
}

/// [`listen`] for an `async fn`: the same, except that the pauses between
/// attempts let the executor run other tasks. Independent of the async
/// runtime: the pauses are awaited on one helper thread of the process.
#[doc(hidden)]
pub fn listen_async<'s, 'a, T: Bindable>(
    spec: &'s Spec<'a>,
    policy: Policy,
) -> Listening<IpPlan<'s, 'a>, T> {
    Listening::new(
        IpPlan { spec, policy },
        T::KIND,
        T::check_context,
        T::from_socket,
    )
}

/// An IP listener: the spec and the OS policy. (`pub` in a private module,
/// for the future type of `listen_async`.)
#[doc(hidden)]
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)]
pub struct IpPlan<'s, 'a> {
    spec: &'s Spec<'a>,
    policy: Policy,
}

impl Plan for IpPlan<'_, '_> {
    fn retry(&self) -> Option<Duration> {
        self.spec.retry
    }

    #[cfg(unix)]
    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff> {
        let spec = self.spec;
        match spec.inherit {
            Some(inherit) => {
                // The options are checked whatever is taken.
                check_backlog(spec.backlog, &"a passed socket")?;
                // A named socket is taken wherever it is bound: an address
                // that cannot be read yet fails only if the function binds.
                let addr = match inherit {
                    _ if !spec.has_address() => None,
                    Inherit::Named(_) => spec.address().ok(),
                    Inherit::Next => Some(spec.checked_address()?),
                };
                let wanted = crate::handoff::Wanted {
                    kind,
                    place: crate::handoff::WantedPlace::Ip {
                        addr,
                        only_v6: spec.only_v6,
                        shares_port: self.policy.shares_port(),
                    },
                    backlog: spec.backlog,
                    binds: spec.has_address(),
                    nonblocking: spec.nonblocking,
                    finish: None,
                };
                crate::handoff::take(inherit, &wanted).map(Handoff::from)
            }
            None => Ok(Handoff::NotTaken(None)),
        }
    }

    /// A socket a supervisor passed with `WSADuplicateSocketW`
    /// (`crate::pass`).
    #[cfg(windows)]
    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff> {
        let spec = self.spec;
        let Some(inherit) = spec.inherit else {
            return Ok(Handoff::NotTaken(None));
        };
        let addr = match inherit {
            _ if !spec.has_address() => None,
            Inherit::Named(_) => spec.address().ok(),
            Inherit::Next => Some(spec.checked_address()?),
        };
        let wanted = crate::pass::WantedSocket {
            kind,
            addr,
            binds: spec.has_address(),
            nonblocking: spec.nonblocking,
        };
        Ok(match crate::pass::take(inherit, &wanted)? {
            Ok((socket, name)) => Handoff::Taken(socket, name),
            Err(note) => Handoff::NotTaken(note),
        })
    }

    fn inherit(&self) -> Option<Inherit<'_>> {
        self.spec.inherit
    }

    /// One attempt: create, set the policy and the options, bind, listen.
    fn bind(&self, kind: SocketKind) -> io::Result<Socket> {
        let spec = self.spec;
        let addr = spec.checked_address()?;
        let fail = |step: Step, error: io::Error| Failure::wrap(step, addr, error);
        let socket = Socket::new(Domain::for_address(addr), kind.socket_type(), None)
            .map_err(|e| fail(Step::CreateSocket, e))?;
        sys::apply_listener_policy(&socket, kind, self.policy)
            .map_err(|(step, e)| fail(step, e))?;
        if addr.is_ipv6() {
            sys::set_only_v6(&socket, spec.only_v6).map_err(|e| fail(Step::SetOnlyV6, e))?;
        }
        if spec.nonblocking {
            socket
                .set_nonblocking(true)
                .map_err(|e| fail(Step::MakeNonblocking, e))?;
        }
        if let Some(configure) = spec.configure {
            configure(&socket).map_err(|e| fail(Step::Configure, e))?;
        }
        socket.bind(&addr.into()).map_err(|error| {
            let error_kind = sys::bind_error_kind(&socket, addr, self.policy, &error);
            // Whether the socket was dual stack decides which sockets can
            // hold the port (read back: `configure` may have changed it).
            let only_v6 = (addr.is_ipv6() && error_kind == io::ErrorKind::AddrInUse)
                .then(|| socket.only_v6().ok())
                .flatten();
            Failure::wrap_ip_bind(addr, kind, error_kind, only_v6, error)
        })?;
        if kind == SocketKind::Stream {
            socket
                .listen(spec.backlog())
                .map_err(|e| fail(Step::Listen, e))?;
        }
        Ok(socket)
    }
}
