//! The expansion calls `restartable::__private`, which may change in any
//! release: the runtime therefore depends on the macro crate at exactly its
//! own version (`=x.y.z`), so that a build can only pair a macro with the
//! runtime whose private paths it was written for.

use std::fs;
use std::path::Path;

fn manifest(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    fs::read_to_string(root.join(path)).unwrap()
}

#[test]
fn the_runtime_pins_the_macro_crate_at_the_workspace_version() {
    let workspace = manifest("Cargo.toml");
    let version = workspace
        .lines()
        .skip_while(|line| *line != "[workspace.package]")
        .find_map(|line| line.strip_prefix("version = "))
        .map(|quoted| quoted.trim_matches('"').to_owned())
        .expect("a workspace version");
    let macros = manifest("macros/Cargo.toml");
    assert!(
        macros.contains("version.workspace = true"),
        "the macro crate takes the workspace version"
    );
    let runtime = manifest("runtime/Cargo.toml");
    let pin = runtime
        .lines()
        .find(|line| line.starts_with("restartable-macros = "))
        .expect("the runtime depends on the macro crate");
    assert!(
        pin.contains(&format!("version = \"={version}\"")),
        "{pin}: expected version = \"={version}\""
    );
}
