//! Turns on `#[diagnostic::on_unimplemented]` where the compiler knows it
//! (Rust 1.78 and later), so that an unsupported return type gets a message
//! that lists the supported ones. Older compilers reject the attribute.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|version| {
            // "rustc 1.78.0 (...)" -> 78
            let mut parts = version.split_whitespace().nth(1)?.split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            (major == 1).then_some(minor)
        });
    if minor.is_some_and(|minor| minor >= 78) {
        println!("cargo:rustc-cfg=restartable_diagnostic_namespace");
    }
}
