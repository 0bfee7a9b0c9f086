//! Writes the function body: a `Spec` literal, one `let policy` per target
//! family under `#[cfg]`, and one call into the runtime.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::args::{self, Inherit, Value};
use crate::errors::Errors;
use crate::item::{self, ListenerFn};
use crate::valid::{self, Address, Config, UnixAddr};

/// The attribute: arguments and item in, the function (and any errors) out.
pub(crate) fn restartable_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = args::parse(args, &mut errors);
    let function = match item::parse(item, &mut errors) {
        Ok(function) => function,
        Err(item) => {
            let errors = errors.into_compile_errors();
            return quote!(#item #errors);
        }
    };
    let config = args.and_then(|args| valid::check(args, &function, &mut errors));
    if let Some(config) = config {
        generate(&function, &config)
    } else {
        let placeholder = function.placeholder();
        let errors = errors.into_compile_errors();
        quote!(#placeholder #errors)
    }
}

fn generate(function: &ListenerFn, config: &Config) -> TokenStream {
    if let Address::Unix {
        addr,
        path_env,
        mode,
    } = &config.address
    {
        return generate_unix(
            function,
            config,
            addr.as_ref(),
            path_env.as_ref(),
            mode.as_ref(),
        );
    }
    let ListenerFn {
        attrs, vis, sig, ..
    } = function;
    let krate = &config.krate;
    let private = quote!(#krate::__private);
    // Hygienic names: the user's parameters can be called anything.
    let spec = Ident::new("spec", Span::mixed_site());
    let policy = Ident::new("policy", Span::mixed_site());

    let (addr, port_fallback) = ip_address(config, &private);
    let addr_env = option(config.addr_env.as_ref());
    let port_env = option(config.port_env.as_ref());
    let only_v6 = option(config.only_v6.as_ref());
    let Shared {
        backlog,
        nonblocking,
        configure_binding,
        configure,
        inherit,
        retry,
    } = shared(config, &private);
    let policies = policies(config, &private, &policy);
    let no_dual_stack = no_dual_stack(config);
    let socket_type = &config.socket_type;
    // The call carries the return type's span, so that an unsupported type
    // is reported on the type.
    // An `async fn` awaits the pauses of `retry` instead of blocking.
    let listen = if sig.asyncness.is_some() {
        quote_spanned!(socket_type.span()=> #private::listen_async::<#socket_type>)
    } else {
        quote_spanned!(socket_type.span()=> #private::listen::<#socket_type>)
    };
    let call = if sig.asyncness.is_some() {
        quote!(#listen(&#spec, #policy).await)
    } else {
        quote!(#listen(&#spec, #policy))
    };
    let call = into_result(sig, &private, &call);

    quote! {
        #(#attrs)*
        #vis #sig {
            #configure_binding
            let #spec = #private::Spec {
                addr: #addr,
                port_env: #port_env,
                port_fallback: #port_fallback,
                addr_env: #addr_env,
                backlog: #backlog,
                only_v6: #only_v6,
                nonblocking: #nonblocking,
                configure: #configure,
                inherit: #inherit,
                retry: #retry,
            };
            #policies
            #no_dual_stack
            #call
        }
    }
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
fn generate_unix(
    function: &ListenerFn,
    config: &Config,
    addr: Option<&UnixAddr>,
    path_env: Option<&syn::LitStr>,
    mode: Option<&Value<u32>>,
) -> TokenStream {
    let ListenerFn {
        attrs, vis, sig, ..
    } = function;
    let krate = &config.krate;
    let private = quote!(#krate::__private);
    let spec = Ident::new("spec", Span::mixed_site());
    let result = Ident::new("result", Span::mixed_site());
    let (addr, target_checks, given_binding) = unix_addr(&private, addr);
    let path_env = option(path_env);
    // In octal, as the attribute takes it.
    let mode = mode.map(|mode| match mode {
        Value::Literal(mode) => Literal::from_str(&format!("{mode:#o}"))
            .unwrap_or_else(|_| Literal::u32_unsuffixed(*mode))
            .into_token_stream(),
        Value::Expr(expr) => expr.into_token_stream(),
    });
    let mode = option(mode.as_ref());
    let Shared {
        backlog,
        nonblocking,
        configure_binding,
        configure,
        inherit,
        retry,
    } = shared(config, &private);
    let socket_type = &config.socket_type;
    let call = if sig.asyncness.is_some() {
        let listen =
            quote_spanned!(socket_type.span()=> #private::listen_unix_async::<#socket_type>);
        quote!(#listen(&#spec).await)
    } else {
        let listen = quote_spanned!(socket_type.span()=> #private::listen_unix::<#socket_type>);
        quote!(#listen(&#spec))
    };
    let call = into_result(sig, &private, &call);
    let not_unix = Literal::string(UNIX_ON_WINDOWS);
    quote! {
        #(#attrs)*
        #vis #sig {
            #target_checks
            #[cfg(unix)]
            let #result = {
                #given_binding
                #configure_binding
                let #spec = #private::UnixSpec {
                    addr: #addr,
                    path_env: #path_env,
                    mode: #mode,
                    backlog: #backlog,
                    nonblocking: #nonblocking,
                    configure: #configure,
                    inherit: #inherit,
                    retry: #retry,
                };
                #call
            };
            #[cfg(not(unix))]
            let #result = ::core::compile_error!(#not_unix);
            #result
        }
    }
}

/// `Some(value)` or `None`, as the expression that builds it.
fn option(value: Option<&impl ToTokens>) -> TokenStream {
    value.map_or_else(
        || quote!(::core::option::Option::None),
        |value| quote!(::core::option::Option::Some(#value)),
    )
}

/// The `addr` field of the `UnixSpec` literal; the per-target errors that a
/// literal calls for; and the `let` of an expression, so that a temporary
/// (`format!(..)`) lives to the end of the body.
fn unix_addr(
    private: &TokenStream,
    addr: Option<&UnixAddr>,
) -> (TokenStream, TokenStream, Option<TokenStream>) {
    let some = quote!(::core::option::Option::Some);
    let mut target_checks = TokenStream::new();
    let given = Ident::new("given", Span::mixed_site());
    let mut given_binding = None;
    let addr = match addr {
        None => quote!(::core::option::Option::None),
        Some(UnixAddr::Path(path)) => {
            let path = match path {
                Value::Literal(path) => {
                    if path.value().len() > args::MAX_PATH_BSD {
                        let message = Literal::string(PATH_TOO_LONG_BSD);
                        target_checks.extend(quote_spanned! {path.span()=>
                            #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
                            ::core::compile_error!(#message);
                        });
                    }
                    quote!(#private::unix_path(#path))
                }
                Value::Expr(expr) => {
                    given_binding = Some(quote_spanned!(expr.span()=> let #given = &#expr;));
                    quote_spanned!(expr.span()=> #private::unix_path(#given))
                }
            };
            quote!(#some(#private::UnixAddr::Path(#path)))
        }
        Some(UnixAddr::Abstract(name)) => {
            let message = Literal::string(ABSTRACT_ELSEWHERE);
            let name = match name {
                Value::Literal(name) => {
                    target_checks.extend(quote_spanned! {name.span()=>
                        #[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
                        ::core::compile_error!(#message);
                    });
                    let bytes = syn::LitByteStr::new(name.value().as_bytes(), name.span());
                    quote!(#bytes)
                }
                Value::Expr(expr) => {
                    given_binding = Some(quote_spanned!(expr.span()=> let #given = &#expr;));
                    quote_spanned!(expr.span()=> #private::abstract_name(#given))
                }
            };
            quote!(#some(#private::UnixAddr::Abstract(#name)))
        }
    };
    (addr, target_checks, given_binding)
}

/// The `addr` field of the `Spec` literal, and whether its port is a
/// fallback (`false` when `port_env` or `addr_env` alone gives the port).
/// The address stays whole from the attribute to `bind`: a `SocketAddr`
/// literal keeps its scope id and flow info, an expression is not split.
fn ip_address(config: &Config, private: &TokenStream) -> (TokenStream, bool) {
    match &config.address {
        Address::HostPort { host, port } => {
            let host = match host {
                Value::Literal(ip) => ip_tokens(private, *ip),
                Value::Expr(expr) => {
                    quote_spanned!(expr.span()=> #private::ip_addr(#expr))
                }
            };
            let (port, fallback) = match port {
                Some(Value::Literal(port)) => {
                    (Literal::u16_unsuffixed(*port).into_token_stream(), true)
                }
                Some(Value::Expr(expr)) => (expr.into_token_stream(), true),
                // `port_env` alone: the variable must give the port.
                None => (quote!(0), false),
            };
            (quote!(#private::SocketAddr::new(#host, #port)), fallback)
        }
        Address::Addr(Value::Literal(socket_addr)) => {
            (socket_addr_tokens(private, *socket_addr), true)
        }
        Address::Addr(Value::Expr(expr)) => (
            quote_spanned!(expr.span()=> #private::socket_addr(#expr)),
            true,
        ),
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
    // and `#private` starts at the attribute (or the `crate` literal, where
    // an unknown crate is reported): so the call is through a name of its
    // own, which carries `E`'s span.
    let convert = Ident::new("__restartable_into_result", span);
    let converted = quote_spanned!(span=> #convert(#call));
    quote! {{
        use #private::into_result as #convert;
        #converted
    }}
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
    nonblocking: bool,
    /// `configure` gets its own `let`, so that a closure lives to the end of
    /// the body without relying on temporary lifetime extension through
    /// `Some(..)` (Rust 1.79).
    configure_binding: Option<TokenStream>,
    configure: TokenStream,
    inherit: TokenStream,
    retry: TokenStream,
}

fn shared(config: &Config, private: &TokenStream) -> Shared {
    let configure_fn = Ident::new("configure", Span::mixed_site());
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    let inherit = match &config.inherit {
        None => none.clone(),
        Some(Inherit::Flag(_)) => quote!(#some(#private::Inherit::Next)),
        Some(Inherit::Named(name)) => quote!(#some(#private::Inherit::Named(#name))),
    };
    // In the largest unit Rust 1.63 has that keeps it exact: "2s" reads
    // `from_secs(2)`, "500ms" `from_millis(500)`.
    let retry = config.retry.map_or(none, |retry| {
        let duration = if retry.subsec_nanos() == 0 {
            let secs = Literal::u64_unsuffixed(retry.as_secs());
            quote!(#private::Duration::from_secs(#secs))
        } else {
            let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
            let millis = Literal::u64_unsuffixed(millis);
            quote!(#private::Duration::from_millis(#millis))
        };
        quote!(#some(#duration))
    });

    let backlog = match &config.backlog {
        Some(Value::Literal(backlog)) => Literal::i32_unsuffixed(*backlog).into_token_stream(),
        Some(Value::Expr(expr)) => expr.into_token_stream(),
        None => {
            let krate = &config.krate;
            quote!(#krate::DEFAULT_BACKLOG)
        }
    };
    let (configure_binding, configure) = match &config.configure {
        // The annotated type lets a closure's parameter be inferred as
        // `&Socket` for any lifetime.
        Some(path) => (
            Some(
                quote_spanned!(path.span()=> let #configure_fn: #private::Configure<'_> = &#path;),
            ),
            quote!(#some(#configure_fn)),
        ),
        None => (None, quote!(::core::option::Option::None)),
    };
    Shared {
        backlog,
        nonblocking: config.nonblocking,
        configure_binding,
        configure,
        inherit,
        retry,
    }
}

const UNSUPPORTED_FAMILY: &str =
    "restartable supports the `unix` and `windows` target families only";
const REUSE_PORT_ON_WINDOWS: &str = "`reuse_port = true` is not supported on Windows: sharing a \
     port there takes SO_REUSEADDR, which lets any process bind the port and take its traffic";
const REUSE_PORT_ELSEWHERE: &str = "`reuse_port = true` is supported on Linux, Android and \
     FreeBSD only: on this target SO_REUSEPORT does not balance connections between sockets";

/// One `let policy = ...;` per target, each under its `#[cfg]`: the whole
/// per-OS choice, readable in the expansion.
fn policies(config: &Config, private: &TokenStream, policy: &Ident) -> TokenStream {
    let unsupported_family = Literal::string(UNSUPPORTED_FAMILY);
    let unsupported_family = quote! {
        #[cfg(not(any(unix, windows)))]
        let #policy = ::core::compile_error!(#unsupported_family);
    };
    if let Some(key) = &config.reuse_port {
        let on_windows = Literal::string(REUSE_PORT_ON_WINDOWS);
        let elsewhere = Literal::string(REUSE_PORT_ELSEWHERE);
        return quote_spanned! {key.span()=>
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let #policy = #private::unix::Policy::REUSE_PORT;
            #[cfg(target_os = "freebsd")]
            let #policy = #private::unix::Policy::REUSE_PORT_LB;
            #[cfg(windows)]
            let #policy = ::core::compile_error!(#on_windows);
            #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd", windows)))]
            let #policy = ::core::compile_error!(#elsewhere);
        };
    }
    let windows = if config.exclusive {
        quote!(EXCLUSIVE_ADDRESS_USE)
    } else {
        quote!(OS_DEFAULT)
    };
    quote! {
        #[cfg(unix)]
        let #policy = #private::unix::Policy::REUSE_ADDRESS;
        #[cfg(windows)]
        let #policy = #private::windows::Policy::#windows;
        #unsupported_family
    }
}

/// `only_v6 = false` on OpenBSD and DragonFly BSD, which have no dual-stack
/// sockets: the
/// target's own branch says so (the runtime says the same when the value is
/// not known at compile time).
fn no_dual_stack(config: &Config) -> Option<TokenStream> {
    let flag = config.only_v6.as_ref().filter(|flag| !flag.value)?;
    let message = Literal::string(NO_DUAL_STACK);
    Some(quote_spanned! {flag.span()=>
        #[cfg(any(target_os = "openbsd", target_os = "dragonfly"))]
        ::core::compile_error!(#message);
    })
}

const NO_DUAL_STACK: &str = "`only_v6 = false` is not possible on OpenBSD and DragonFly BSD: \
     they have no dual-stack sockets, an IPv6 socket is always IPv6-only there; bind an IPv4 \
     socket as well, or leave out only_v6";

/// A socket address as the expression that builds it; an IPv6 address
/// with a scope id or flow info keeps them.
fn socket_addr_tokens(private: &TokenStream, addr: SocketAddr) -> TokenStream {
    let ip = ip_tokens(private, addr.ip());
    let port = Literal::u16_unsuffixed(addr.port());
    match addr {
        SocketAddr::V6(v6) if v6.scope_id() != 0 || v6.flowinfo() != 0 => {
            let ip = match addr.ip() {
                IpAddr::V6(ip) => ipv6_tokens(private, ip),
                IpAddr::V4(_) => ip,
            };
            let flowinfo = Literal::u32_unsuffixed(v6.flowinfo());
            let scope_id = Literal::u32_unsuffixed(v6.scope_id());
            quote!(#private::SocketAddr::V6(#private::SocketAddrV6::new(#ip, #port, #flowinfo, #scope_id)))
        }
        _ => quote!(#private::SocketAddr::new(#ip, #port)),
    }
}

/// An IP address as the expression that builds it, with the std constants
/// where one fits so that the expansion reads like the source.
fn ip_tokens(private: &TokenStream, ip: IpAddr) -> TokenStream {
    match ip {
        IpAddr::V4(v4) => {
            let value = if v4.is_unspecified() {
                quote!(#private::Ipv4Addr::UNSPECIFIED)
            } else if v4 == std::net::Ipv4Addr::LOCALHOST {
                quote!(#private::Ipv4Addr::LOCALHOST)
            } else {
                let octets = v4.octets().map(Literal::u8_unsuffixed);
                quote!(#private::Ipv4Addr::new(#(#octets),*))
            };
            quote!(#private::IpAddr::V4(#value))
        }
        IpAddr::V6(v6) => {
            let value = ipv6_tokens(private, v6);
            quote!(#private::IpAddr::V6(#value))
        }
    }
}

fn ipv6_tokens(private: &TokenStream, v6: Ipv6Addr) -> TokenStream {
    if v6.is_unspecified() {
        quote!(#private::Ipv6Addr::UNSPECIFIED)
    } else if v6.is_loopback() {
        quote!(#private::Ipv6Addr::LOCALHOST)
    } else {
        let segments = v6.segments().map(|segment| {
            Literal::from_str(&format!("{segment:#x}"))
                .unwrap_or_else(|_| Literal::u16_unsuffixed(segment))
        });
        quote!(#private::Ipv6Addr::new(#(#segments),*))
    }
}
