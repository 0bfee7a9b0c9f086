//! Writes the function body: a `Spec` literal, one `let policy` per target
//! family under `#[cfg]`, and one call into the runtime.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;

use super::item::ListenerFn;
use super::messages::NO_DUAL_STACK;
use super::policy;
use super::template::{fill, fill_at};
use super::valid::{Address, Config, UnixAddr};
use super::values::{self, Inherit, Value};

/// The function as the user wrote it but with a body that type-checks,
/// emitted next to errors so that the rest of the crate still compiles
/// against it.
pub(crate) fn placeholder(function: &ListenerFn) -> TokenStream {
    // A `const fn` has been reported already; the placeholder's panic
    // would add a second, unrelated error.
    let mut sig = function.sig.clone();
    sig.constness = None;
    let body = fill(
        r##"::core::unimplemented!("#[restartable_listener] failed to expand")"##,
        &[],
    );
    let allow = fill("#[allow(unused_variables, clippy::unimplemented)]", &[]);
    with_body(function, Some(&allow), &sig, &body)
}

/// The function as written, with `body`.
fn with_body(
    function: &ListenerFn,
    extra_attr: Option<&TokenStream>,
    sig: &syn::Signature,
    body: &TokenStream,
) -> TokenStream {
    let mut attrs = TokenStream::new();
    for attr in &function.attrs {
        attr.to_tokens(&mut attrs);
    }
    fill(
        "$attrs $extra_attr $vis $sig { $body }",
        &[
            ("attrs", &attrs),
            ("extra_attr", &extra_attr),
            ("vis", &function.vis),
            ("sig", sig),
            ("body", body),
        ],
    )
}

/// The function with its body: a `Spec` (or `UnixSpec`) literal, the policy
/// per target, and one call into the runtime.
pub(crate) fn generate(function: &ListenerFn, config: &Config) -> TokenStream {
    let private = fill("$krate::__private", &[("krate", &krate(config))]);
    // Hygienic names: the user's parameters can be called anything.
    let spec = Ident::new("spec", Span::mixed_site());
    let body = if let Address::Unix {
        addr,
        path_env,
        mode,
    } = &config.address
    {
        let call = listen_call(
            function,
            config,
            &private,
            "listen_unix",
            &fill("&$spec", &[("spec", &spec)]),
        );
        unix_body(
            config,
            &private,
            &spec,
            &call,
            addr.as_ref(),
            path_env.as_ref(),
            mode.as_ref(),
        )
    } else {
        let policy = Ident::new("policy", Span::mixed_site());
        let call = listen_call(
            function,
            config,
            &private,
            "listen",
            &fill("&$spec, $policy", &[("spec", &spec), ("policy", &policy)]),
        );
        ip_body(config, &private, &spec, &policy, &call)
    };
    with_body(function, None, &function.sig, &body)
}

/// The path of the runtime crate.
fn krate(config: &Config) -> TokenStream {
    match &config.krate {
        Some(path) => path.to_token_stream(),
        None => fill("::restartable", &[]),
    }
}

/// `listen::<T>(args)` (`listen_async` and `.await` in an `async fn`,
/// which awaits the pauses of `retry` instead of blocking), as the
/// function's own `Result`.
fn listen_call(
    function: &ListenerFn,
    config: &Config,
    private: &TokenStream,
    listen: &str,
    args: &TokenStream,
) -> TokenStream {
    let asyncness = function.sig.asyncness.is_some();
    let listen = Ident::new(
        &if asyncness {
            format!("{listen}_async")
        } else {
            listen.to_owned()
        },
        Span::call_site(),
    );
    // The call carries the return type's span, so that an unsupported type
    // is reported on the type.
    let socket_type = &config.socket_type;
    let listen = fill_at(
        socket_type.span(),
        "$private::$listen::<$socket_type>",
        &[
            ("private", private),
            ("listen", &listen),
            ("socket_type", socket_type),
        ],
    );
    let call = fill(
        if asyncness {
            "$listen($args).await"
        } else {
            "$listen($args)"
        },
        &[("listen", &listen), ("args", args)],
    );
    into_result(&function.sig, private, &call)
}

fn ip_body(
    config: &Config,
    private: &TokenStream,
    spec: &Ident,
    policy: &Ident,
    call: &TokenStream,
) -> TokenStream {
    let addr = ip_address(config, private);
    let shared = Shared::new(config, private);
    fill(
        "
        $configure_binding
        let $spec = $private::Spec {
            addr: $addr,
            port_env: $port_env,
            addr_env: $addr_env,
            backlog: $backlog,
            only_v6: $only_v6,
            nonblocking: $nonblocking,
            configure: $configure,
            inherit: $inherit,
            retry: $retry,
        };
        $policies
        $no_dual_stack
        $call
        ",
        &[
            ("configure_binding", &shared.configure_binding),
            ("spec", spec),
            ("private", private),
            ("addr", &addr),
            ("port_env", &option(config.port_env.as_ref())),
            ("addr_env", &option(config.addr_env.as_ref())),
            ("backlog", &shared.backlog),
            ("only_v6", &option(config.only_v6.as_ref())),
            ("nonblocking", &config.nonblocking),
            ("configure", &shared.configure),
            ("inherit", &shared.inherit),
            ("retry", &shared.retry),
            ("policies", &policy::branches(config, private, policy)),
            ("no_dual_stack", &no_dual_stack(config)),
            ("call", call),
        ],
    )
}

const UNIX_ON_WINDOWS: &str = "Unix-domain listeners (`path`, `abstract_name`) are supported on \
     unix targets only: std has no Unix-domain socket types on Windows, and Windows's AF_UNIX \
     (Windows 10 1803 and later) has stream sockets only; use a port there, under \
     #[cfg(unix)] / #[cfg(windows)]";
const ABSTRACT_ELSEWHERE: &str = "`abstract_name` is supported on Linux and Android only: other \
     systems have no abstract namespace; use `path`";
const PATH_TOO_LONG_BSD: &str = "this `path` is too long for macOS, iOS and the BSDs, where a \
     Unix-domain socket's path is at most 103 bytes (sun_path holds 104 with the NUL)";

/// The body for `path`, `path_env` or `abstract_name`: a `UnixSpec`
/// literal and one call, under `#[cfg(unix)]`; other targets get an error
/// that says why.
fn unix_body(
    config: &Config,
    private: &TokenStream,
    spec: &Ident,
    call: &TokenStream,
    addr: Option<&UnixAddr>,
    path_env: Option<&syn::LitStr>,
    mode: Option<&Value<u64>>,
) -> TokenStream {
    let unix = unix_addr(private, addr);
    // In octal, as the attribute takes it.
    let mode = mode.map(|mode| match mode {
        Value::Literal(mode) => Literal::from_str(&format!("{mode:#o}"))
            .unwrap_or_else(|_| Literal::u64_unsuffixed(*mode))
            .into_token_stream(),
        Value::Expr(expr) => expr.into_token_stream(),
    });
    let shared = Shared::new(config, private);
    fill(
        "
        $target_checks
        #[cfg(unix)]
        let $result = {
            $given_binding
            $configure_binding
            let $spec = $private::UnixSpec {
                addr: $addr,
                path_env: $path_env,
                mode: $mode,
                backlog: $backlog,
                nonblocking: $nonblocking,
                configure: $configure,
                inherit: $inherit,
                retry: $retry,
            };
            $call
        };
        #[cfg(not(unix))]
        let $result = ::core::compile_error!($not_unix);
        $result
        ",
        &[
            ("target_checks", &unix.target_checks),
            ("result", &Ident::new("result", Span::mixed_site())),
            ("given_binding", &unix.given_binding),
            ("configure_binding", &shared.configure_binding),
            ("spec", spec),
            ("private", private),
            ("addr", &unix.addr),
            ("path_env", &option(path_env)),
            ("mode", &option(mode.as_ref())),
            ("backlog", &shared.backlog),
            ("nonblocking", &config.nonblocking),
            ("configure", &shared.configure),
            ("inherit", &shared.inherit),
            ("retry", &shared.retry),
            ("call", call),
            ("not_unix", &Literal::string(UNIX_ON_WINDOWS)),
        ],
    )
}

/// `Some(value)` or `None`, as the expression that builds it.
fn option<T: ToTokens>(value: Option<&T>) -> TokenStream {
    match value.map(|value| value as &dyn ToTokens) {
        Some(value) => fill("::core::option::Option::Some($value)", &[("value", value)]),
        None => fill("::core::option::Option::None", &[]),
    }
}

/// A Unix-domain address as the `UnixSpec` wants it.
struct UnixTokens {
    /// The `addr` field.
    addr: TokenStream,
    /// The per-target errors that a literal calls for.
    target_checks: TokenStream,
    /// The `let` of an expression, so that a temporary (`format!(..)`)
    /// lives to the end of the body.
    given_binding: Option<TokenStream>,
}

fn unix_addr(private: &TokenStream, addr: Option<&UnixAddr>) -> UnixTokens {
    let mut target_checks = TokenStream::new();
    let given = Ident::new("given", Span::mixed_site());
    let mut given_binding = None;
    // An expression gets its own `let`, and the conversion is spanned on
    // it, where a type that does not convert is reported.
    let mut given_expr = |expr: &syn::Expr, wrapper: &str| {
        given_binding = Some(fill_at(
            expr.span(),
            "let $given = &$expr;",
            &[("given", &given), ("expr", expr)],
        ));
        fill_at(
            expr.span(),
            &format!("$private::{wrapper}($given)"),
            &[("private", private), ("given", &given)],
        )
    };
    let addr = match addr {
        None => None,
        Some(UnixAddr::Path(path)) => {
            let path = match path {
                Value::Literal(path) => {
                    if path.value().len() > values::MAX_PATH_BSD {
                        target_checks.extend(fill_at(
                            path.span(),
                            r#"
                            #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
                            ::core::compile_error!($message);
                            "#,
                            &[("message", &Literal::string(PATH_TOO_LONG_BSD))],
                        ));
                    }
                    fill(
                        "$private::unix_path($path)",
                        &[("private", private), ("path", path)],
                    )
                }
                Value::Expr(expr) => given_expr(expr, "unix_path"),
            };
            Some(path)
        }
        Some(UnixAddr::Abstract(name)) => {
            let name = match name {
                Value::Literal(name) => {
                    target_checks.extend(fill_at(
                        name.span(),
                        r#"
                        #[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
                        ::core::compile_error!($message);
                        "#,
                        &[("message", &Literal::string(ABSTRACT_ELSEWHERE))],
                    ));
                    let bytes = syn::LitByteStr::new(name.value().as_bytes(), name.span());
                    fill(
                        "$private::abstract_name($name)",
                        &[("private", private), ("name", &bytes)],
                    )
                }
                Value::Expr(expr) => given_expr(expr, "abstract_name"),
            };
            Some(name)
        }
    };
    UnixTokens {
        addr: option(addr.as_ref()),
        target_checks,
        given_binding,
    }
}

/// The `addr` field of the `Spec` literal, and whether its port is a
/// fallback (`false` when `port_env` or `addr_env` alone gives the port).
/// The address stays whole from the attribute to `bind`: a `SocketAddr`
/// literal keeps its scope id and flow info, an expression is not split.
fn ip_address(config: &Config, private: &TokenStream) -> TokenStream {
    let whole = |addr: &TokenStream| {
        fill(
            "$private::Fallback::Addr($addr)",
            &[("private", private), ("addr", addr)],
        )
    };
    match &config.address {
        Address::HostPort { host, port } => {
            let host = match host {
                Value::Literal(ip) => ip_tokens(private, *ip),
                Value::Expr(expr) => fill_at(
                    expr.span(),
                    "$private::ip_addr($expr)",
                    &[("private", private), ("expr", expr)],
                ),
            };
            let port = match port {
                Some(Value::Literal(port)) => Literal::u64_unsuffixed(*port).into_token_stream(),
                Some(Value::Expr(expr)) => expr.into_token_stream(),
                // `port_env` (or `addr_env`) alone: a variable must give it.
                None => {
                    return fill(
                        "$private::Fallback::Host($host)",
                        &[("private", private), ("host", &host)],
                    )
                }
            };
            whole(&fill(
                "$private::SocketAddr::new($host, $port)",
                &[("private", private), ("host", &host), ("port", &port)],
            ))
        }
        Address::Addr(Value::Literal(socket_addr)) => {
            whole(&socket_addr_tokens(private, *socket_addr))
        }
        Address::Addr(Value::Expr(expr)) => whole(&fill_at(
            expr.span(),
            "$private::socket_addr($expr)",
            &[("private", private), ("expr", expr)],
        )),
        Address::Unix { .. } => unreachable!("Unix-domain listeners are generated above"),
    }
}

/// `call`'s `io::Result<T>` as the function's own `Result<T, E>`, for any
/// `E: From<io::Error>`; spanned on `E` (or the whole return type when it
/// is an alias such as `io::Result<T>`), where a type without that
/// conversion is reported.
fn into_result(sig: &syn::Signature, private: &TokenStream, call: &TokenStream) -> TokenStream {
    let span = match &sig.output {
        syn::ReturnType::Type(_, ty) => error_type(ty).map_or_else(|| ty.span(), Spanned::span),
        syn::ReturnType::Default => Span::call_site(),
    };
    // rustc reports an unmet bound on the whole path of the function called,
    // and `$private` starts at the attribute (or the `crate` literal, where
    // an unknown crate is reported): so the call is through a name of its
    // own, which carries `E`'s span.
    let convert = Ident::new("__restartable_into_result", span);
    let converted = fill_at(
        span,
        "$convert($call)",
        &[("convert", &convert), ("call", call)],
    );
    fill(
        "{
            use $private::into_result as $convert;
            $converted
        }",
        &[
            ("private", private),
            ("convert", &convert),
            ("converted", &converted),
        ],
    )
}

/// `E` of a return type written `Result<T, E>`.
fn error_type(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let syn::PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else {
        return None;
    };
    match args.args.iter().nth(1)? {
        syn::GenericArgument::Type(error) => Some(error),
        _ => None,
    }
}

/// The fields that the IP and the Unix-domain spec share, as tokens.
struct Shared {
    backlog: TokenStream,
    /// `configure` gets its own `let`, so that a closure lives to the end of
    /// the body without relying on temporary lifetime extension through
    /// `Some(..)` (Rust 1.79).
    configure_binding: Option<TokenStream>,
    configure: TokenStream,
    inherit: TokenStream,
    retry: TokenStream,
}

impl Shared {
    fn new(config: &Config, private: &TokenStream) -> Shared {
        let inherit = match &config.inherit {
            None => None,
            Some(Inherit::Flag(_)) => {
                Some(fill("$private::Inherit::Next", &[("private", private)]))
            }
            Some(Inherit::Named(name)) => Some(fill(
                "$private::Inherit::Named($name)",
                &[("private", private), ("name", name)],
            )),
        };
        // In the largest unit Rust 1.63 has that keeps it exact: "2s" reads
        // `from_secs(2)`, "500ms" `from_millis(500)`.
        let retry = config.retry.map(|retry| {
            let (source, amount) = if retry.subsec_nanos() == 0 {
                ("$private::Duration::from_secs($amount)", retry.as_secs())
            } else {
                let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
                ("$private::Duration::from_millis($amount)", millis)
            };
            let amount = Literal::u64_unsuffixed(amount);
            fill(source, &[("private", private), ("amount", &amount)])
        });
        // `None`: the runtime's default for a socket it binds, and a passed
        // socket's queue left as long as the supervisor made it.
        let backlog = match &config.backlog {
            Some(Value::Literal(backlog)) => {
                option(Some(&Literal::u64_unsuffixed(*backlog).into_token_stream()))
            }
            Some(Value::Expr(expr)) => option(Some(expr)),
            None => option::<TokenStream>(None),
        };
        // The annotated type lets a closure's parameter be inferred as
        // `&Socket` for any lifetime.
        let configure_fn = Ident::new("configure", Span::mixed_site());
        let configure_binding = config.configure.as_ref().map(|path| {
            fill_at(
                path.span(),
                "let $configure: $private::Configure<'_> = &$path;",
                &[
                    ("configure", &configure_fn),
                    ("private", private),
                    ("path", path),
                ],
            )
        });
        let configure = option(configure_binding.as_ref().map(|_| &configure_fn));
        Shared {
            backlog,
            configure_binding,
            configure,
            inherit: option(inherit.as_ref()),
            retry: option(retry.as_ref()),
        }
    }
}

/// `only_v6 = false` on OpenBSD and DragonFly BSD, which have no dual-stack
/// sockets: the target's own branch says so (the runtime says the same
/// when the value is not known at compile time).
fn no_dual_stack(config: &Config) -> Option<TokenStream> {
    let flag = config.only_v6.as_ref().filter(|flag| !flag.value)?;
    Some(fill_at(
        flag.span(),
        r#"
        #[cfg(any(target_os = "openbsd", target_os = "dragonfly"))]
        ::core::compile_error!($message);
        "#,
        &[("message", &Literal::string(NO_DUAL_STACK))],
    ))
}

/// A socket address as the expression that builds it; an IPv6 address
/// with a scope id or flow info keeps them.
fn socket_addr_tokens(private: &TokenStream, addr: SocketAddr) -> TokenStream {
    let port = addr.port();
    let source = match addr {
        SocketAddr::V6(v6) if v6.scope_id() != 0 || v6.flowinfo() != 0 => format!(
            "$private::SocketAddr::V6($private::SocketAddrV6::new({}, {port}, {}, {}))",
            ipv6_source(*v6.ip()),
            v6.flowinfo(),
            v6.scope_id()
        ),
        _ => format!(
            "$private::SocketAddr::new({}, {port})",
            ip_source(addr.ip())
        ),
    };
    fill(&source, &[("private", private)])
}

/// An IP address as the expression that builds it.
fn ip_tokens(private: &TokenStream, ip: IpAddr) -> TokenStream {
    fill(&ip_source(ip), &[("private", private)])
}

/// An IP address as source text, with the std constants where one fits so
/// that the expansion reads like the attribute.
fn ip_source(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let value = if v4.is_unspecified() {
                "$private::Ipv4Addr::UNSPECIFIED".to_owned()
            } else if v4 == std::net::Ipv4Addr::LOCALHOST {
                "$private::Ipv4Addr::LOCALHOST".to_owned()
            } else {
                let [a, b, c, d] = v4.octets();
                format!("$private::Ipv4Addr::new({a}, {b}, {c}, {d})")
            };
            format!("$private::IpAddr::V4({value})")
        }
        IpAddr::V6(v6) => format!("$private::IpAddr::V6({})", ipv6_source(v6)),
    }
}

fn ipv6_source(v6: Ipv6Addr) -> String {
    if v6.is_unspecified() {
        "$private::Ipv6Addr::UNSPECIFIED".to_owned()
    } else if v6.is_loopback() {
        "$private::Ipv6Addr::LOCALHOST".to_owned()
    } else {
        // In hex, as IPv6 addresses are written.
        let s = v6.segments();
        format!(
            "$private::Ipv6Addr::new({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})",
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        )
    }
}
