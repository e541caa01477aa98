//! The API as an integrator meets it: the OpenAPI document covers every served route (and
//! only those), errors have one typed shape on every route — axum's own rejections included —
//! and `/metrics` parses with a Prometheus parser, with latency histograms per route.

mod common;

use common::region::Region;
use credence::party::client::{call, http};
use credence::protocols::signing::Role;
use std::collections::BTreeSet;

fn doc() -> serde_json::Value {
    use utoipa::OpenApi;
    serde_json::to_value(credence::server::openapi::ApiDoc::openapi()).unwrap()
}

#[test]
fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let doc = doc();
    let served: BTreeSet<(String, String)> = credence::server::route_table()
        .into_iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert((path.clone(), method.to_string()));
            }
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in /openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    assert!(served.len() >= 30, "{served:?}");
}

#[test]
fn the_document_says_how_to_sign_and_what_every_answer_looks_like() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    for (name, header) in [
        ("party", "x-credence-party"),
        ("time", "x-credence-time"),
        ("nonce", "x-credence-nonce"),
        ("signature", "x-credence-signature"),
    ] {
        assert_eq!(schemes[name]["in"], "header", "{name}");
        assert_eq!(schemes[name]["name"], header, "{name}");
    }
    let desc = doc["info"]["description"].as_str().unwrap();
    assert!(
        desc.contains("http-request/v2") && desc.contains("SHA3-256(body)"),
        "{desc}"
    );
    // Every error code is listed, and every operation documents a 200 and its errors with
    // the one error schema.
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "invalid_request",
        "unauthenticated",
        "forbidden",
        "not_found",
        "no_such_route",
        "conflict",
        "payload_too_large",
        "internal",
        "unavailable",
    ] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("200"), "{method} {path}");
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            if method == "post" && !path.starts_with("/v1/witness") {
                assert!(
                    op.get("requestBody").is_some(),
                    "{method} {path} has no request body schema"
                );
            }
        }
    }
    // Query parameters are declared.
    let params = doc["paths"]["/v1/audit/entries"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["from", "to"]);
}

/// Status and body.
struct Resp {
    status: u16,
    body: Vec<u8>,
}

fn plain(addr: &str, method: &str, path: &str) -> Resp {
    let (status, _, body) = http(addr, method, path, &[], b"").unwrap();
    Resp { status, body }
}

fn error_of(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    (
        v["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string(),
    )
}

#[test]
fn errors_have_one_typed_shape_on_every_route() {
    let region = Region::new();
    let bank = region.party("bank-typed", Role::Bank);
    let origin = bank.origin().unwrap().to_string();
    let key = bank.key().clone();
    let party = bank.party().clone();
    let signed = |method: &str, path: &str, body: &[u8]| -> Resp {
        let (status, body) =
            call(region.addr(), &origin, method, path, body, &key, &party).unwrap();
        Resp { status, body }
    };
    // No such route.
    let r = plain(region.addr(), "GET", "/v1/nowhere");
    assert_eq!(r.status, 404);
    assert_eq!(error_of(&r.body).0, "no_such_route");
    // A query string axum cannot parse (was a plain-text 400).
    let r = signed("GET", "/v1/audit/entries?from=x", b"");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let (code, message) = error_of(&r.body);
    assert_eq!(code, "invalid_request");
    assert!(message.contains("from"), "{message}");
    // Wrong method (was an empty 405).
    let r = plain(region.addr(), "DELETE", "/v1/anchors");
    assert_eq!(r.status, 405);
    assert_eq!(error_of(&r.body).0, "method_not_allowed");
    // A body over the route's limit (was a plain-text 413).
    let big = vec![b'x'; credence::server::MAX_JSON_BODY + 1];
    let r = signed("POST", "/v1/bank/query", &big);
    assert_eq!(r.status, 413);
    assert_eq!(error_of(&r.body).0, "payload_too_large");
    // Unsigned, wrong role, unknown policy.
    let r = plain(region.addr(), "GET", "/v1/subject/records");
    assert_eq!(r.status, 401);
    assert_eq!(error_of(&r.body).0, "unauthenticated");
    let r = signed("GET", "/v1/subject/records", b"");
    assert_eq!(r.status, 403);
    assert_eq!(error_of(&r.body).0, "forbidden");
    let q = br#"{"subject":{"kind":"enterprise","id":"91350100M000100Y43"},"policy":"nope","purpose":"p"}"#;
    let r = signed("POST", "/v1/bank/query", q);
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(error_of(&r.body).0, "not_found");
    // The public FHE material: listed with hashes, each part served as bytes with its hash;
    // an unknown part is a typed 400.
    let r = plain(region.addr(), "GET", "/v1/fhe/public");
    assert_eq!(r.status, 200);
    let listing: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let parts = listing["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{listing}");
    let (status, headers, bytes) = http(
        region.addr(),
        "GET",
        "/v1/fhe/public?part=public_key",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    let sent = headers
        .iter()
        .find(|(k, _)| k == "x-credence-sha3-256")
        .unwrap()
        .1
        .clone();
    use sha3::Digest;
    assert_eq!(sent, hex::encode(sha3::Sha3_256::digest(&bytes)));
    assert_eq!(
        parts.iter().find(|p| p["part"] == "public_key").unwrap()["sha3_256"],
        sent
    );
    // `keys fetch` pinned to hashes other than the published ones refuses and writes nothing;
    // pinned to the listed ones it writes the material.
    let crs = parts.iter().find(|p| p["part"] == "crs").unwrap()["sha3_256"]
        .as_str()
        .unwrap()
        .to_string();
    let out = std::env::temp_dir().join(format!("credence-keys-fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let fetch = |pk: &str, crs: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_credence"))
            .args(["keys", "fetch", "--server", region.addr(), "--out"])
            .arg(&out)
            .args(["--expect-public-key", pk, "--expect-crs", crs])
            .output()
            .unwrap()
    };
    let other = "00".repeat(32);
    for (pk, c) in [
        (other.as_str(), crs.as_str()),
        (sent.as_str(), other.as_str()),
    ] {
        let o = fetch(pk, c);
        assert!(!o.status.success(), "{o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("refusing it"),
            "{o:?}"
        );
        assert!(!out.exists(), "nothing is written on a refusal");
    }
    let o = fetch(&sent, &crs);
    assert!(o.status.success(), "{o:?}");
    assert!(out.join("public").exists());
    let _ = std::fs::remove_dir_all(&out);
    let r = plain(region.addr(), "GET", "/v1/fhe/public?part=client_key");
    assert_eq!(r.status, 400);
    assert_eq!(error_of(&r.body).0, "invalid_request");
    // Readiness.
    let r = plain(region.addr(), "GET", "/readyz");
    assert_eq!(r.status, 200);
}

#[test]
fn metrics_parse_and_carry_latency_histograms_per_route() {
    let region = Region::new();
    let bank = region.party("bank-metrics", Role::Bank);
    bank.checkpoint().unwrap();
    bank.policies().unwrap();
    // Made-up methods and paths cannot create series.
    for m in ["FOO", "BAR", "BAZ"] {
        let r = plain(region.addr(), m, "/v1/anchors");
        assert_eq!(r.status, 405);
        let r = plain(region.addr(), "GET", &format!("/v1/{m}"));
        assert_eq!(r.status, 404);
    }
    // Without the token, or with another, or as a signed party: no metrics (they would show
    // any caller when others' sealed questions run and what they cost).
    let r = plain(region.addr(), "GET", "/metrics");
    assert_eq!(r.status, 401);
    assert_eq!(error_of(&r.body).0, "unauthenticated");
    for auth in ["Bearer not-the-token-at-all", "Basic dGVzdDp0ZXN0"] {
        let (status, _, body) = http(
            region.addr(),
            "GET",
            "/metrics",
            &[("authorization", auth.to_string())],
            b"",
        )
        .unwrap();
        assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    }
    let (status, _) = call(
        region.addr(),
        "credence.test/region",
        "GET",
        "/metrics",
        b"",
        bank.key(),
        bank.party(),
    )
    .unwrap();
    assert_eq!(status, 401);
    let text = region.metrics();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    fn samples<'a>(
        scrape: &'a prometheus_parse::Scrape,
        name: &'a str,
    ) -> impl Iterator<Item = &'a prometheus_parse::Sample> + 'a {
        scrape.samples.iter().filter(move |s| s.metric == name)
    }
    let find = |name: &'static str| samples(&scrape, name);
    // A histogram per matched route template, never per raw path.
    let hist: Vec<_> = find("credence_request_duration_seconds").collect();
    assert!(
        hist.iter()
            .any(|s| s.labels.get("route") == Some("/v1/audit/checkpoint")
                && matches!(s.value, prometheus_parse::Value::Histogram(_))),
        "{text}"
    );
    assert!(
        find("credence_requests_total")
            .any(|s| s.labels.get("route") == Some("/v1/audit/policies")
                && s.labels.get("status") == Some("200")),
        "{text}"
    );
    for gauge in [
        "credence_log_size",
        "credence_checkpoint_age_seconds",
        "credence_fhe_queue_depth",
        "credence_fhe_in_flight",
        "credence_fhe_slots",
    ] {
        assert!(find(gauge).next().is_some(), "{gauge} missing:\n{text}");
        assert!(scrape.docs.contains_key(gauge), "{gauge} has no HELP line");
    }
    for s in &scrape.samples {
        for (k, v) in s.labels.iter() {
            assert!(
                !v.contains("FOO") && !v.contains("foo") && !v.contains("BAR"),
                "a caller-made label {k}={v} in {}",
                s.metric
            );
        }
    }
    let size = find("credence_log_size").next().unwrap();
    assert!(
        matches!(size.value, prometheus_parse::Value::Gauge(v) if v as u64 == region.log_size()),
        "{size:?}"
    );
}
