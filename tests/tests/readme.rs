//! The README is read in three places: on crates.io, which has the file and
//! no repository to resolve a relative link against; on docs.rs, where it is
//! the crate's front page; and in a clone. Its links work in all three: each
//! is an anchor of the README itself or an absolute URL, and those to the
//! documentation pages are docs.rs URLs of modules of `restartable::docs`,
//! which `runtime/src/lib.rs` defines again as intra-doc links (the first
//! definition of a label wins, so on docs.rs they lead to the same version's
//! pages). The pages link to each other and to the README in the same way
//! rustdoc resolves. Also: the README's length, and its test command, which
//! is the one CI runs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const README: &str = include_str!("../../README.md");
const LIB: &str = include_str!("../../runtime/src/lib.rs");
const DOCS_MODULE: &str = include_str!("../../runtime/src/docs.rs");
const CI: &str = include_str!("../../.ci/run");

/// Where docs.rs has the pages of `restartable::docs`.
const PAGES: &str = "https://docs.rs/restartable/latest/restartable/docs/";

/// The lines of `markdown` outside fenced code blocks.
fn prose(markdown: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    markdown.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// `line` without its code spans.
fn without_code(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// The anchors rustdoc gives the headings of `markdown` (docs.rs's ids:
/// lowercase letters and digits, `-` and `_` kept, a space as `-`; the
/// same as a Markdown renderer's on crates.io for these headings).
fn anchors(markdown: &str) -> Vec<String> {
    prose(markdown)
        .filter_map(|line| {
            let text = line.trim_start_matches('#');
            (text.len() < line.len() && text.starts_with(' ')).then_some(text.trim())
        })
        .map(|text| {
            text.chars()
                .filter_map(|c| match c {
                    c if c.is_alphanumeric() || c == '-' || c == '_' => {
                        Some(c.to_ascii_lowercase())
                    }
                    ' ' => Some('-'),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// The targets of the inline links `[text](target)` of `markdown`.
fn inline_links(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(markdown) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            found.push(rest[..end].to_owned());
        }
    }
    found
}

/// The link reference definitions `[label]: target` of `markdown`, in order.
fn definitions(markdown: &str) -> Vec<(String, String)> {
    prose(markdown)
        .filter_map(|line| {
            let (label, target) = line.strip_prefix('[')?.split_once("]: ")?;
            let target = target.trim();
            let plain = |text: &str| !text.contains(['[', ']', ' ', '`']);
            (plain(label) && plain(target)).then(|| (label.to_lowercase(), target.to_owned()))
        })
        .collect()
}

/// The pages of `restartable::docs`: module name and the file its docs come
/// from, as `runtime/src/docs.rs` declares them.
fn pages() -> BTreeMap<String, String> {
    let mut pages = BTreeMap::new();
    let mut file = None;
    for line in DOCS_MODULE.lines() {
        if let Some(rest) = line.strip_prefix("#[doc = include_str!(\"../docs/") {
            file = rest.strip_suffix("\")]").map(str::to_owned);
        } else if let Some(rest) = line.strip_prefix("pub mod ") {
            let name = rest
                .strip_suffix(" {}")
                .expect("a page is a module with no items");
            let file = file.take().expect("each page's docs come from a file");
            pages.insert(name.to_owned(), file);
        }
    }
    pages
}

/// The text of a page's file.
fn page_text(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/docs")
        .join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A page (`None`: the index, `restartable::docs` itself) and an anchor on
/// it, from a docs.rs URL of this crate's pages.
fn page_of_url(url: &str) -> Result<(Option<String>, Option<String>), String> {
    let rest = url
        .strip_prefix(PAGES)
        .ok_or_else(|| format!("{url} is not a page of restartable::docs ({PAGES}…)"))?;
    let (path, anchor) = match rest.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor.to_owned())),
        None => (rest, None),
    };
    if path == "index.html" {
        return Ok((None, anchor));
    }
    let module = path
        .strip_suffix("/index.html")
        .ok_or_else(|| format!("{url}: a page's URL ends in <module>/index.html"))?;
    Ok((Some(module.to_owned()), anchor))
}

/// Whether `anchor` (if any) is a heading of the page `module` (`None`: the
/// index).
fn check_anchor(module: Option<&str>, anchor: Option<&str>) -> Result<(), String> {
    let pages = pages();
    let file = match module {
        None => "README.md",
        Some(module) => pages
            .get(module)
            .ok_or_else(|| format!("restartable::docs has no page `{module}`: {pages:?}"))?,
    };
    match anchor {
        Some(anchor) if !anchors(&page_text(file)).iter().any(|a| a == anchor) => Err(format!(
            "runtime/docs/{file} has no heading whose anchor is #{anchor}"
        )),
        _ => Ok(()),
    }
}

#[test]
fn every_readme_link_is_an_anchor_of_it_or_an_absolute_url() {
    let readme_anchors = anchors(README);
    let targets = inline_links(README)
        .into_iter()
        .chain(definitions(README).into_iter().map(|(_, target)| target));
    let mut wrong = Vec::new();
    for target in targets {
        if let Some(anchor) = target.strip_prefix('#') {
            if !readme_anchors.iter().any(|a| a == anchor) {
                wrong.push(format!("{target}: the README has no such heading"));
            }
        } else if target.starts_with("https://docs.rs/restartable/") {
            let checked = page_of_url(&target)
                .and_then(|(module, anchor)| check_anchor(module.as_deref(), anchor.as_deref()));
            if let Err(why) = checked {
                wrong.push(why);
            }
        } else if !target.starts_with("https://") {
            wrong.push(format!(
                "{target}: a relative link leads nowhere on crates.io, and a file outside \
                 runtime/ is not in the package; link a page of restartable::docs by its \
                 docs.rs URL, or name the file as text"
            ));
        }
    }
    assert!(wrong.is_empty(), "README.md's links:\n{}", wrong.join("\n"));
}

#[test]
fn the_readme_links_to_pages_and_the_crate_docs_define_the_same_labels() {
    // The crate docs are the README after these definitions, which rustdoc
    // resolves as intra-doc links.
    let crate_docs = LIB
        .lines()
        .filter_map(|line| line.strip_prefix("#![doc = \"")?.strip_suffix("\"]"))
        .collect::<Vec<_>>()
        .join("\n");
    let in_crate: BTreeMap<String, String> = definitions(&crate_docs).into_iter().collect();
    let mut in_readme = BTreeMap::new();
    for (label, url) in definitions(README) {
        if url.starts_with("https://docs.rs/restartable/") {
            let (module, anchor) = page_of_url(&url).unwrap();
            let mut path = String::from("crate::docs");
            if let Some(module) = module {
                path = format!("{path}::{module}");
            }
            if let Some(anchor) = anchor {
                path = format!("{path}#{anchor}");
            }
            in_readme.insert(label, path);
        }
    }
    assert!(!in_readme.is_empty(), "README.md links to no page");
    assert_eq!(
        in_readme, in_crate,
        "the README's links to pages (left, as the intra-doc links they should be) and the \
         definitions before the README in runtime/src/lib.rs (right) differ"
    );
}

#[test]
fn each_page_s_links_resolve_on_docs_rs() {
    let pages = pages();
    assert!(!pages.is_empty(), "runtime/src/docs.rs declares no page");
    let mut wrong = Vec::new();
    for file in pages.values().map(String::as_str).chain(["README.md"]) {
        for target in inline_links(&page_text(file)) {
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let checked = if target.starts_with("https://") {
                Ok(())
            } else if path == "crate" {
                match anchor {
                    Some(anchor) if !anchors(README).iter().any(|a| a == anchor) => Err(format!(
                        "the README has no heading whose anchor is #{anchor}"
                    )),
                    _ => Ok(()),
                }
            } else if let Some(module) = path.strip_prefix("crate::docs::") {
                check_anchor(Some(module), anchor)
            } else if path.starts_with("crate::") || path.starts_with("std::") {
                Ok(()) // an item: rustdoc checks it
            } else {
                Err(String::from(
                    "not an intra-doc link: a file's path leads nowhere on docs.rs",
                ))
            };
            if let Err(why) = checked {
                wrong.push(format!("runtime/docs/{file}: ({target}): {why}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_readme_fits_in_300_lines() {
    // For deciding and starting; the rest is in the pages it links.
    let lines = README.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; move what a user deciding and starting does not \
         need to a page of restartable::docs (runtime/docs/) and link it"
    );
}

#[test]
fn the_readme_s_test_command_is_the_one_ci_runs() {
    let section = README
        .split("\n## Tests\n")
        .nth(1)
        .expect("README.md has a Tests section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let command = section
        .split("```sh\n")
        .nth(1)
        .and_then(|block| block.split("\n```").next())
        .expect("the Tests section shows its command in a ```sh block");
    assert!(
        !command.contains('\n'),
        "the Tests section shows one command, not:\n{command}"
    );
    assert!(
        CI.lines().any(|line| line.trim() == command),
        ".ci/run does not run `{command}` as a line of its own, as the README shows it"
    );
}
