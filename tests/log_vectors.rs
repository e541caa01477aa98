//! Known-answer vectors for the log math.
//!
//! * transparency-dev's published RFC 6962 vectors, run through the SHA-256 instantiation of
//!   `credence_protocols::log` — the same generic code Credence runs with SHA3-256;
//! * our own SHA3-256 vectors (`tests/vectors/sha3-log.json`), produced by an independent
//!   Python implementation of RFC 9162 (`tests/vectors/gen_sha3_log.py`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use credence_protocols::log::tree::MemoryTree;
use credence_protocols::log::{
    ConsistencyProof, Hash, InclusionProof, LogHasher, Sha256Log, Sha3Log,
};
use serde::Deserialize;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).expect("vector base64")
}

fn hash(s: &str) -> Option<Hash> {
    Hash::try_from(b64(s).as_slice()).ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionVector {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyVector {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// Runs one inclusion vector; `Ok` if it verified.
fn check_inclusion<H: LogHasher>(v: &InclusionVector) -> Result<(), String> {
    let parts: Vec<Vec<u8>> = v.proof.iter().flatten().map(|p| b64(p)).collect();
    let proof =
        InclusionProof::from_parts(v.leaf_idx, v.tree_size, &parts).map_err(|e| e.to_string())?;
    let leaf = hash(&v.leaf_hash).ok_or("leaf hash is not 32 bytes")?;
    let root = hash(&v.root).ok_or("root is not 32 bytes")?;
    proof.verify::<H>(&leaf, &root).map_err(|e| e.to_string())
}

fn check_consistency<H: LogHasher>(v: &ConsistencyVector) -> Result<(), String> {
    let parts: Vec<Vec<u8>> = v.proof.iter().flatten().map(|p| b64(p)).collect();
    let proof =
        ConsistencyProof::from_parts(v.size1, v.size2, &parts).map_err(|e| e.to_string())?;
    let r1 = hash(&v.root1).ok_or("root1 is not 32 bytes")?;
    let r2 = hash(&v.root2).ok_or("root2 is not 32 bytes")?;
    proof.verify::<H>(&r1, &r2).map_err(|e| e.to_string())
}

fn load<T: for<'de> Deserialize<'de>>(dir: &str) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(vectors_dir().join(dir)).expect("vector dir") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&text).unwrap(),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The RFC 6962 reference tree's leaves.
fn reference_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| hex::decode(h).unwrap())
    .collect()
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let vectors = load::<InclusionVector>("transparency-dev/inclusion");
    assert!(vectors.len() >= 15, "vectors missing: {}", vectors.len());
    for (name, v) in &vectors {
        let got = check_inclusion::<Sha256Log>(v);
        assert_eq!(got.is_err(), v.want_err, "{name} ({}): {got:?}", v.desc);
    }
}

#[test]
fn transparency_dev_consistency_vectors() {
    let vectors = load::<ConsistencyVector>("transparency-dev/consistency");
    assert!(vectors.len() >= 13, "vectors missing: {}", vectors.len());
    for (name, v) in &vectors {
        let got = check_consistency::<Sha256Log>(v);
        assert_eq!(got.is_err(), v.want_err, "{name} ({}): {got:?}", v.desc);
    }
}

/// Our proof *generation* reproduces the published happy-path proofs byte for byte.
#[test]
fn generated_proofs_match_transparency_dev() {
    let mut tree = MemoryTree::<Sha256Log>::new();
    for l in reference_leaves() {
        tree.append(&l);
    }
    for (name, v) in load::<InclusionVector>("transparency-dev/inclusion") {
        if v.want_err {
            continue;
        }
        let p = tree.inclusion_proof(v.leaf_idx, v.tree_size).unwrap();
        let want: Vec<Hash> = v.proof.iter().flatten().map(|h| hash(h).unwrap()).collect();
        assert_eq!(p.path, want, "{name}");
        assert_eq!(
            tree.root_at(v.tree_size).unwrap(),
            hash(&v.root).unwrap(),
            "{name}"
        );
    }
    for (name, v) in load::<ConsistencyVector>("transparency-dev/consistency") {
        if v.want_err {
            continue;
        }
        let p = tree.consistency_proof(v.size1, v.size2).unwrap();
        let want: Vec<Hash> = v.proof.iter().flatten().map(|h| hash(h).unwrap()).collect();
        assert_eq!(p.path, want, "{name}");
    }
}

#[derive(Deserialize)]
struct Sha3Vectors {
    hash: String,
    leaves_hex: Vec<String>,
    roots: Vec<RootVector>,
    inclusion: Vec<Sha3Inclusion>,
    consistency: Vec<ConsistencyVector3>,
}

#[derive(Deserialize)]
struct RootVector {
    size: u64,
    root: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sha3Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    leaf_hash: String,
    root: String,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyVector3 {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
}

#[test]
fn credence_sha3_vectors() {
    let text = std::fs::read_to_string(vectors_dir().join("sha3-log.json")).unwrap();
    let v: Sha3Vectors = serde_json::from_str(&text).unwrap();
    assert_eq!(v.hash, "SHA3-256");
    let mut tree = MemoryTree::<Sha3Log>::new();
    for l in &v.leaves_hex {
        tree.append(&hex::decode(l).unwrap());
    }
    for r in &v.roots {
        assert_eq!(
            tree.root_at(r.size).unwrap(),
            hash(&r.root).unwrap(),
            "root at {}",
            r.size
        );
    }
    for c in &v.inclusion {
        let leaf = hash(&c.leaf_hash).unwrap();
        let root = hash(&c.root).unwrap();
        assert_eq!(tree.leaf_hash(c.leaf_idx).unwrap(), leaf);
        let p = tree.inclusion_proof(c.leaf_idx, c.tree_size).unwrap();
        let want: Vec<Hash> = c.proof.iter().map(|h| hash(h).unwrap()).collect();
        assert_eq!(p.path, want, "inclusion {} in {}", c.leaf_idx, c.tree_size);
        p.verify::<Sha3Log>(&leaf, &root).unwrap();
    }
    for c in &v.consistency {
        let p = tree.consistency_proof(c.size1, c.size2).unwrap();
        let want: Vec<Hash> = c.proof.iter().map(|h| hash(h).unwrap()).collect();
        assert_eq!(p.path, want, "consistency {} -> {}", c.size1, c.size2);
        p.verify::<Sha3Log>(&hash(&c.root1).unwrap(), &hash(&c.root2).unwrap())
            .unwrap();
    }
}
