//! Checks the options against each other and the function, and settles the
//! defaults: the result is everything code generation needs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use proc_macro2::Span;
use quote::quote;
use syn::{Expr, Ident, LitBool, LitStr, Type};

use super::args::{Args, Family, Key, Role, KEYS};
use super::errors::Errors;
use super::item::ListenerFn;
use super::values::{Inherit, Value};

pub(crate) enum Address {
    /// `host` (default `0.0.0.0`) with `port`, or with `port_env` alone.
    HostPort {
        host: Value<IpAddr>,
        port: Option<Value<u64>>,
    },
    /// `addr`: host and port together.
    Addr(Value<SocketAddr>),
    /// A Unix-domain socket: `path`, `abstract_name`, or `path_env` alone.
    Unix {
        addr: Option<UnixAddr>,
        path_env: Option<LitStr>,
        mode: Option<Value<u64>>,
    },
}

pub(crate) enum UnixAddr {
    Path(Value<LitStr>),
    Abstract(Value<LitStr>),
}

/// Whether the key makes a listener a Unix-domain one: `path`, `path_env`,
/// `abstract_name`.
fn is_unix_address(key: &Key) -> bool {
    matches!((&key.family, &key.role), (Family::Unix, Role::Address))
}

pub(crate) struct Config {
    pub(crate) address: Address,
    pub(crate) port_env: Option<LitStr>,
    pub(crate) addr_env: Option<LitStr>,
    /// `None`: the runtime's `DEFAULT_BACKLOG`, its one definition.
    pub(crate) backlog: Option<Value<u64>>,
    pub(crate) only_v6: Option<LitBool>,
    pub(crate) nonblocking: bool,
    /// The `reuse_port = true` key, kept so that the per-target error in
    /// the expansion points at it.
    pub(crate) reuse_port: Option<Ident>,
    pub(crate) exclusive: bool,
    /// `inherit`: `None` binds; `Flag` takes the next passed socket,
    /// `Named` the one of that name.
    pub(crate) inherit: Option<Inherit>,
    pub(crate) retry: Option<Duration>,
    pub(crate) configure: Option<Expr>,
    /// `crate = "..."`; `None`: `::restartable`.
    pub(crate) krate: Option<syn::Path>,
    pub(crate) socket_type: Type,
}

/// Checks `args` against each other and `function`; `None` when something
/// is wrong (and then `errors` says what).
pub(crate) fn check(mut args: Args, function: &ListenerFn, errors: &mut Errors) -> Option<Config> {
    let literal_ip = literal_ip(&args);
    let address = address(&mut args, errors);
    if let (Some(only_v6), Some(ip)) = (&args.only_v6, literal_ip) {
        if ip.is_ipv4() {
            let key = args.key("only_v6");
            errors.at(
                &quote!(#key = #only_v6),
                format!(
                    "`only_v6` applies to IPv6 addresses, and {ip} is IPv4: remove `only_v6`, \
                     or use an IPv6 host such as \"::\""
                ),
            );
        }
    }
    let reuse_port = matches!(&args.reuse_port, Some(flag) if flag.value);
    if let (Some(exclusive), true) = (&args.exclusive, reuse_port) {
        if !exclusive.value {
            let key = args.key("exclusive");
            errors.at(
                &quote!(#key = #exclusive),
                "`exclusive = false` has no effect with `reuse_port = true`: `exclusive` \
                 concerns Windows only, where `reuse_port` is refused; remove one of them",
            );
        }
    }
    let reuse_port = if reuse_port {
        args.key("reuse_port").cloned()
    } else {
        None
    };
    let inherit = match args.inherit {
        Some(Inherit::Flag(flag)) if !flag.value => None,
        inherit => inherit,
    };
    let config = Config {
        address: address?,
        reuse_port,
        port_env: args.port_env,
        addr_env: args.addr_env,
        backlog: args.backlog,
        only_v6: args.only_v6,
        nonblocking: matches!(&args.nonblocking, Some(flag) if flag.value),
        exclusive: !matches!(&args.exclusive, Some(flag) if !flag.value),
        inherit,
        retry: args.retry,
        configure: args.configure,
        krate: args.krate,
        socket_type: function.socket_type.clone()?,
    };
    errors.is_empty().then_some(config)
}

/// `path`, `path_env`, `abstract_name`: checked against the IP keys and
/// each other.
fn unix_address(args: &mut Args, unix_key: &str, errors: &mut Errors) -> Option<Address> {
    for given in &args.given {
        if !matches!(given.key.family, Family::Ip) || !given.valid {
            continue;
        }
        let name = given.key.name;
        let message = match given.key.role {
            Role::Address if name == "addr_env" => format!(
                "`addr_env` gives an IP address and port; a Unix-domain socket's path comes \
                 from `path_env` (`{unix_key}` is given)"
            ),
            Role::Address => format!(
                "`{name}` cannot be used with `{unix_key}`: a Unix-domain socket has a path, \
                 not a host or port; remove one of them"
            ),
            Role::Setting => format!(
                "`{name}` applies to IP sockets, not to a Unix-domain socket (`{unix_key}`)"
            ),
        };
        errors.at(&given.ident, message);
    }
    if let (Some(_), Some(key)) = (&args.path, args.key("abstract_name")) {
        errors.at(
            key,
            "`abstract_name` cannot be used with `path`: a socket has a file path or an \
             abstract name; give one",
        );
    }
    if let (None, Some(_), Some(key)) = (&args.path, &args.abstract_name, args.key("mode")) {
        errors.at(
            key,
            "`mode` sets the permission bits of a socket's file, and an abstract name has no \
             file; remove `mode`",
        );
    }
    if args
        .given
        .iter()
        .any(|given| is_unix_address(given.key) && !given.valid)
    {
        return None;
    }
    let addr = match (args.path.take(), args.abstract_name.take()) {
        (Some(path), _) => Some(UnixAddr::Path(path)),
        (None, Some(name)) => Some(UnixAddr::Abstract(name)),
        (None, None) => None,
    };
    Some(Address::Unix {
        addr,
        path_env: args.path_env.take(),
        mode: args.mode.take(),
    })
}

fn address(args: &mut Args, errors: &mut Errors) -> Option<Address> {
    for key in &KEYS {
        if is_unix_address(key) && args.has(key.name) {
            return unix_address(args, key.name, errors);
        }
    }
    // With a key unknown, `path` may be what was meant.
    if let (Some(key), false) = (args.key("mode"), args.unknown_key) {
        errors.at(
            key,
            "`mode` sets the permission bits of a Unix-domain socket's file: give \
             `path = \"/run/app/app.sock\"` too, or remove `mode`",
        );
    }
    if let (Some(addr_env), Some(port_env)) = (args.key("addr_env"), args.key("port_env")) {
        errors.at(
            port_env,
            format!(
                "`port_env` cannot be used with `{addr_env}`, whose variable gives host and port"
            ),
        );
    }
    if let Some(addr) = args.addr.take() {
        for name in &["host", "port"] {
            if let Some(key) = args.key(name) {
                errors.at(
                    key,
                    format!("`{key}` cannot be used with `addr`, which gives both host and port"),
                );
            }
        }
        return Some(Address::Addr(addr));
    }
    if args.has("addr") {
        return None;
    }
    let no_address = !args.has("port") && !args.has("port_env") && !args.has("addr_env");
    let inherits = match &args.inherit {
        Some(Inherit::Flag(flag)) => flag.value,
        Some(Inherit::Named(_)) => true,
        None => false,
    };
    if no_address && inherits && !args.has("host") {
        // Only the passed socket: nothing to bind when none is passed.
        return Some(Address::HostPort {
            host: Value::Literal(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port: None,
        });
    }
    if no_address {
        // With a key unknown, it may be the address that was meant.
        if !args.unknown_key {
            errors.push(syn::Error::new(
                Span::call_site(),
                "missing `port`: write `#[restartable_listener(port = 8080)]`, \
                 or give `addr = \"127.0.0.1:8080\"`, `port_env = \"PORT\"` or \
                 `addr_env = \"LISTEN_ADDR\"`; \
                 for a Unix-domain socket, `path = \"/run/app/app.sock\"`; \
                 for a socket passed by systemd alone, `inherit = \"name\"`",
            ));
        }
        return None;
    }
    Some(Address::HostPort {
        host: args
            .host
            .take()
            .unwrap_or(Value::Literal(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        port: args.port.take(),
    })
}

/// The IP address when a literal gives it, for checks that depend on it.
fn literal_ip(args: &Args) -> Option<IpAddr> {
    match (&args.host, &args.addr) {
        (_, Some(Value::Literal(addr))) => Some(addr.ip()),
        (Some(Value::Literal(ip)), None) => Some(*ip),
        _ => None,
    }
}
