//! The stable public API, as rustdoc documents it, against a committed
//! listing (`tests/data/public-api.txt`).
//!
//! The test runs `cargo doc --no-deps --features tls,scram` (default features
//! plus TLS and SCRAM, *not* `unstable`) into a target directory of its own
//! (so it never waits for the outer cargo's lock) and then checks:
//!
//! 1. the listing (every item of `all.html`, every module and re-export, and
//!    the members of every type and trait: methods, fields, variants,
//!    associated items and trait implementations) equals the fixture. A
//!    mismatch prints the added and removed lines; after a deliberate API
//!    change, rewrite the fixture with
//!    `UPDATE_PUBLIC_API=1 cargo test --test public_api` and commit it;
//! 2. no item lives under `protocol`, `net`, `cluster` or `unstable` (the
//!    lower layers are public only with the `unstable` feature, without any
//!    semver guarantee);
//! 3. no page of the crate links into those layers, and no signature (item
//!    declaration, method or impl header, field) names one of their types: a
//!    stable signature that mentions a lower-layer type shows up either as a
//!    link into them or, when they are private, as an unlinked type name. The
//!    names are read from the sources of the lower layers (`src/protocol`,
//!    `src/net`, `src/cluster`, generated messages included);
//! 4. rustdoc itself has no warning (it is run with `-W missing_docs
//!    -W rustdoc::broken_intra_doc_links -W rustdoc::private_intra_doc_links`):
//!    no missing docs, no broken intra-doc links, and no links from public
//!    docs to private items (the lower layers, in a default build).
//!
//! The first run compiles the dependencies for rustdoc (a minute or two);
//! later runs only re-document the crate. The listing is read from rustdoc's
//! HTML, so a new toolchain may print a line differently (an impl header, a
//! new auto trait): check the diff, then regenerate.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The committed listing, relative to the manifest directory.
const FIXTURE: &str = "tests/data/public-api.txt";

/// Setting this (to anything but `0`) rewrites the fixture instead of
/// comparing with it.
const UPDATE_VAR: &str = "UPDATE_PUBLIC_API";

/// The lower layers: neither items nor links may lead into them.
const LOWER_LAYERS: [&str; 4] = ["protocol", "net", "cluster", "unstable"];

/// Where the lower layers' sources are (their type names are searched for in
/// stable signatures).
const LOWER_SOURCES: [&str; 3] = ["src/protocol", "src/net", "src/cluster"];

/// Auto traits worth pinning (others, such as `Freeze` or `UnsafeUnpin`,
/// come and go with the toolchain).
const AUTO_TRAITS: [&str; 5] = ["Send", "Sync", "Unpin", "UnwindSafe", "RefUnwindSafe"];

#[test]
fn public_api_matches_fixture_and_hides_lower_layers() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (doc, warnings) = build_docs(manifest);
    let pages = crawl(&doc);
    let listing = listing(&doc, &pages);

    let mut failures = Vec::new();

    // (d) rustdoc's own findings: missing docs, broken intra-doc links, and
    // links from public docs to private items (in a default build, the lower
    // layers are private: such a link is broken on docs.rs).
    if !warnings.is_empty() {
        failures.push(format!(
            "rustdoc warns (missing docs, broken links, or public docs linking to private \
             items such as the lower layers):\n{warnings}"
        ));
    }

    // (b) Nothing under the lower layers.
    let lower: Vec<&String> = listing
        .iter()
        .filter(|line| {
            let path = line.split_once(' ').map_or(line.as_str(), |(_, p)| p);
            LOWER_LAYERS
                .iter()
                .any(|l| path == *l || path.starts_with(&format!("{l}::")))
        })
        .collect();
    if !lower.is_empty() {
        failures.push(format!(
            "items of the lower layers are in the stable API (they belong behind the \
             `unstable` feature):\n  {}",
            lower
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }

    // (c) No links into the lower layers, no lower-layer types in signatures.
    let names = lower_layer_type_names(manifest);
    let leaks = leaks(&doc, &pages, &names);
    if !leaks.is_empty() {
        failures.push(format!(
            "the stable API leaks lower-layer types ({} findings; gate the item with \
             #[cfg(feature = \"unstable\")], make it pub(crate), or re-export the type \
             at a stable path):\n  {}",
            leaks.len(),
            leaks.join("\n  ")
        ));
    }

    // (a) The listing against the fixture.
    let fixture_path = manifest.join(FIXTURE);
    let mut text = String::from(
        "# The public API of kafka-blocking (default features + tls + scram), one item a line.\n\
         # Checked by tests/public_api.rs; after a deliberate API change run\n\
         # `UPDATE_PUBLIC_API=1 cargo test --test public_api` and commit this file.\n",
    );
    for line in &listing {
        text.push_str(line);
        text.push('\n');
    }
    if std::env::var(UPDATE_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
        fs::write(&fixture_path, &text).unwrap();
        eprintln!(
            "public_api: wrote {} ({} lines)",
            fixture_path.display(),
            listing.len()
        );
    } else {
        let committed = fs::read_to_string(&fixture_path).unwrap_or_default();
        let old: BTreeSet<&str> = committed
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let new: BTreeSet<&str> = listing.iter().map(String::as_str).collect();
        let added: Vec<&str> = new.difference(&old).copied().collect();
        let removed: Vec<&str> = old.difference(&new).copied().collect();
        if !added.is_empty() || !removed.is_empty() {
            let mut msg = format!(
                "the public API differs from {FIXTURE} ({} added, {} removed):\n",
                added.len(),
                removed.len()
            );
            for l in &added {
                msg.push_str(&format!("  + {l}\n"));
            }
            for l in &removed {
                msg.push_str(&format!("  - {l}\n"));
            }
            msg.push_str(&format!(
                "If the change is deliberate (and semver-compatible, or noted in the CHANGELOG), \
                 update the fixture with `{UPDATE_VAR}=1 cargo test --test public_api` and commit it."
            ));
            failures.push(msg);
        }
    }

    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Runs rustdoc; returns `<target>/doc/kafka_blocking` and rustdoc's
/// warnings (cargo replays them when the docs are up to date).
fn build_docs(manifest: &Path) -> (PathBuf, String) {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-api-doc");
    let out = Command::new(env!("CARGO"))
        .arg("doc")
        .arg("--no-deps")
        .arg("--features")
        .arg("tls,scram")
        .arg("--manifest-path")
        .arg(manifest.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        // Our flags only: a `--document-private-items` from outside would
        // document the private modules. Warnings rather than errors, so that
        // the other checks still run; any warning fails the test below.
        .env_remove("CARGO_ENCODED_RUSTDOCFLAGS")
        .env(
            "RUSTDOCFLAGS",
            "-W missing_docs -W rustdoc::broken_intra_doc_links -W rustdoc::private_intra_doc_links",
        )
        .output()
        .expect("run cargo doc");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "cargo doc --no-deps --features tls,scram failed:\n{stderr}"
    );
    let doc = target.join("doc").join("kafka_blocking");
    assert!(
        doc.join("all.html").is_file(),
        "no {}",
        doc.join("all.html").display()
    );
    let warned = stderr
        .lines()
        .any(|l| l.starts_with("warning") && !l.contains("generated"));
    (doc, if warned { stderr } else { String::new() })
}

/// Every page of the crate reachable from its index and `all.html`, relative
/// to `doc` (with `/` separators). Reachability rather than a directory walk:
/// rustdoc never deletes the pages of items that are gone.
fn crawl(doc: &Path) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = ["index.html", "all.html"]
        .into_iter()
        .map(String::from)
        .collect();
    while let Some(page) = queue.pop_front() {
        if !seen.insert(page.clone()) {
            continue;
        }
        let html = fs::read_to_string(doc.join(&page)).unwrap();
        for href in attrs(&html, "href") {
            if let Some(target) = resolve(&page, &href)
                && target.ends_with(".html")
                && !seen.contains(&target)
                && doc.join(&target).is_file()
            {
                queue.push_back(target);
            }
        }
    }
    seen
}

/// The listing: sorted lines `kind path`.
fn listing(doc: &Path, pages: &BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();

    // Items, from all.html.
    let all = fs::read_to_string(doc.join("all.html")).unwrap();
    for (href, text) in links(&all) {
        let Some(kind) = item_kind(&href) else {
            continue;
        };
        if resolve("all.html", &href).is_some_and(|p| pages.contains(&p)) {
            out.insert(format!("{kind} {}", strip_tags(&text)));
        }
    }

    for page in pages {
        let html = fs::read_to_string(doc.join(page)).unwrap();
        let module = module_path(page);
        let file = page.rsplit('/').next().unwrap();

        // Modules and their re-exports.
        if file == "index.html" {
            if !module.is_empty() {
                out.insert(format!("mod {module}"));
            }
            for (id, at) in ids(&html) {
                if let Some(name) = id.strip_prefix("reexport.") {
                    let code = element_text(&html[at..], "<code>", "</code>");
                    out.insert(format!("reexport {}: {code}", join(&module, name)));
                }
            }
            continue;
        }

        // Members of types and traits.
        let Some((kind, name)) = file.strip_suffix(".html").and_then(|f| f.split_once('.')) else {
            continue;
        };
        if !matches!(kind, "struct" | "enum" | "union" | "trait") {
            continue;
        }
        let owner = join(&module, name);
        // Own members only: stop at the methods reached through `Deref`
        // (the target's, e.g. all of `[u8]`'s), at the trait implementations
        // (listed below from their headers) and, on trait pages, at the
        // implementors.
        let own_end = [
            "id=\"deref-methods",
            "id=\"trait-implementations\"",
            "id=\"synthetic-implementations\"",
            "id=\"blanket-implementations\"",
            "id=\"foreign-impls\"",
            "id=\"implementors\"",
        ]
        .iter()
        .filter_map(|m| html.find(m))
        .min()
        .unwrap_or(html.len());
        for (id, at) in ids(&html) {
            if at >= own_end {
                break;
            }
            let Some((prefix, rest)) = id.split_once('.') else {
                continue;
            };
            let rest = dedup_suffix(rest);
            let member = match prefix {
                "method" => "method",
                "tymethod" => "method",
                "structfield" => "field",
                "associatedconstant" => "const",
                "associatedtype" => "type",
                "variant" if rest.contains(".field.") => {
                    let (v, f) = rest.split_once(".field.").unwrap();
                    out.insert(format!("field {owner}::{v}::{f}"));
                    continue;
                }
                "variant" if !rest.contains('.') => "variant",
                _ => continue,
            };
            out.insert(format!("{member} {owner}::{rest}"));
        }
        // Trait implementations (not the blanket ones; auto traits only as
        // listed in AUTO_TRAITS; not `StructuralPartialEq`).
        let blanket = html
            .find("id=\"blanket-implementations\"")
            .unwrap_or(html.len());
        for section in [
            "id=\"trait-implementations\"",
            "id=\"synthetic-implementations\"",
        ] {
            let Some(start) = html.find(section) else {
                continue;
            };
            let auto = section.contains("synthetic");
            let end = if auto {
                blanket
            } else {
                html.find("id=\"synthetic-implementations\"")
                    .unwrap_or(blanket)
            };
            if end <= start {
                continue;
            }
            for header in fragments(&html[start..end], "<h3 class=\"code-header\">", "</h3>") {
                let header = strip_tags(&header.text);
                // A compiler-internal marker of derived `PartialEq`.
                if header.contains("StructuralPartialEq") {
                    continue;
                }
                if auto
                    && !AUTO_TRAITS.iter().any(|t| {
                        header.starts_with(&format!("impl {t} for"))
                            || header.starts_with(&format!("impl !{t} for"))
                            || header.contains(&format!("> {t} for"))
                            || header.contains(&format!("> !{t} for"))
                    })
                {
                    continue;
                }
                out.insert(format!("impl {owner}: {header}"));
            }
        }
    }
    out.into_iter().collect()
}

/// The findings of check (c), one line each: page, item, what.
fn leaks(doc: &Path, pages: &BTreeSet<String>, names: &BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for page in pages {
        if let Some(top) = page.split('/').next()
            && page.contains('/')
            && LOWER_LAYERS.contains(&top)
        {
            out.insert(format!("{page}: page of a lower layer"));
        }
        let html = fs::read_to_string(doc.join(page)).unwrap();
        let ids = ids(&html);
        let item_at = |at: usize| -> String {
            // The innermost id before `at` names the member (method.x,
            // structfield.y, impl-From<..>, ...); else the page's item.
            ids.iter()
                .rev()
                .find(|(id, pos)| *pos <= at && is_member_id(id))
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "(item)".to_string())
        };

        // Every link on the page, prose included.
        let mut pos = 0;
        while let Some(i) = html[pos..].find("href=\"") {
            let start = pos + i + 6;
            let end = start + html[start..].find('"').unwrap();
            let href = &html[start..end];
            pos = end;
            if let Some(target) = resolve(page, href)
                && let Some(top) = target.split('/').next()
                && target.contains('/')
                && LOWER_LAYERS.contains(&top)
            {
                out.insert(format!("{page} [{}]: links to {target}", item_at(start)));
            }
        }

        // Signatures: unlinked lower-layer type names.
        let mut sigs = Vec::new();
        for (open, close) in [
            ("<pre class=\"rust item-decl\">", "</pre>"),
            ("<h3 class=\"code-header\">", "</h3>"),
            ("<h4 class=\"code-header\">", "</h4>"),
        ] {
            sigs.extend(fragments(&html, open, close));
        }
        for (id, at) in &ids {
            if id.starts_with("structfield.") || id.contains(".field.") {
                sigs.extend(
                    fragments(&html[*at..], "<code>", "</code>")
                        .into_iter()
                        .take(1)
                        .map(|mut f| {
                            f.at += at;
                            f
                        }),
                );
            }
        }
        // The page's own item and its variants are named without a link.
        let mut own: BTreeSet<String> = ids
            .iter()
            .filter_map(|(id, _)| id.strip_prefix("variant."))
            .filter(|v| !v.contains('.'))
            .map(String::from)
            .collect();
        if let Some((_, name)) = page
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".html"))
            .and_then(|f| f.split_once('.'))
        {
            own.insert(name.to_string());
        }
        for f in sigs {
            let unlinked = strip_tags(&remove_links(&f.text));
            for word in identifiers(&unlinked) {
                if names.contains(word) && !own.contains(word) {
                    out.insert(format!(
                        "{page} [{}]: `{word}` (a lower-layer type) in `{}`",
                        item_at(f.at),
                        strip_tags(&f.text)
                    ));
                }
            }
        }
    }
    out.into_iter().collect()
}

fn is_member_id(id: &str) -> bool {
    [
        "method.",
        "tymethod.",
        "structfield.",
        "variant.",
        "associatedconstant.",
        "associatedtype.",
        "impl-",
        "reexport.",
    ]
    .iter()
    .any(|p| id.starts_with(p))
}

/// The public type names (structs, enums, traits, unions, type aliases) of
/// the lower layers' sources.
fn lower_layer_type_names(manifest: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = fs::read_to_string(&path).unwrap();
                for line in src.lines() {
                    let line = line.trim_start();
                    for kw in [
                        "pub struct ",
                        "pub enum ",
                        "pub trait ",
                        "pub union ",
                        "pub type ",
                    ] {
                        if let Some(rest) = line.strip_prefix(kw) {
                            let name: String = rest
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            if !name.is_empty() {
                                out.insert(name);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for dir in LOWER_SOURCES {
        walk(&manifest.join(dir), &mut out);
    }
    assert!(
        [
            "Cluster",
            "Connection",
            "ConnectionPool",
            "BrokerAddress",
            "MetadataRequest"
        ]
        .iter()
        .all(|n| out.contains(*n)),
        "the lower layers' type names were not found under {LOWER_SOURCES:?}"
    );
    out
}

// ---- small HTML helpers (rustdoc's output is regular enough) ----

/// A piece of a page and where it starts.
struct Fragment {
    at: usize,
    text: String,
}

/// The contents of every `open ... close` element (no nesting of the same tag).
fn fragments(html: &str, open: &str, close: &str) -> Vec<Fragment> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find(open) {
        let start = pos + i + open.len();
        let Some(len) = html[start..].find(close) else {
            break;
        };
        out.push(Fragment {
            at: start,
            text: html[start..start + len].to_string(),
        });
        pos = start + len + close.len();
    }
    out
}

/// The text of the first `open ... close` element of `html`.
fn element_text(html: &str, open: &str, close: &str) -> String {
    fragments(html, open, close)
        .into_iter()
        .next()
        .map(|f| strip_tags(&f.text))
        .unwrap_or_default()
}

/// Every `id="..."` of the page with its position, in page order.
fn ids(html: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find(" id=\"") {
        let start = pos + i + 5;
        let end = start + html[start..].find('"').unwrap();
        out.push((unescape(&html[start..end]), start));
        pos = end;
    }
    out
}

/// Every value of attribute `name`.
fn attrs(html: &str, name: &str) -> Vec<String> {
    let pat = format!(" {name}=\"");
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find(&pat) {
        let start = pos + i + pat.len();
        let end = start + html[start..].find('"').unwrap();
        out.push(unescape(&html[start..end]));
        pos = end;
    }
    out
}

/// Every `<a href="...">text</a>` as (href, inner HTML).
fn links(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find("<a href=\"") {
        let start = pos + i + 9;
        let end = start + html[start..].find('"').unwrap();
        let href = unescape(&html[start..end]);
        let body = end + html[end..].find('>').unwrap() + 1;
        let close = body + html[body..].find("</a>").unwrap();
        out.push((href, html[body..close].to_string()));
        pos = close;
    }
    out
}

/// `html` without its `<a ...>...</a>` elements (linked names are checked
/// through their hrefs).
fn remove_links(html: &str) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find("<a ") {
        out.push_str(&html[pos..pos + i]);
        match html[pos + i..].find("</a>") {
            Some(j) => pos = pos + i + j + 4,
            None => {
                pos = html.len();
            }
        }
    }
    out.push_str(&html[pos..]);
    out
}

/// Text content: tags removed, entities decoded, whitespace collapsed.
fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut tag: Option<String> = None;
    for c in html.chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(t), '>') => {
                // `<div class="where">` (and `<br>`) separate words.
                let name = t.trim_start_matches('/');
                if name.starts_with("div") || name.starts_with("br") {
                    text.push(' ');
                }
                tag = None;
            }
            (Some(t), c) => t.push(c),
            (None, c) => text.push(c),
        }
    }
    unescape(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// `href` (relative to `page`) as a path relative to the crate's doc
/// directory; `None` for external links and links out of the crate.
fn resolve(page: &str, href: &str) -> Option<String> {
    if href.contains("://") || href.starts_with('#') || href.starts_with("javascript:") {
        return None;
    }
    let href = href.split(['#', '?']).next().unwrap();
    if href.is_empty() {
        return None;
    }
    let base = Path::new(page).parent().unwrap_or(Path::new(""));
    let mut parts: Vec<String> = Vec::new();
    for c in base.join(href).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                // Out of the crate's directory (static files, other crates, sources).
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.join("/"))
}

/// The item kind of an `all.html` link (`admin/struct.AdminClient.html`).
fn item_kind(href: &str) -> Option<&'static str> {
    let file = href.rsplit('/').next()?;
    let kinds: BTreeMap<&str, &str> = [
        ("struct", "struct"),
        ("enum", "enum"),
        ("union", "union"),
        ("trait", "trait"),
        ("traitalias", "trait-alias"),
        ("fn", "fn"),
        ("macro", "macro"),
        ("type", "type"),
        ("constant", "const"),
        ("static", "static"),
        ("attr", "attr"),
        ("derive", "derive"),
        ("primitive", "primitive"),
    ]
    .into_iter()
    .collect();
    kinds.get(file.split('.').next()?).copied()
}

/// `admin/struct.AdminClient.html` -> `admin`; `index.html` -> ``.
fn module_path(page: &str) -> String {
    match page.rsplit_once('/') {
        Some((dir, _)) => dir.replace('/', "::"),
        None => String::new(),
    }
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_string()
    } else {
        format!("{module}::{name}")
    }
}

/// rustdoc numbers repeated ids (`method.new-1`).
fn dedup_suffix(id: &str) -> &str {
    match id.rsplit_once('-') {
        Some((base, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => base,
        _ => id,
    }
}

#[test]
fn resolve_stays_inside_the_crate_docs() {
    assert_eq!(
        resolve(
            "consumer/struct.Consumer.html",
            "../protocol/records/struct.Header.html"
        ),
        Some("protocol/records/struct.Header.html".to_string())
    );
    assert_eq!(
        resolve("index.html", "unstable/net/index.html#x"),
        Some("unstable/net/index.html".to_string())
    );
    assert_eq!(
        resolve("index.html", "../src/kafka_blocking/lib.rs.html"),
        None
    );
    assert_eq!(resolve("a/b.html", "https://docs.rs/x"), None);
    assert_eq!(
        strip_tags("pub fn <a href=\"#x\">x</a>(&amp;self) -&gt; &amp;Cluster"),
        "pub fn x(&self) -> &Cluster"
    );
    assert_eq!(
        remove_links("a <a class=\"struct\" href=\"x\">Cluster</a> b"),
        "a  b"
    );
}

/// The checks themselves, on a hand-made doc tree: a leaked type in a
/// signature and a link into a lower layer are found, a linked stable type
/// and the page's own name are not.
#[test]
fn leak_checks_find_leaks() {
    let doc = Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-api-selftest");
    let _ = fs::remove_dir_all(&doc);
    fs::create_dir_all(doc.join("admin")).unwrap();
    fs::write(
        doc.join("index.html"),
        r#"<a href="admin/index.html">admin</a><a href="all.html">all</a>"#,
    )
    .unwrap();
    fs::write(
        doc.join("all.html"),
        r#"<ul class="all-items"><li><a href="admin/struct.Admin.html">admin::Admin</a></li></ul>"#,
    )
    .unwrap();
    fs::write(
        doc.join("admin/index.html"),
        r#"<a href="struct.Admin.html">Admin</a>"#,
    )
    .unwrap();
    fs::write(
        doc.join("admin/struct.Admin.html"),
        r##"<pre class="rust item-decl"><code>pub struct Admin { /* private fields */ }</code></pre>
<div class="docblock"><p>Uses a <a href="../unstable/net/struct.Connection.html">Connection</a>.</p></div>
<h2 id="implementations">Implementations</h2><div id="implementations-list">
<section id="method.cluster" class="method"><h4 class="code-header">pub fn <a href="#method.cluster" class="fn">cluster</a>(&amp;self) -&gt; &amp;Cluster</h4></section>
<section id="method.topic" class="method"><h4 class="code-header">pub fn <a href="#method.topic" class="fn">topic</a>(&amp;self) -&gt; <a class="struct" href="../struct.Cluster.html">Cluster</a></h4></section>
</div>
<h2 id="trait-implementations">Trait Implementations</h2><div id="trait-implementations-list">
<section id="impl-Clone-for-Admin"><h3 class="code-header">impl <a class="trait" href="https://doc.rust-lang.org/core/clone/trait.Clone.html">Clone</a> for <a class="struct" href="struct.Admin.html">Admin</a></h3></section>
</div>"##,
    )
    .unwrap();

    let pages = crawl(&doc);
    assert_eq!(
        pages.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "admin/index.html",
            "admin/struct.Admin.html",
            "all.html",
            "index.html"
        ]
    );
    assert_eq!(
        listing(&doc, &pages),
        [
            "impl admin::Admin: impl Clone for Admin",
            "method admin::Admin::cluster",
            "method admin::Admin::topic",
            "mod admin",
            "struct admin::Admin",
        ]
    );
    let names: BTreeSet<String> = ["Admin", "Cluster", "Connection"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        leaks(&doc, &pages, &names),
        [
            "admin/struct.Admin.html [(item)]: links to unstable/net/struct.Connection.html",
            "admin/struct.Admin.html [method.cluster]: `Cluster` (a lower-layer type) in \
             `pub fn cluster(&self) -> &Cluster`",
        ]
    );
}
