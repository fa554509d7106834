//! The public API can grow without breaking its users: every public struct with public fields
//! and every public enum of the hand-written library and of the emulator
//! (`esp-imports-sandbox`) is `#[non_exhaustive]` (callers build them
//! with constructors, `Default` and `with_*` methods, and match them with a `_` arm), and the
//! crate root exports no retry internals. The generated code (`<vendor>::api`) is progenitor's
//! and not checked here.
//!
//! The check reads the source with syn, so a new type or a removed attribute fails it without
//! anything to keep in sync.

use std::path::{Path, PathBuf};

use syn::{Attribute, Fields, Item, Visibility};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn non_exhaustive(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("non_exhaustive"))
}

fn public(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

/// `(file, type)` of every public type in `items` that a caller could build or match
/// exhaustively without `#[non_exhaustive]`.
fn exhaustive_types(file: &Path, items: &[Item], found: &mut Vec<(String, String)>) {
    for item in items {
        let (name, open) = match item {
            Item::Struct(s) if public(&s.vis) => {
                let public_fields = match &s.fields {
                    Fields::Named(f) => f.named.iter().any(|f| public(&f.vis)),
                    Fields::Unnamed(f) => f.unnamed.iter().any(|f| public(&f.vis)),
                    Fields::Unit => true,
                };
                (
                    s.ident.to_string(),
                    public_fields && !non_exhaustive(&s.attrs),
                )
            }
            Item::Enum(e) if public(&e.vis) => (e.ident.to_string(), !non_exhaustive(&e.attrs)),
            Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    if !m.ident.to_string().contains("test") {
                        exhaustive_types(file, items, found);
                    }
                }
                continue;
            }
            _ => continue,
        };
        if open {
            found.push((file.display().to_string(), name));
        }
    }
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap();
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_public_type_that_may_grow_is_non_exhaustive() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    // The emulator is published too, for the users' own tests.
    sources(&root.join("sandbox/src"), &mut files);
    files.sort();
    assert!(
        files.len() > 15,
        "the library's and the emulator's sources: {files:?}"
    );
    let mut found = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap();
        exhaustive_types(relative, &parse(file).items, &mut found);
    }
    assert!(
        found.is_empty(),
        "public types without #[non_exhaustive] (add it, with a constructor where callers \
         need one): {found:#?}"
    );
}

#[test]
fn the_check_sees_a_type_without_the_attribute() {
    let file: syn::File = syn::parse_str(
        "pub struct Open { pub a: u8 }
         #[non_exhaustive] pub struct Closed { pub a: u8 }
         pub struct Opaque(String);
         pub(crate) struct Private { pub a: u8 }
         pub enum Kind { A }
         mod inner { pub enum Deep { B } }",
    )
    .unwrap();
    let mut found = Vec::new();
    exhaustive_types(Path::new("x.rs"), &file.items, &mut found);
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["Open", "Kind", "Deep"]);
}

#[test]
fn the_root_exports_no_retry_internals_nor_generated_globs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = parse(&root.join("src/lib.rs"));
    let exported: Vec<String> = lib
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Use(u) if public(&u.vis) => Some(quote_tree(&u.tree)),
            _ => None,
        })
        .collect();
    for internal in ["Decision", "Outcome", "parse_retry_after"] {
        assert!(
            !exported.iter().any(|e| e.contains(internal)),
            "{internal} is exported at the root: {exported:?}"
        );
    }
    // Nor does any module (the generated code is its vendor's `api` module, not glob
    // re-exported beside the hand-written layer, as `generated_client!` once did).
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    for file in files {
        for item in parse(&file).items {
            let glob = match &item {
                Item::Use(u) => public(&u.vis) && quote_tree(&u.tree).ends_with('*'),
                Item::Macro(m) => {
                    let body = m.mac.tokens.to_string();
                    body.contains("pub use") && body.contains(":: *")
                }
                _ => false,
            };
            assert!(!glob, "{} re-exports a glob", file.display());
        }
    }
}

/// A `use` tree as text (`a::b::{c, d}`).
fn quote_tree(tree: &syn::UseTree) -> String {
    match tree {
        syn::UseTree::Path(p) => format!("{}::{}", p.ident, quote_tree(&p.tree)),
        syn::UseTree::Name(n) => n.ident.to_string(),
        syn::UseTree::Rename(r) => format!("{} as {}", r.ident, r.rename),
        syn::UseTree::Glob(_) => "*".into(),
        syn::UseTree::Group(g) => {
            let inner: Vec<String> = g.items.iter().map(quote_tree).collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}
