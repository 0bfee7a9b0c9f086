//! The properties the fuzz targets check, one function per target. The
//! attribute's pipeline is compiled into this crate from `macros/src/` (a
//! proc-macro crate exports nothing but its macros), so the expansion is the
//! macro's real code, run on proc-macro2's fallback spans.
#![allow(unreachable_pub, missing_docs)]

#[path = "../../macros/src/pipeline.rs"]
mod pipeline;

use std::ffi::OsStr;
use std::io;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::str::FromStr;
use std::time::Duration;

use proc_macro2::{Span, TokenStream, TokenTree};

/// A function the attribute accepts, for inputs that give arguments only.
const DEFAULT_ITEM: &str = "fn f() -> std::io::Result<std::net::TcpListener> {}";

/// Arguments and item (split at the first NUL) through the whole attribute:
/// no panic; the output parses as items; each token of each
/// `compile_error!` points inside the input or at the attribute itself.
pub fn check_expansion(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (args, item) = text.split_once('\0').unwrap_or((text, DEFAULT_ITEM));
    let (Ok(args), Ok(item)) = (TokenStream::from_str(args), TokenStream::from_str(item)) else {
        return;
    };
    // rustc hands an attribute macro an item only.
    if syn::parse2::<syn::Item>(item.clone()).is_err() {
        return;
    }
    let inside = [extent(&args), extent(&item)];
    let output = pipeline::restartable_listener(args, item);
    if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
        panic!("the expansion does not parse as items: {error}\n{output}");
    }
    check_error_spans(&output, &inside);
}

/// The bytes the tokens of `tokens` cover, in the fallback source map.
fn extent(tokens: &TokenStream) -> Option<Range<usize>> {
    let mut covered: Option<Range<usize>> = None;
    let mut add = |span: Span| {
        let range = span.byte_range();
        covered = Some(match covered.take() {
            None => range,
            Some(seen) => seen.start.min(range.start)..seen.end.max(range.end),
        });
    };
    fn walk(tokens: &TokenStream, add: &mut dyn FnMut(Span)) {
        for token in tokens.clone() {
            add(token.span());
            if let TokenTree::Group(group) = &token {
                add(group.span_open());
                add(group.span_close());
                walk(&group.stream(), add);
            }
        }
    }
    walk(tokens, &mut add);
    covered
}

fn check_error_spans(output: &TokenStream, inside: &[Option<Range<usize>>]) {
    let tokens: Vec<TokenTree> = output.clone().into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        if let TokenTree::Group(group) = token {
            check_error_spans(&group.stream(), inside);
        }
        let TokenTree::Ident(ident) = token else {
            continue;
        };
        if ident != "compile_error" {
            continue;
        }
        // `compile_error ! { "message" }`: the name, the `!`, the group.
        for token in &tokens[at..tokens.len().min(at + 3)] {
            let range = token.span().byte_range();
            let at_attribute = range == Span::call_site().byte_range();
            let in_input = inside
                .iter()
                .flatten()
                .any(|input| input.start <= range.start && range.end <= input.end);
            assert!(
                at_attribute || in_input,
                "an error points outside the input: {token} at {range:?}, input {inside:?}\n{output}"
            );
        }
    }
}

/// Splits `data` into `count` fields at NUL bytes; missing fields are
/// `None`, and a field that is exactly `\x01` is `None` too (an unset
/// variable, as opposed to an empty one).
fn fields(data: &[u8], count: usize) -> Vec<Option<&OsStr>> {
    let mut parts = data.split(|byte| *byte == 0);
    (0..count)
        .map(|_| {
            parts
                .next()
                .filter(|part| *part != b"\x01")
                .map(OsStr::from_bytes)
        })
        .collect()
}

/// Plain ASCII digits, as the protocol writes numbers, and their value.
fn digits(value: &OsStr) -> Option<u64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Leading zeros change nothing; over 19 digits is more than any u64.
    let significant = std::str::from_utf8(bytes).ok()?.trim_start_matches('0');
    if significant.is_empty() {
        return Some(0);
    }
    if significant.len() > 19 {
        return Some(u64::MAX);
    }
    significant.parse().ok()
}

/// `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_FDS_FIRST_FD` for
/// process 42 (the first byte: whether an unset pid is accepted). What is
/// accepted must follow from the variables; what is refused is
/// InvalidInput naming a variable.
pub fn check_listen_vars(data: &[u8]) {
    const OWN_PID: u32 = 42;
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let accept_unset = flags & 1 == 1;
    let vars = fields(rest, 4);
    let (pid, fds, names, first) = (vars[0], vars[1], vars[2], vars[3]);
    let result = restartable::__fuzz::listen_vars(pid, fds, names, first, OWN_PID, accept_unset);
    let pid_set = pid.filter(|pid| !pid.is_empty());
    match result {
        Ok(Some(passed)) => {
            let count = fds
                .and_then(digits)
                .expect("taken without a LISTEN_FDS number");
            assert_eq!(passed.len() as u64, count, "{passed:?}");
            match pid_set {
                Some(pid) => assert_eq!(digits(pid), Some(u64::from(OWN_PID))),
                None => assert!(accept_unset, "taken with LISTEN_PID unset"),
            }
            let start = first
                .map_or(Some(3), digits)
                .expect("a first fd that is no number");
            assert!(start >= 3);
            for (offset, (fd, _)) in passed.iter().enumerate() {
                assert_eq!(i64::from(*fd), start as i64 + offset as i64);
            }
            let expected: Vec<Option<String>> = match names {
                Some(names) => std::str::from_utf8(names.as_bytes())
                    .expect("names that are not UTF-8")
                    .split(':')
                    .map(|name| Some(name.to_owned()))
                    .collect(),
                None => vec![None; passed.len()],
            };
            let got: Vec<Option<String>> = passed.into_iter().map(|(_, name)| name).collect();
            if count > 0 || names.is_none() {
                assert_eq!(got, expected);
            }
        }
        Ok(None) => {
            let for_another = pid_set.map_or(!accept_unset, |pid| {
                digits(pid).map_or(false, |pid| pid != u64::from(OWN_PID))
            });
            assert!(
                fds.is_none() || for_another,
                "not taken, though the variables are for this process"
            );
        }
        Err(error) => {
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert!(error.to_string().contains("LISTEN_"), "{error}");
            assert!(fds.is_some(), "an error with LISTEN_FDS unset: {error}");
        }
    }
}

/// The same bytes as a `port_env`, `addr_env` and `path_env` value, and as
/// a `ListenAddr`.
pub fn check_env_values(data: &[u8]) {
    let value = OsStr::from_bytes(data);
    match restartable::__fuzz::addr_from_variable("LISTEN_ADDR", value) {
        Ok(addr) => {
            let text = std::str::from_utf8(data).expect("an address that is not UTF-8");
            assert_same_address(text, addr);
        }
        Err(error) => {
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            assert!(
                error
                    .to_string()
                    .starts_with("environment variable LISTEN_ADDR="),
                "{error}"
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_listen_addr(text);
    }
    check_printed_addresses(data);
    match restartable::__fuzz::port_from_variable("PORT", value) {
        Ok(port) => {
            let text = std::str::from_utf8(data).expect("a port that is not UTF-8");
            let unsigned = text.strip_prefix('+').unwrap_or(text);
            assert!(!unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(unsigned.parse::<u32>().ok(), Some(u32::from(port)));
        }
        Err(error) => {
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            assert!(
                error.to_string().starts_with("environment variable PORT="),
                "{error}"
            );
        }
    }
    match restartable::__fuzz::place_from_variable("APP_SOCKET", value) {
        Ok(place) => {
            let path = data.strip_prefix(b"@").unwrap_or(data);
            assert!(data.first() == Some(&b'@') || !path.is_empty());
            assert!(path.len() <= 107, "{} bytes accepted", path.len());
            assert!(data.first() == Some(&b'@') || !path.contains(&0));
            assert!(!place.is_empty());
        }
        Err(error) => {
            assert_refused(&error);
            assert!(error.to_string().contains("APP_SOCKET"), "{error}");
        }
    }
}

/// An accepted address is what std parses from the text, or, for an IPv6
/// scope id given by interface name (`[fe80::1%lo]:80`, which std does not
/// parse), the same text with the interface's index in its place.
fn assert_same_address(text: &str, addr: std::net::SocketAddr) {
    if let Ok(parsed) = text.parse::<std::net::SocketAddr>() {
        assert_eq!(parsed, addr, "{text:?}");
        return;
    }
    let std::net::SocketAddr::V6(v6) = addr else {
        panic!("{text:?} accepted as {addr}, which std does not parse");
    };
    let (scoped, port) = text.rsplit_once("]:").expect("a port");
    let (ip, name) = scoped.split_once('%').expect("a scope by name");
    let index = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|index| index.trim().parse::<u32>().ok());
    assert_eq!(index, Some(v6.scope_id()), "{text:?}");
    assert_eq!(
        format!("{ip}%{}]:{port}", v6.scope_id())
            .parse::<std::net::SocketAddr>()
            .ok(),
        Some(addr),
        "{text:?}"
    );
}

/// A value the runtime refuses: invalid, or not possible on this target.
fn assert_refused(error: &io::Error) {
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
        ),
        "{error}"
    );
}

/// `ListenAddr` from text: what it accepts prints back as text that parses
/// to the same value; what it refuses names the text.
fn check_listen_addr(text: &str) {
    match text.parse::<restartable::ListenAddr>() {
        Ok(addr) => {
            match &addr {
                restartable::ListenAddr::Ip(ip) => assert_same_address(text, *ip),
                restartable::ListenAddr::Path(path) => {
                    assert!(text.contains('/') && !text.starts_with('@'));
                    // Without escapes, the text itself, but for a `./` that
                    // only makes it a path.
                    if !text.contains('\\') {
                        let spelled = path.as_os_str().as_bytes();
                        let marked = !spelled.contains(&b'/')
                            || spelled.starts_with(b"@")
                            || spelled.starts_with(b"[");
                        let unmarked =
                            text.as_bytes().strip_prefix(b"./") == Some(spelled) && marked;
                        assert!(
                            spelled == text.as_bytes() || unmarked,
                            "{text:?} read as {path:?}"
                        );
                    }
                }
                restartable::ListenAddr::Abstract(name) => {
                    let spelled = text.strip_prefix('@').map(str::as_bytes);
                    assert!(spelled.is_some(), "{text:?}");
                    if !text.contains('\\') {
                        assert_eq!(spelled, Some(&name[..]));
                    }
                }
                _ => panic!("another kind of address: {addr:?}"),
            }
            let again: restartable::ListenAddr = addr.to_string().parse().expect("printed back");
            assert_eq!(again, addr, "{text:?}");
        }
        Err(error) => {
            assert_refused(&error);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("invalid listen address {text:?}")),
                "{error}"
            );
        }
    }
}

/// These bytes as a socket path and as an abstract name, printed, parse back
/// to the same address; a value that does not parse back is one that
/// cannot be bound (empty, over 107 bytes, a NUL in a path, or a name where
/// there are none).
fn check_printed_addresses(data: &[u8]) {
    let bindable = !data.is_empty() && data.len() <= 107;
    let abstract_names = cfg!(any(target_os = "linux", target_os = "android"));
    let cases = [
        (
            restartable::ListenAddr::Path(OsStr::from_bytes(data).into()),
            bindable && !data.contains(&0),
        ),
        (
            restartable::ListenAddr::Abstract(data.to_vec()),
            bindable && abstract_names,
        ),
    ];
    for (addr, bindable) in cases {
        let text = addr.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        match text.parse::<restartable::ListenAddr>() {
            Ok(again) => assert_eq!(again, addr, "printed as {text:?}"),
            Err(error) => {
                assert!(!bindable, "{addr:?} printed as {text:?}: {error}");
                assert_refused(&error);
            }
        }
    }
}

/// `retry = "..."`: accepted exactly when it is 1 to 7 digits and one of
/// `ms`, `s`, `m`, `h`, and then worth that.
pub fn check_retry(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = pipeline::values::parse_duration(text);
    let split = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected = if (1..=7).contains(&number.len()) {
        let n: u64 = number.parse().expect("digits");
        match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => Some(Duration::from_secs(n * 60)),
            "h" => Some(Duration::from_secs(n * 3600)),
            _ => None,
        }
    } else {
        None
    };
    assert_eq!(parsed, expected, "{text:?}");
}
