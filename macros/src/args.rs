//! Parses `key = value, ...` into typed options, each kept with the syntax it
//! came from so that later checks can point at it. [`KEYS`] is the one list
//! of the keys: what each is for, the error when its value is missing, and
//! its parser (in `values`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitBool, LitStr, Token};

use super::errors::Errors;
use super::suggest;
use super::values::{self, Inherit, Value};

/// Which listeners a key applies to.
pub(crate) enum Family {
    /// TCP and UDP sockets.
    Ip,
    /// Unix-domain sockets.
    Unix,
    Both,
}

/// What a key gives: where to listen, or how.
pub(crate) enum Role {
    Address,
    Setting,
}

/// One key of the attribute.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) family: Family,
    pub(crate) role: Role,
    /// The error for the key written without a value (`port =`): what a
    /// value looks like.
    pub(crate) missing_value: &'static str,
    /// Parses the value into its field of `Args`, reporting what is wrong.
    parse: fn(Expr, &mut Args, &mut Errors),
}

/// Every key, in the order the error for an unknown key lists them: the
/// addresses first, IP then Unix-domain, then the settings.
pub(crate) const KEYS: [Key; 18] = [
    Key {
        name: "port",
        family: Family::Ip,
        role: Role::Address,
        missing_value: "expected `port = 8080` (a number, a constant or a parameter)",
        parse: set::port,
    },
    Key {
        name: "port_env",
        family: Family::Ip,
        role: Role::Address,
        missing_value: "expected `port_env = \"PORT\"`, the name of an environment variable",
        parse: set::port_env,
    },
    Key {
        name: "host",
        family: Family::Ip,
        role: Role::Address,
        missing_value: "expected `host = \"127.0.0.1\"` (an IP address) or an `IpAddr` expression",
        parse: set::host,
    },
    Key {
        name: "addr",
        family: Family::Ip,
        role: Role::Address,
        missing_value: "expected `addr = \"127.0.0.1:8080\"` or a `SocketAddr` expression",
        parse: set::addr,
    },
    Key {
        name: "addr_env",
        family: Family::Ip,
        role: Role::Address,
        missing_value: "expected `addr_env = \"LISTEN_ADDR\"`, the name of an environment variable",
        parse: set::addr_env,
    },
    Key {
        name: "path",
        family: Family::Unix,
        role: Role::Address,
        missing_value: "expected a socket path such as `path = \"/run/app/app.sock\"`",
        parse: set::path,
    },
    Key {
        name: "path_env",
        family: Family::Unix,
        role: Role::Address,
        missing_value: "expected `path_env = \"APP_SOCKET\"`, the name of an environment variable",
        parse: set::path_env,
    },
    Key {
        name: "abstract_name",
        family: Family::Unix,
        role: Role::Address,
        missing_value: "expected a name such as `abstract_name = \"app\"`",
        parse: set::abstract_name,
    },
    Key {
        name: "mode",
        family: Family::Unix,
        role: Role::Setting,
        missing_value: "expected permission bits such as `mode = 0o660`",
        parse: set::mode,
    },
    Key {
        name: "backlog",
        family: Family::Both,
        role: Role::Setting,
        missing_value: "expected `backlog = 1024` (1 to 2147483647)",
        parse: set::backlog,
    },
    Key {
        name: "only_v6",
        family: Family::Ip,
        role: Role::Setting,
        missing_value: "expected `only_v6 = true` or `only_v6 = false`",
        parse: set::only_v6,
    },
    Key {
        name: "nonblocking",
        family: Family::Both,
        role: Role::Setting,
        missing_value: "expected `nonblocking = true` or `nonblocking = false`",
        parse: set::nonblocking,
    },
    Key {
        name: "reuse_port",
        family: Family::Ip,
        role: Role::Setting,
        missing_value: "expected `reuse_port = true` or `reuse_port = false`",
        parse: set::reuse_port,
    },
    Key {
        name: "exclusive",
        family: Family::Ip,
        role: Role::Setting,
        missing_value: "expected `exclusive = true` or `exclusive = false`",
        parse: set::exclusive,
    },
    Key {
        name: "inherit",
        family: Family::Both,
        role: Role::Setting,
        missing_value: "expected `inherit = true` or `inherit = \"name\"`",
        parse: set::inherit,
    },
    Key {
        name: "retry",
        family: Family::Both,
        role: Role::Setting,
        missing_value: "expected a duration such as `retry = \"2s\"`",
        parse: set::retry,
    },
    Key {
        name: "configure",
        family: Family::Both,
        role: Role::Setting,
        missing_value: "expected `configure = path::to::function`",
        parse: set::configure,
    },
    Key {
        name: "crate",
        family: Family::Both,
        role: Role::Setting,
        missing_value: "expected `crate = \"path::to::restartable\"`",
        parse: set::krate,
    },
];

/// Each key's parser, named after it: the value into its field of `Args`.
/// Functions rather than closures in the table, which would each need a
/// shim to become a `fn` pointer. One signature for all, so some take the
/// value without consuming it.
#[allow(clippy::needless_pass_by_value)]
mod set {
    use super::{values, Args, Errors, Expr};

    pub(super) fn port(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.port = values::integer(value, &values::PORT, errors);
    }

    pub(super) fn port_env(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.port_env = values::env_name(&value, "port_env", "PORT", errors);
    }

    pub(super) fn host(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.host = values::host(value, errors);
    }

    pub(super) fn addr(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.addr = values::addr(value, errors);
    }

    pub(super) fn addr_env(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.addr_env = values::env_name(&value, "addr_env", "LISTEN_ADDR", errors);
    }

    pub(super) fn path(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.path = values::path(value, errors);
    }

    pub(super) fn path_env(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.path_env = values::env_name(&value, "path_env", "APP_SOCKET", errors);
    }

    pub(super) fn abstract_name(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.abstract_name = values::abstract_name(value, errors);
    }

    pub(super) fn mode(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.mode = values::integer(value, &values::MODE, errors);
    }

    pub(super) fn backlog(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.backlog = values::integer(value, &values::BACKLOG, errors);
    }

    pub(super) fn only_v6(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.only_v6 = values::flag(&value, errors);
    }

    pub(super) fn nonblocking(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.nonblocking = values::flag(&value, errors);
    }

    pub(super) fn reuse_port(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.reuse_port = values::flag(&value, errors);
    }

    pub(super) fn exclusive(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.exclusive = values::flag(&value, errors);
    }

    pub(super) fn inherit(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.inherit = values::inherit(&value, errors);
    }

    pub(super) fn retry(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.retry = values::retry(&value, errors);
    }

    pub(super) fn configure(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.configure = values::configure(value, errors);
    }

    pub(super) fn krate(value: Expr, args: &mut Args, errors: &mut Errors) {
        args.krate = values::krate(&value, errors);
    }
}

/// A known key as written, and whether its value was valid.
pub(crate) struct Given {
    pub(crate) key: &'static Key,
    /// The key's name as written, to point at.
    pub(crate) ident: Ident,
    pub(crate) valid: bool,
}

/// The options' values; the keys are kept apart, for errors that point at
/// an option as a whole.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) port: Option<Value<u64>>,
    pub(crate) port_env: Option<LitStr>,
    pub(crate) host: Option<Value<IpAddr>>,
    pub(crate) addr: Option<Value<SocketAddr>>,
    pub(crate) path: Option<Value<LitStr>>,
    pub(crate) path_env: Option<LitStr>,
    pub(crate) addr_env: Option<LitStr>,
    pub(crate) abstract_name: Option<Value<LitStr>>,
    pub(crate) mode: Option<Value<u64>>,
    pub(crate) backlog: Option<Value<u64>>,
    pub(crate) only_v6: Option<LitBool>,
    pub(crate) nonblocking: Option<LitBool>,
    pub(crate) reuse_port: Option<LitBool>,
    pub(crate) exclusive: Option<LitBool>,
    pub(crate) inherit: Option<Inherit>,
    pub(crate) retry: Option<Duration>,
    pub(crate) configure: Option<Expr>,
    pub(crate) krate: Option<syn::Path>,
    /// Every known key written, in the order written, valid value or not.
    pub(crate) given: Vec<Given>,
    /// Whether a key was not known. Then what was meant is not known either,
    /// and no check may rely on a key being absent.
    pub(crate) unknown_key: bool,
}

impl Args {
    /// Whether the key was written, even with a value that was rejected.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.given(name).is_some()
    }

    /// The key as written, when its value is valid.
    pub(crate) fn key(&self, name: &str) -> Option<&Ident> {
        match self.given(name) {
            Some(given) if given.valid => Some(&given.ident),
            _ => None,
        }
    }

    fn given(&self, name: &str) -> Option<&Given> {
        self.given.iter().find(|given| given.key.name == name)
    }
}

struct RawArg {
    key: Ident,
    /// The `=`, when written: an error about a missing value covers it too.
    eq: Option<Token![=]>,
    value: Option<Expr>,
}

fn parse_raw(input: ParseStream) -> syn::Result<RawArg> {
    // `parse_any` so that the keyword `crate` is a key like the others.
    let key = input.call(Ident::parse_any)?;
    let mut eq = None;
    let mut value = None;
    if input.peek(Token![=]) {
        eq = Some(input.parse::<Token![=]>()?);
        // `port =` with nothing after it: reported on `port =` below,
        // not as the parser's "unexpected end of input" on the attribute.
        if !input.is_empty() && !input.peek(Token![,]) {
            value = Some(input.parse()?);
        }
    }
    Ok(RawArg { key, eq, value })
}

/// Parses the attribute's arguments; every mistake is collected in
/// `errors`. `None` after a syntax error: nothing after it can be trusted, so
/// no further checks are made.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Option<Args> {
    let mut args = Args::default();
    let parser = |input: ParseStream| {
        let mut raw = Vec::new();
        while !input.is_empty() {
            raw.push(parse_raw(input)?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(raw)
    };
    let mut raw = match parser.parse2(tokens) {
        Ok(raw) => raw,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    // By index: an unknown key's error looks at all the keys written.
    for at in 0..raw.len() {
        let value = raw[at].value.take();
        let RawArg { key: ident, eq, .. } = &raw[at];
        let name = ident.unraw().to_string();
        if args.has(&name) {
            errors.at(ident, format!("duplicate argument `{name}`"));
            continue;
        }
        let Some(key) = KEYS.iter().find(|key| key.name == name) else {
            errors.at(ident, unknown_key(&name, &raw));
            args.unknown_key = true;
            continue;
        };
        let Some(value) = value else {
            errors.at(&quote::quote!(#ident #eq), key.missing_value);
            args.given.push(Given {
                key,
                ident: ident.clone(),
                valid: false,
            });
            continue;
        };
        let ident = ident.clone();
        let errors_before = errors.len();
        (key.parse)(value, &mut args, errors);
        args.given.push(Given {
            key,
            ident,
            valid: errors.len() == errors_before,
        });
    }
    Some(args)
}

/// The error for `name`, which is no key: the key it nearly is, else the
/// list of keys. A key that is written as well is not what was meant.
fn unknown_key(name: &str, written: &[RawArg]) -> String {
    let mut nearest: Option<(usize, &str)> = None;
    for key in &KEYS {
        if let Some(distance) = suggest::distance_of_near_miss(name, key.name) {
            let nearer = match nearest {
                Some((best, _)) => distance < best,
                None => true,
            };
            if nearer {
                nearest = Some((distance, key.name));
            }
        }
    }
    match nearest {
        Some((_, near)) if !written.iter().any(|arg| arg.key.unraw() == near) => {
            format!("unknown argument `{name}`; did you mean `{near}`?")
        }
        _ => {
            let mut keys = String::new();
            for (i, key) in KEYS.iter().enumerate() {
                keys.push_str(if i == 0 { "`" } else { ", `" });
                keys.push_str(key.name);
                keys.push('`');
            }
            format!("unknown argument `{name}`; expected one of {keys}")
        }
    }
}
