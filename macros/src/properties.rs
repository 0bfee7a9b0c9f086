//! Property test: the whole expansion, fed arbitrary attribute arguments and
//! items, never panics, and what it emits is always a token stream that
//! parses as items (the function, and errors as `compile_error!`). Inputs are
//! drawn from a fixed-seed generator, so a failure names a seed and a case
//! that reproduce it; `RESTARTABLE_PROPERTY_CASES` sets how many are run. An
//! input that ever breaks a property is to be kept as a UI case under
//! tests/ui once fixed (none has so far).

use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;

use proc_macro2::TokenStream;

use crate::expand::restartable_listener;

/// xorshift64*: small, deterministic, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "port",
    "port_env",
    "host",
    "addr",
    "backlog",
    "only_v6",
    "nonblocking",
    "reuse_port",
    "exclusive",
    "inherit",
    "retry",
    "configure",
    "crate",
    "prt",
    "r#port",
    "self",
    "_",
    "PORT",
    "fn",
    "r#crate",
];

const VALUES: &[&str] = &[
    "0",
    "1",
    "8080",
    "65535",
    "65536",
    "-1",
    "- 1",
    "--1",
    "8080u16",
    "8080u32",
    "8080i32",
    "0x1F90",
    "0o17",
    "0b1",
    "1_000",
    "99999999999999999999999999",
    "80.5",
    "1e3",
    "\"8080\"",
    "\"\"",
    "\"PORT\"",
    "\"MY-PORT\"",
    "\"9PORT\"",
    "\"0.0.0.0\"",
    "\"::\"",
    "\"::1\"",
    "\"127.0.0.1\"",
    "\"127.0.0.1:8080\"",
    "\"[::1]:0\"",
    "\"[::1]\"",
    "\"localhost\"",
    "\"fe80::1%2\"",
    "\"::ffff:1.2.3.4\"",
    "\"1.2.3.4.5\"",
    "\"a b\"",
    "\"::restartable\"",
    "\"a::\"",
    "\"crate\"",
    "\"self::x\"",
    "true",
    "false",
    "True",
    "b\"x\"",
    "'c'",
    "b'c'",
    "c\"x\"",
    "r\"raw\"",
    "PORT",
    "port",
    "self",
    "crate",
    "super::PORT",
    "<u16>::MAX",
    "u16::MAX",
    "|s: &Socket| s.set_keepalive(true)",
    "|| ()",
    "f()",
    "[1, 2]",
    "(1, 2)",
    "{ 1 }",
    "if x { 1 } else { 2 }",
    "x as u16",
    "&x",
    "*x",
    "!x",
    "x?",
    "async {}",
    "loop {}",
    "return",
    "break",
    "..",
    "1..2",
    "#[a] 1",
    "x = 1",
    "vec![1]",
    "\"\\u{0}\"",
    "\"\u{e9}\"",
    "3000000000",
    "2147483647",
    "2147483648",
    "-2147483648",
];

const PUNCT: &[&str] = &[
    ",", "=", ",,", "==", ";", ":", "::", "#", "!", "-", "&", "@", "$",
];

const RETURN_TYPES: &[&str] = &[
    "std::io::Result<std::net::TcpListener>",
    "io::Result<UdpSocket>",
    "Result<T>",
    "Result<Socket, E>",
    "Result<>",
    "Result<'a>",
    "Result<T, U, V>",
    "Result",
    "()",
    "!",
    "impl Trait",
    "dyn Trait",
    "Option<T>",
    "<T as Trait>::Result<X>",
    "Result<[u8; 4]>",
    "Result<fn()>",
    "Result<&'static str>",
    "Result<(A, B)>",
    "crate::Result<X>",
];

const ITEMS: &[&str] = &[
    "fn f() -> RET {}",
    "pub fn f() -> RET {}",
    "pub(crate) fn f() -> RET;",
    "fn f() -> RET;",
    "fn f(port: u16) -> RET {}",
    "fn f(self) -> RET {}",
    "fn f(&mut self, x: u8) -> RET {}",
    "fn f<T>() -> RET {}",
    "fn f<'a>() -> RET {}",
    "fn f<const N: usize>() -> RET {}",
    "fn f() -> RET where T: Copy {}",
    "async fn f() -> RET {}",
    "const fn f() -> RET {}",
    "const async unsafe extern \"C\" fn f() -> RET {}",
    "unsafe fn f() -> RET {}",
    "fn f() -> RET { 1 }",
    "fn f() -> RET { let x = 1; x }",
    "fn f() {}",
    "fn f()",
    "fn f(...) -> RET {}",
    "/// doc\n#[inline] fn f() -> RET {}",
    "struct S;",
    "struct S { x: u8 }",
    "enum E { A }",
    "union U { x: u8 }",
    "impl S {}",
    "impl T for S { fn f() {} }",
    "trait T {}",
    "const C: u8 = 1;",
    "static S: u8 = 1;",
    "mod m {}",
    "type T = u8;",
    "use x::y;",
    "extern crate x;",
    "macro_rules! m { () => {} }",
    "",
    "fn",
    "1 + 1",
    "#[x]",
    "{ }",
];

/// Values each key accepts, so that many inputs get past the checks.
const PLAUSIBLE: &[(&str, &[&str])] = &[
    (
        "port",
        &["0", "8080", "65535u16", "PORT", "port", "BASE + 1"],
    ),
    ("port_env", &["\"PORT\"", "\"_P1\""]),
    (
        "host",
        &[
            "\"127.0.0.1\"",
            "\"::\"",
            "\"::1\"",
            "host",
            "[127, 0, 0, 1]",
        ],
    ),
    ("addr", &["\"127.0.0.1:0\"", "\"[::]:80\"", "ADDR", "addr"]),
    ("backlog", &["1", "1024", "2147483647", "BACKLOG", "n * 2"]),
    ("only_v6", &["true", "false"]),
    ("nonblocking", &["true", "false"]),
    ("reuse_port", &["true", "false"]),
    ("exclusive", &["true", "false"]),
    ("inherit", &["true", "false", "\"http\"", "\"a:b\"", "\"\""]),
    (
        "retry",
        &[
            "\"2s\"",
            "\"1ms\"",
            "\"60m\"",
            "\"1h\"",
            "\"0s\"",
            "\"99999999h\"",
            "\"1.5s\"",
            "\"s\"",
        ],
    ),
    (
        "configure",
        &[
            "keepalive",
            "path::to::f",
            "|s: &Socket| s.set_nodelay(true)",
        ],
    ),
    ("crate", &["\"::restartable\"", "\"facade\"", "\"a::b\""]),
];

const PLAUSIBLE_ITEMS: &[&str] = &[
    "fn f() -> std::io::Result<std::net::TcpListener> {}",
    "pub fn f(port: u16, host: IpAddr) -> io::Result<UdpSocket> {}",
    "/// doc\n#[inline] pub(crate) fn f() -> Result<Socket>;",
    "unsafe fn f(addr: SocketAddr) -> io::Result<T> {}",
    "pub async fn f() -> std::io::Result<tokio::net::TcpListener> {}",
];

fn plausible_args(rng: &mut Rng) -> String {
    let mut out = Vec::new();
    for (key, values) in PLAUSIBLE {
        if rng.below(3) == 0 {
            let value = if rng.below(10) == 0 {
                rng.pick(VALUES)
            } else {
                rng.pick(values)
            };
            out.push(format!("{key} = {value}"));
        }
    }
    out.join(", ")
}

fn args(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        return plausible_args(rng);
    }
    let mut out = String::new();
    for _ in 0..rng.below(6) {
        match rng.below(10) {
            // Mostly well-formed pairs, so that the checks past parsing run.
            0..=6 => {
                out.push_str(rng.pick(KEYS));
                out.push_str(" = ");
                out.push_str(rng.pick(VALUES));
            }
            7 => out.push_str(rng.pick(KEYS)),
            8 => out.push_str(rng.pick(VALUES)),
            _ => out.push_str(rng.pick(PUNCT)),
        }
        out.push_str(if rng.below(8) == 0 { " " } else { ", " });
    }
    out
}

fn item(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        return rng.pick(PLAUSIBLE_ITEMS).to_owned();
    }
    rng.pick(ITEMS).replace("RET", rng.pick(RETURN_TYPES))
}

/// Runs the expansion on one input and checks the properties: no panic;
/// and when the input is an item, as rustc guarantees, the output is items.
fn check(args: &str, item: &str) -> Result<Outcome, String> {
    let (Ok(args), Ok(item)) = (TokenStream::from_str(args), TokenStream::from_str(item)) else {
        // Not valid Rust tokens: the lexer rejects these before any macro.
        return Ok(Outcome::NotTokens);
    };
    let input_is_items = syn::parse2::<syn::File>(item.clone()).is_ok();
    let output = panic::catch_unwind(AssertUnwindSafe(|| restartable_listener(args, item)))
        .map_err(|_| "the expansion panicked".to_owned())?;
    if input_is_items {
        syn::parse2::<syn::File>(output.clone()).map_err(|error| {
            format!("the expansion does not parse as items ({error}): {output}")
        })?;
    }
    Ok(
        if output.to_string().contains("compile_error") && !args_allow_compile_error(&output) {
            Outcome::Rejected
        } else {
            Outcome::Expanded
        },
    )
}

/// How an input ended, for the tally.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    NotTokens,
    Rejected,
    Expanded,
}

/// A successful expansion has `compile_error!` only in its per-target
/// `let policy` branches.
fn args_allow_compile_error(output: &TokenStream) -> bool {
    let text = output.to_string();
    text.matches("compile_error").count()
        == text
            .matches("let policy = :: core :: compile_error")
            .count()
}

#[test]
fn expansion_never_panics_and_always_emits_items() {
    let cases: usize = std::env::var("RESTARTABLE_PROPERTY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let seed = 0x005E_ED0F_2E57_A27A;
    let mut rng = Rng(seed);
    // Silence the default hook: a panic is reported below, with its input.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut tally = [0_usize; 3];
    for case in 0..cases {
        let (args, item) = (args(&mut rng), item(&mut rng));
        match check(&args, &item) {
            Ok(outcome) => tally[outcome as usize] += 1,
            Err(why) => failures.push(format!(
                "case {case}: #[restartable_listener({args})] {item}\n  {why}"
            )),
        }
    }
    panic::set_hook(hook);
    println!(
        "{cases} inputs (seed {seed:#x}): {} not Rust tokens, {} rejected with errors, \
         {} expanded, {} failed a property",
        tally[0],
        tally[1],
        tally[2],
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
