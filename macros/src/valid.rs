//! Checks the options against each other and the function, and settles the
//! defaults: the result is everything code generation needs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proc_macro2::Span;
use quote::quote;
use syn::{Expr, Ident, LitBool, LitStr, Type};

use std::time::Duration;

use crate::args::{Arg, Args, Inherit, Value};
use crate::errors::Errors;
use crate::item::ListenerFn;

pub(crate) enum Address {
    /// `host` (default `0.0.0.0`) with `port`, or with `port_env` alone.
    HostPort {
        host: Value<IpAddr>,
        port: Option<Value<u16>>,
    },
    /// `addr`: host and port together.
    Addr(Value<SocketAddr>),
    /// A Unix-domain socket: `path`, `abstract_name`, or `path_env` alone.
    Unix {
        addr: Option<UnixAddr>,
        path_env: Option<LitStr>,
        mode: Option<Value<u32>>,
    },
}

pub(crate) enum UnixAddr {
    Path(Value<LitStr>),
    Abstract(Value<LitStr>),
}

/// The keys that make a listener a Unix-domain one.
const UNIX_KEYS: [&str; 3] = ["path", "path_env", "abstract_name"];
/// The keys that only an IP listener takes.
const IP_KEYS: [&str; 8] = [
    "host",
    "port",
    "addr",
    "port_env",
    "addr_env",
    "only_v6",
    "reuse_port",
    "exclusive",
];

pub(crate) struct Config {
    pub(crate) address: Address,
    pub(crate) port_env: Option<LitStr>,
    pub(crate) addr_env: Option<LitStr>,
    /// `None`: the runtime's `DEFAULT_BACKLOG`, its one definition.
    pub(crate) backlog: Option<Value<i32>>,
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
    pub(crate) krate: syn::Path,
    pub(crate) socket_type: Type,
}

fn flag(arg: Option<&Arg<LitBool>>, default: bool) -> bool {
    arg.map_or(default, |arg| arg.value.value)
}

/// Checks `args` against each other and `function`; `None` when something
/// is wrong (and then `errors` says what).
pub(crate) fn check(args: Args, function: &ListenerFn, errors: &mut Errors) -> Option<Config> {
    let address = address(&args, errors);
    if let (Some(only_v6), Some(ip)) = (&args.only_v6, literal_ip(&args)) {
        if ip.is_ipv4() {
            let key = &only_v6.key;
            let value = &only_v6.value;
            errors.at(
                quote!(#key = #value),
                format!(
                    "`only_v6` applies to IPv6 addresses, and {ip} is IPv4: remove `only_v6`, \
                     or use an IPv6 host such as \"::\""
                ),
            );
        }
    }
    if let (Some(exclusive), Some(reuse_port)) = (&args.exclusive, &args.reuse_port) {
        if !exclusive.value.value && reuse_port.value.value {
            let key = &exclusive.key;
            let value = &exclusive.value;
            errors.at(
                quote!(#key = #value),
                "`exclusive = false` has no effect with `reuse_port = true`: `exclusive` \
                 concerns Windows only, where `reuse_port` is refused; remove one of them",
            );
        }
    }
    let config = Config {
        address: address?,
        port_env: args.port_env.map(|arg| arg.value),
        addr_env: args.addr_env.map(|arg| arg.value),
        backlog: args.backlog.map(|arg| arg.value),
        only_v6: args.only_v6.map(|arg| arg.value),
        nonblocking: flag(args.nonblocking.as_ref(), false),
        reuse_port: args
            .reuse_port
            .filter(|arg| arg.value.value)
            .map(|arg| arg.key),
        exclusive: flag(args.exclusive.as_ref(), true),
        inherit: args.inherit.and_then(|arg| match arg.value {
            Inherit::Flag(flag) if !flag.value => None,
            inherit => Some(inherit),
        }),
        retry: args.retry.map(|arg| arg.value),
        configure: args.configure.map(|arg| arg.value),
        krate: args
            .krate
            .map_or_else(|| syn::parse_quote!(::restartable), |arg| arg.value),
        socket_type: function.socket_type.clone()?,
    };
    errors.is_empty().then_some(config)
}

/// The key of an option, when it was written with a valid value.
fn key_of<'a>(args: &'a Args, name: &str) -> Option<&'a Ident> {
    match name {
        "host" => args.host.as_ref().map(|a| &a.key),
        "port" => args.port.as_ref().map(|a| &a.key),
        "addr" => args.addr.as_ref().map(|a| &a.key),
        "port_env" => args.port_env.as_ref().map(|a| &a.key),
        "addr_env" => args.addr_env.as_ref().map(|a| &a.key),
        "only_v6" => args.only_v6.as_ref().map(|a| &a.key),
        "reuse_port" => args.reuse_port.as_ref().map(|a| &a.key),
        "exclusive" => args.exclusive.as_ref().map(|a| &a.key),
        "path" => args.path.as_ref().map(|a| &a.key),
        "path_env" => args.path_env.as_ref().map(|a| &a.key),
        "abstract_name" => args.abstract_name.as_ref().map(|a| &a.key),
        "mode" => args.mode.as_ref().map(|a| &a.key),
        _ => None,
    }
}

/// `path`, `path_env`, `abstract_name`: checked against the IP keys and
/// each other.
fn unix_address(args: &Args, unix_key: &str, errors: &mut Errors) -> Option<Address> {
    for name in IP_KEYS {
        let Some(key) = key_of(args, name) else {
            continue;
        };
        let message = if name == "addr_env" {
            format!(
                "`addr_env` gives an IP address and port; a Unix-domain socket's path comes \
                 from `path_env` (`{unix_key}` is given)"
            )
        } else if matches!(name, "host" | "port" | "addr" | "port_env") {
            format!(
                "`{name}` cannot be used with `{unix_key}`: a Unix-domain socket has a path, \
                 not a host or port; remove one of them"
            )
        } else {
            format!("`{name}` applies to IP sockets, not to a Unix-domain socket (`{unix_key}`)")
        };
        errors.at(key, message);
    }
    if let (Some(_), Some(name)) = (&args.path, &args.abstract_name) {
        errors.at(
            &name.key,
            "`abstract_name` cannot be used with `path`: a socket has a file path or an \
             abstract name; give one",
        );
    }
    if let (None, Some(_), Some(mode)) = (&args.path, &args.abstract_name, &args.mode) {
        errors.at(
            &mode.key,
            "`mode` sets the permission bits of a socket's file, and an abstract name has no \
             file; remove `mode`",
        );
    }
    if UNIX_KEYS
        .iter()
        .any(|name| args.has(name) && key_of(args, name).is_none())
    {
        return None;
    }
    let addr = match (&args.path, &args.abstract_name) {
        (Some(path), _) => Some(UnixAddr::Path(path.value.clone())),
        (None, Some(name)) => Some(UnixAddr::Abstract(name.value.clone())),
        (None, None) => None,
    };
    Some(Address::Unix {
        addr,
        path_env: args.path_env.as_ref().map(|arg| arg.value.clone()),
        mode: args.mode.as_ref().map(|arg| arg.value.clone()),
    })
}

fn address(args: &Args, errors: &mut Errors) -> Option<Address> {
    if let Some(unix_key) = UNIX_KEYS.into_iter().find(|name| args.has(name)) {
        return unix_address(args, unix_key, errors);
    }
    if let Some(mode) = &args.mode {
        errors.at(
            &mode.key,
            "`mode` sets the permission bits of a Unix-domain socket's file: give \
             `path = \"/run/app/app.sock\"` too, or remove `mode`",
        );
    }
    if let (Some(addr_env), Some(port_env)) = (&args.addr_env, &args.port_env) {
        errors.at(
            &port_env.key,
            format!(
                "`port_env` cannot be used with `{}`, whose variable gives host and port",
                addr_env.key
            ),
        );
    }
    if let Some(addr) = &args.addr {
        for other in [
            args.host.as_ref().map(|a| &a.key),
            args.port.as_ref().map(|a| &a.key),
        ]
        .into_iter()
        .flatten()
        {
            errors.at(
                other,
                format!("`{other}` cannot be used with `addr`, which gives both host and port"),
            );
        }
        return Some(Address::Addr(addr.value.clone()));
    }
    if args.has("addr") {
        return None;
    }
    if !args.has("port") && !args.has("port_env") && !args.has("addr_env") {
        errors.push(syn::Error::new(
            Span::call_site(),
            "missing `port`: write `#[restartable_listener(port = 8080)]`, \
             or give `addr = \"127.0.0.1:8080\"`, `port_env = \"PORT\"` or \
             `addr_env = \"LISTEN_ADDR\"`; \
             for a Unix-domain socket, `path = \"/run/app/app.sock\"`",
        ));
        return None;
    }
    Some(Address::HostPort {
        host: args
            .host
            .as_ref()
            .map_or(Value::Literal(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |arg| {
                arg.value.clone()
            }),
        port: args.port.as_ref().map(|arg| arg.value.clone()),
    })
}

/// The IP address when a literal gives it, for checks that depend on it.
fn literal_ip(args: &Args) -> Option<IpAddr> {
    match (&args.host, &args.addr) {
        (
            _,
            Some(Arg {
                value: Value::Literal(addr),
                ..
            }),
        ) => Some(addr.ip()),
        (
            Some(Arg {
                value: Value::Literal(ip),
                ..
            }),
            None,
        ) => Some(*ip),
        _ => None,
    }
}
