//! The layout rules of `src/` (issue: "the code laid out by who runs it"), checked on the
//! sources themselves:
//!
//! - no import circle between files of `src/` (a file's imports are the `crate::…`, `super::…`
//!   and `self::…` paths it names, resolved to the file that defines the module);
//! - `src/party/` (what holders, subjects, banks and auditors run) never imports `src/server/`;
//! - no file under `src/` is longer than 650 lines unless its opening comment says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["server", "routes", "bank"]`) → file, for every `.rs` under `src/` but
/// `main.rs`.
fn modules() -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                let mut pre = prefix.to_vec();
                pre.push(name);
                walk(&p, &pre, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let mut m = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    m.push(name.clone());
                }
                if name != "main" || !prefix.is_empty() {
                    out.insert(m, p);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        &[],
        &mut out,
    );
    out
}

/// The code of a file without comments and string literals (good enough for paths).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            if c == '\\' {
                chars.next();
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            continue;
        }
        out.push(c);
    }
    out
}

/// Every path a file names: `crate::a::b`, `super::x`, and the items of `use p::{a, b::c}`
/// groups (one level of nesting is enough for this code base; rustfmt keeps groups flat).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|s| {
                let s: Vec<char> = s.chars().collect();
                bytes[i..].starts_with(&s) && (i == 0 || !is_ident(bytes[i - 1]))
            })
            .copied();
        // A bare `name::…` (not after `::` or an identifier) is relative to this module: a
        // child module, or something outside the crate (which resolves to no other file).
        let bare = starts.is_none()
            && is_ident(bytes[i])
            && !bytes[i].is_ascii_digit()
            && (i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == ':'))
            && {
                let mut k = i;
                while k < bytes.len() && is_ident(bytes[k]) {
                    k += 1;
                }
                bytes[k..].starts_with(&[':', ':'])
            };
        let start = match starts {
            Some(s) => s,
            None if bare => "",
            None => {
                i += 1;
                continue;
            }
        };
        let mut j = i;
        let mut segs = vec![if start.is_empty() {
            "self".to_string()
        } else {
            start.trim_end_matches("::").to_string()
        }];
        j += start.len();
        loop {
            let s = j;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if j > s {
                segs.push(bytes[s..j].iter().collect());
            }
            let group_next = j < bytes.len() && bytes[j] == '{';
            if group_next || bytes[j..].starts_with(&[':', ':']) {
                if !group_next {
                    j += 2;
                }
                if j < bytes.len() && bytes[j] == '{' {
                    let end = (j..bytes.len()).find(|k| bytes[*k] == '}').unwrap_or(j);
                    let group: String = bytes[j + 1..end].iter().collect();
                    for item in group.split(',') {
                        let item = item.split(" as ").next().unwrap().trim();
                        if item.is_empty() {
                            continue;
                        }
                        let mut p = segs.clone();
                        p.extend(item.split("::").map(|x| x.trim().to_string()));
                        out.push(p);
                    }
                    j = end;
                    break;
                }
                continue;
            }
            break;
        }
        if segs.len() > 1 || start == "super::" {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

/// The module a path names from module `from`: the longest prefix that is a module of ours.
fn resolve(
    from: &[String],
    is_mod_rs: bool,
    path: &[String],
    mods: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = Vec::new();
    let rest;
    // `self` of a file `a/b.rs` is `a::b`; `super` is `a`. For `a/mod.rs`, `self` is `a`.
    let here = from.to_vec();
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            base = here;
            rest = &path[1..];
        }
        Some("super") => {
            base = here;
            let _ = is_mod_rs;
            let mut r = path;
            while r.first().map(String::as_str) == Some("super") {
                base.pop();
                r = &r[1..];
            }
            rest = r;
        }
        _ => return None,
    }
    let mut best = None;
    for n in 0..=rest.len() {
        let mut m = base.clone();
        m.extend(rest[..n].iter().cloned());
        if mods.contains_key(&m) {
            best = Some(m);
        }
    }
    best
}

/// Module → the modules it imports.
type Edges = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

fn graph() -> (BTreeMap<Vec<String>, PathBuf>, Edges) {
    let mods = modules();
    let mut edges: Edges = BTreeMap::new();
    for (m, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        let is_mod_rs = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let e = edges.entry(m.clone()).or_default();
        for p in paths(&code(&text)) {
            if let Some(target) = resolve(m, is_mod_rs, &p, &mods) {
                // A module naming its own descendants through `self::`/its children is not an
                // import of an ancestor; only edges between different files count.
                if &target != m {
                    e.insert(target);
                }
            }
        }
    }
    (mods, edges)
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_import_circle_in_src() {
    let (_, edges) = graph();
    // Depth-first search for a back edge; report the first circle found.
    fn visit(
        n: &Vec<String>,
        edges: &Edges,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for t in edges.get(n).into_iter().flatten() {
            match state.get(t).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|x| x == t).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(t.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(t, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, &edges, &mut state, &mut Vec::new()) {
                let c: Vec<String> = c.iter().map(|m| name(m)).collect();
                panic!("import circle in src/: {}", c.join(" → "));
            }
        }
    }
}

#[test]
fn party_code_never_imports_the_server() {
    let (_, edges) = graph();
    for (m, targets) in &edges {
        if m.first().map(String::as_str) != Some("party") {
            continue;
        }
        for t in targets {
            assert_ne!(
                t.first().map(String::as_str),
                Some("server"),
                "{} imports {}: party-side code must reach the service over HTTP only",
                name(m),
                name(t)
            );
        }
    }
}

#[test]
fn files_stay_short_or_say_why() {
    for (m, file) in modules() {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        let head: String = text.lines().take(12).collect::<Vec<_>>().join("\n");
        assert!(
            lines <= 650 || head.contains("Longer than"),
            "{} ({}) has {lines} lines: split it, or say in its opening comment why it is \
             \"Longer than\" the rest",
            file.display(),
            name(&m)
        );
    }
}

/// The checker itself finds a circle and a forbidden import (it must be able to fail).
#[test]
fn the_checker_sees_paths() {
    let c = code("use super::{a, b::c};\nuse crate::server::state::X; // crate::party\nlet s = \"crate::x\";");
    let p = paths(&c);
    assert!(p.contains(&vec!["super".into(), "a".into()]), "{p:?}");
    assert!(
        p.contains(&vec!["super".into(), "b".into(), "c".into()]),
        "{p:?}"
    );
    assert!(
        p.contains(&vec![
            "crate".into(),
            "server".into(),
            "state".into(),
            "X".into()
        ]),
        "{p:?}"
    );
    assert!(!p.iter().any(|x| x.contains(&"party".to_string())), "{p:?}");
    assert!(!p.iter().any(|x| x.contains(&"x".to_string())), "{p:?}");
    let (mods, edges) = graph();
    assert!(mods.len() > 20, "{mods:?}");
    // The server's router imports its routes: the graph is not empty.
    assert!(edges[&vec!["server".to_string()]]
        .iter()
        .any(|t| t.starts_with(&["server".to_string(), "routes".to_string()])));
}
