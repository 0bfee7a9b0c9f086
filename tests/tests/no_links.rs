//! The tree has no symbolic links: checked out on Windows without
//! `core.symlinks` they become text files holding the link's target, and a
//! crate's package could then ship that text as its license. The files the
//! packages need twice are real copies, checked equal here.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the project's root")
        .to_owned()
}

/// Every symbolic link under `dir`, as a path relative to `root`; build
/// output and git's own files are not looked at.
fn links(root: &Path, dir: &Path, found: &mut Vec<String>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a readable entry");
        let path = entry.path();
        let kind = entry.file_type().expect("a file type");
        let name = entry.file_name();
        if kind.is_symlink() {
            let relative = path.strip_prefix(root).expect("under the root");
            found.push(relative.to_string_lossy().replace('\\', "/"));
        } else if kind.is_dir() && name != "target" && name != ".git" {
            links(root, &path, found);
        }
    }
}

#[test]
fn the_tree_has_no_symbolic_links() {
    let root = root();
    let mut found = Vec::new();
    links(&root, &root, &mut found);
    found.sort();
    assert!(
        found.is_empty(),
        "symbolic links in the tree (make each a real file, checked by a test): {found:?}"
    );
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_package_has_the_root_licenses() {
    for package in ["macros", "runtime"] {
        for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(
                read(&format!("{package}/{license}")) == read(license),
                "{package}/{license} differs from {license}: copy the root one over it"
            );
        }
    }
}

#[test]
fn the_macro_and_the_runtime_have_the_same_messages() {
    // Each crate compiles its own copy (a package cannot include a file
    // outside itself); the texts are the same in both.
    assert!(
        read("macros/src/messages.rs") == read("runtime/src/messages.rs"),
        "macros/src/messages.rs differs from runtime/src/messages.rs: they are one text, \
         edit both"
    );
}

#[test]
fn the_macro_and_the_runtime_have_the_same_policy_table() {
    // The expansion writes out the macro's copy, the builder compiles the
    // runtime's: one table, so that both give a target the same policy.
    assert!(
        read("macros/src/policy_table.rs") == read("runtime/src/policy_table.rs"),
        "macros/src/policy_table.rs differs from runtime/src/policy_table.rs: they are one \
         table, edit both"
    );
}
