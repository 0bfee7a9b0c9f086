//! The value of each key, from its syntax: a literal is checked here and
//! becomes the value it stands for; an expression is passed on, for rustc to
//! type-check. Each parser reports what is wrong with the value on the value
//! and then returns `None`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use syn::{Expr, ExprLit, ExprUnary, Lit, LitBool, LitInt, LitStr, UnOp};

use super::errors::Errors;

/// The longest socket path any unix target takes: `sun_path` is 108 bytes
/// on Linux, Android, illumos and Solaris, with room for the NUL.
pub(crate) const MAX_PATH: usize = 107;
/// The longest on macOS, iOS and the BSDs, where `sun_path` is 104 bytes.
pub(crate) const MAX_PATH_BSD: usize = 103;

/// The longest `retry`: a restart that waits longer is not a restart.
const MAX_RETRY: Duration = Duration::from_secs(super::messages::MAX_RETRY_SECS);

/// `inherit = true`, `inherit = false` or `inherit = "name"`.
pub(crate) enum Inherit {
    Flag(LitBool),
    Named(LitStr),
}

/// A value that is either checked at expansion or left to the compiler.
pub(crate) enum Value<T> {
    Literal(T),
    Expr(Expr),
}

/// The literal inside an expression, looking through the invisible groups
/// that `macro_rules!` puts around `$value:expr`.
fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

/// An integer literal's value; `None` past `u64::MAX`. One parser for
/// every width, which is then narrowed with `try_from`.
fn int_value(int: &LitInt) -> Option<u64> {
    int.base10_digits().parse().ok()
}

/// `-1`, `-0.5`: a negated literal, which no unsigned option accepts.
fn is_negative_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => literal(expr).is_some(),
        Expr::Group(group) => is_negative_literal(&group.expr),
        _ => false,
    }
}

/// What an integer option takes.
pub(crate) struct Integer {
    expected: &'static str,
    /// The one suffix a literal may have, besides none.
    suffix: &'static str,
    min: u64,
    max: u64,
    /// Permission bits, which are only ever meant in octal.
    octal: bool,
    /// For a number written in quotes: the key and the key that reads it
    /// from the environment instead.
    unquoted: Option<(&'static str, &'static str)>,
}

pub(crate) const PORT: Integer = Integer {
    expected: "expected a port number from 0 to 65535",
    suffix: "u16",
    min: 0,
    max: 65535,
    octal: false,
    unquoted: Some(("port", "port_env")),
};

pub(crate) const BACKLOG: Integer = Integer {
    expected: "expected a backlog from 1 to 2147483647",
    suffix: "i32",
    min: 1,
    max: 2_147_483_647,
    octal: false,
    unquoted: None,
};

pub(crate) const MODE: Integer = Integer {
    expected: "expected permission bits from 0o000 to 0o777, such as `mode = 0o660`",
    suffix: "u32",
    min: 0,
    max: 0o777,
    octal: true,
    unquoted: None,
};

/// An integer literal in the option's range, or an expression left to
/// rustc (a constant, a parameter).
pub(crate) fn integer(value: Expr, option: &Integer, errors: &mut Errors) -> Option<Value<u64>> {
    let expected = option.expected;
    let int = match literal(&value) {
        None if is_negative_literal(&value) => {
            errors.at(&value, format!("{expected}; found a negative number"));
            return None;
        }
        None => return Some(Value::Expr(value)),
        Some(Lit::Int(int)) => int,
        Some(other) => {
            let message = match (other, option.unquoted) {
                (Lit::Str(text), Some((key, env_key))) => format!(
                    "{expected}; found a string: write `{key} = {}` without quotes, or \
                     `{env_key} = \"PORT\"` to read it at run time",
                    text.value()
                ),
                _ => format!(
                    "{expected}; write an integer (unsuffixed or `{}`), a constant or a parameter",
                    option.suffix
                ),
            };
            errors.at(other, message);
            return None;
        }
    };
    if !int.suffix().is_empty() && int.suffix() != option.suffix {
        errors.at(
            int,
            format!(
                "{expected}; found the suffix `{}`: write the number with no suffix or with `{}`",
                int.suffix(),
                option.suffix
            ),
        );
        return None;
    }
    let written = int.to_string();
    let number = int_value(int);
    if option.octal && !written.starts_with("0o") && number != Some(0) {
        let digits = int.base10_digits();
        let message = if digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            format!(
                "{expected}; write the bits in octal, found {written}: `mode = 0o{digits}` \
                 may be what was meant"
            )
        } else {
            format!("{expected}; write the bits in octal, found {written}")
        };
        errors.at(int, message);
        return None;
    }
    match number {
        Some(number) if (option.min..=option.max).contains(&number) => Some(Value::Literal(number)),
        _ => {
            errors.at(int, format!("{expected}; found {written}"));
            None
        }
    }
}

/// `port_env = "PORT"`, `path_env = "APP_SOCKET"`: a variable's name.
pub(crate) fn env_name(
    value: &Expr,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> Option<LitStr> {
    let Some(Lit::Str(name)) = literal(value) else {
        errors.at(
            value,
            format!(
                "expected the name of an environment variable as a string, such as `{key} = \"{example}\"`"
            ),
        );
        return None;
    };
    let text = name.value();
    if super::messages::is_variable_name(&text) {
        Some(name.clone())
    } else {
        errors.at(
            name,
            format!(
                "expected an environment variable name (letters, digits and `_`, \
                 not starting with a digit), found {text:?}"
            ),
        );
        None
    }
}

pub(crate) fn host(value: Expr, errors: &mut Errors) -> Option<Value<IpAddr>> {
    match literal(&value) {
        None => Some(Value::Expr(value)),
        Some(Lit::Str(text)) => match text.value().parse() {
            Ok(ip) => Some(Value::Literal(ip)),
            Err(_) if text.value().parse::<SocketAddr>().is_ok() => {
                errors.at(
                    text,
                    format!(
                        "expected an IP address such as \"0.0.0.0\", \"127.0.0.1\" or \"::\", \
                         without a port; use `addr = {:?}` to give both",
                        text.value()
                    ),
                );
                None
            }
            Err(_) => {
                errors.at(
                    text,
                    format!(
                        "expected an IP address such as \"0.0.0.0\", \"127.0.0.1\" or \"::\"; \
                         found {:?} (host names are not resolved)",
                        text.value()
                    ),
                );
                None
            }
        },
        Some(other) => {
            errors.at(
                other,
                "expected an IP address such as \"0.0.0.0\", \"127.0.0.1\" or \"::\", or an \
                 `IpAddr` expression",
            );
            None
        }
    }
}

pub(crate) fn addr(value: Expr, errors: &mut Errors) -> Option<Value<SocketAddr>> {
    match literal(&value) {
        None => Some(Value::Expr(value)),
        Some(Lit::Str(text)) => {
            if let Ok(addr) = text.value().parse() {
                Some(Value::Literal(addr))
            } else {
                errors.at(
                    text,
                    format!(
                        "expected a socket address such as \"127.0.0.1:8080\" or \"[::1]:8080\"; \
                         found {:?}",
                        text.value()
                    ),
                );
                None
            }
        }
        Some(other) => {
            errors.at(
                other,
                "expected a socket address such as \"127.0.0.1:8080\" or \"[::1]:8080\", or a \
                 `SocketAddr` expression",
            );
            None
        }
    }
}

/// A string literal, checked by `problem`, or an expression left to rustc.
fn string_or_expr(
    value: Expr,
    expected: &str,
    problem: fn(&str) -> Option<String>,
    errors: &mut Errors,
) -> Option<Value<LitStr>> {
    let text = match literal(&value) {
        None => return Some(Value::Expr(value)),
        Some(Lit::Str(text)) => text,
        Some(other) => {
            errors.at(other, expected);
            return None;
        }
    };
    if let Some(problem) = problem(&text.value()) {
        errors.at(text, format!("{expected}; {problem}"));
        return None;
    }
    Some(Value::Literal(text.clone()))
}

pub(crate) fn path(value: Expr, errors: &mut Errors) -> Option<Value<LitStr>> {
    const EXPECTED: &str = "expected a socket path such as \"/run/app/app.sock\", \
                            or an expression that is `AsRef<Path>`";
    string_or_expr(value, EXPECTED, path_problem, errors)
}

fn path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        Some("the path is empty".to_owned())
    } else if path.contains('\0') {
        Some("the path contains a NUL byte, which ends a socket path".to_owned())
    } else if path.len() > MAX_PATH {
        Some(format!(
            "the path is {} bytes long, and a Unix-domain socket's path is at most {MAX_PATH} \
             bytes on Linux, Android, illumos and Solaris (sun_path holds 108 with the NUL) and \
             {MAX_PATH_BSD} on macOS, iOS and the BSDs (104)",
            path.len()
        ))
    } else if path.starts_with('@') {
        Some("a name in the abstract namespace is given with `abstract_name`".to_owned())
    } else {
        None
    }
}

pub(crate) fn abstract_name(value: Expr, errors: &mut Errors) -> Option<Value<LitStr>> {
    const EXPECTED: &str = "expected a name such as `abstract_name = \"app\"`, or an \
                            expression that is `AsRef<[u8]>`";
    string_or_expr(value, EXPECTED, abstract_name_problem, errors)
}

fn abstract_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("the name is empty".to_owned())
    } else if name.len() > MAX_PATH {
        Some(format!(
            "the name is {} bytes long, over the {MAX_PATH} that sun_path holds after the \
             leading NUL",
            name.len()
        ))
    } else {
        None
    }
}

pub(crate) fn flag(value: &Expr, errors: &mut Errors) -> Option<LitBool> {
    if let Some(Lit::Bool(flag)) = literal(value) {
        Some(flag.clone())
    } else {
        errors.at(value, "expected `true` or `false`");
        None
    }
}

pub(crate) fn inherit(value: &Expr, errors: &mut Errors) -> Option<Inherit> {
    const EXPECTED: &str = "expected `true`, `false`, or the name of the passed socket \
                            in LISTEN_FDNAMES, such as `inherit = \"http\"`";
    match literal(value) {
        Some(Lit::Bool(flag)) => Some(Inherit::Flag(flag.clone())),
        Some(Lit::Str(name)) => {
            let problem = super::messages::socket_name_problem(&name.value());
            if let Some(problem) = problem {
                errors.at(name, format!("{EXPECTED}; {problem}"));
                None
            } else {
                Some(Inherit::Named(name.clone()))
            }
        }
        _ => {
            errors.at(value, EXPECTED);
            None
        }
    }
}

pub(crate) fn retry(value: &Expr, errors: &mut Errors) -> Option<Duration> {
    const EXPECTED: &str = "expected a duration from 1ms to 1h as a string: a whole number \
                            and a unit, `ms`, `s`, `m` or `h`, such as `retry = \"2s\"`";
    let Some(Lit::Str(text)) = literal(value) else {
        errors.at(value, EXPECTED);
        return None;
    };
    let written = text.value();
    let duration = parse_duration(&written);
    match duration {
        Some(duration) if duration.is_zero() => {
            errors.at(
                text,
                format!(
                    "{EXPECTED}; {written:?} is no time at all: remove `retry` to fail at once"
                ),
            );
            None
        }
        Some(duration) if duration > MAX_RETRY => {
            errors.at(
                text,
                format!("{EXPECTED}; {written:?} is longer than an hour"),
            );
            None
        }
        Some(duration) => Some(duration),
        None if written.contains('.') => {
            errors.at(
                text,
                format!("{EXPECTED}; found {written:?}: write a fraction in a smaller unit, such as \"1500ms\""),
            );
            None
        }
        None => {
            errors.at(text, format!("{EXPECTED}; found {written:?}"));
            None
        }
    }
}

/// `"500ms"`, `"2s"`, `"1m"`, `"1h"`: digits then a unit, nothing else.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.len() > 7 {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number * 60)),
        "h" => Some(Duration::from_secs(number * 3600)),
        _ => None,
    }
}

pub(crate) fn configure(value: Expr, errors: &mut Errors) -> Option<Expr> {
    match value {
        Expr::Path(_) | Expr::Closure(_) => Some(value),
        _ => {
            errors.at(
                &value,
                "expected the path of a function \
                 `fn(&restartable::socket2::Socket) -> std::io::Result<()>`",
            );
            None
        }
    }
}

pub(crate) fn krate(value: &Expr, errors: &mut Errors) -> Option<syn::Path> {
    let Some(Lit::Str(text)) = literal(value) else {
        errors.at(
            value,
            "expected a path in a string, such as `crate = \"my_crate::restartable\"`",
        );
        return None;
    };
    // `LitStr::parse` gives every token the literal's span, so the path
    // resolves where the attribute is written.
    if let Ok(path) = text.parse::<syn::Path>() {
        Some(path)
    } else {
        errors.at(
            text,
            format!(
                "expected a path such as \"::restartable\" or \"my_crate::restartable\", found {:?}",
                text.value()
            ),
        );
        None
    }
}
