//! The sealed path over HTTP: the whole story, and bad input refused with nothing changed.

use super::*;

on_every_store! {
    tokio fn sealed_path_story_over_http() {
    let svc = service();
    let mut rng = rand::thread_rng();
    let credit = SigningKey::generate(Role::Holder, &mut rng);
    let market = SigningKey::generate(Role::Holder, &mut rng);
    let bank = SigningKey::generate(Role::Bank, &mut rng);
    register(&svc, "credit.story", "holder", &credit.public()).await;
    register(&svc, "market.story", "holder", &market.public()).await;
    register(&svc, "icbc", "bank", &bank.public()).await;
    publish(&svc, "public_procurement").await;

    let who = pseudonym_of(&svc, &credit, "credit.story").await;
    let day = (now() / 86_400) as u32;
    // Listed until yesterday (lapsed), registered: eligible.
    for (holder, key, values) in [
        (
            "credit.story",
            &credit,
            vec![("credit.serious_dishonesty", u64::from(day) - 1)],
        ),
        (
            "market.story",
            &market,
            vec![("market.abnormal_operation", 0), ("market.registered", 1)],
        ),
    ] {
        let body = sealed(holder, key, who, 1, &values);
        let (st, b) = send(
            &svc.app,
            request("POST", "/v1/holder/sealed", body, Some((key, holder))),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    }
    let q = serde_json::json!({
        "subject": {"kind": "enterprise", "id": USCC},
        "policy": "public_procurement",
        "day": day,
        "purpose": "government procurement bid 2026-117",
    });
    // A question the bank did not sign, or signed for another one, is refused with nothing
    // logged or stored.
    let before = snapshot(&*svc.store);
    let unsigned = serde_json::to_vec(&q).unwrap();
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/bank/query", unsigned, Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("request: missing"));
    let mut other_day = q.clone();
    other_day["day"] = (day - 1).into();
    let mut changed: serde_json::Value =
        serde_json::from_slice(&signed_question(other_day, "credence.test/api", &bank, "icbc"))
            .unwrap();
    changed["day"] = day.into();
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            serde_json::to_vec(&changed).unwrap(),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("request.signature: does not verify"));
    let elsewhere = signed_question(q.clone(), "credence.test/elsewhere", &bank, "icbc");
    let (st, _) = send(
        &svc.app,
        request("POST", "/v1/bank/query", elsewhere, Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&*svc.store), before);
    let q = signed_question(q, "credence.test/api", &bank, "icbc");
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/bank/query", q.clone(), Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json(&b);
    assert_eq!(v["outcome"]["eligible"], serde_json::json!(true), "{v}");
    let receipt =
        VerdictReceipt::from_bytes(&hex::decode(v["receipt"].as_str().unwrap()).unwrap()).unwrap();
    let verdict = receipt.verdict.clone();
    world()
        .ka_key
        .verify(Role::KeyAuthority, &verdict.verdict, &verdict.signature)
        .unwrap();
    assert_eq!(verdict.verdict.subject, who);
    assert_eq!(verdict.verdict.as_of_day, day);

    // Re-listed: a new record from the holder replaces the old one; now not eligible.
    let body = sealed(
        "credit.story",
        &credit,
        who,
        2,
        &[("credit.serious_dishonesty", u64::from(day) + 30)],
    );
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            body,
            Some((&credit, "credit.story")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    // The same signed request again: 409, nothing logged.
    let before = snapshot(&*svc.store);
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/bank/query", q.clone(), Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&b));
    assert_eq!(snapshot(&*svc.store), before);
    let q: serde_json::Value = serde_json::from_slice(&q).unwrap();
    let q = signed_question(q, "credence.test/api", &bank, "icbc");
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/bank/query", q, Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v2 = json(&b);
    assert_eq!(v2["outcome"]["eligible"], serde_json::json!(false), "{v2}");

    // The auditor: a signed checkpoint, and the verdict entry is in the log under it.
    let (st, b) = send(
        &svc.app,
        request("GET", "/v1/audit/checkpoint", vec![], Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let cp = SignedCheckpoint::parse(std::str::from_utf8(&b).unwrap()).unwrap();
    let verifier = NoteVerifier::log("credence.test/api", svc.log_key.public()).unwrap();
    let c = cp.verify(&verifier).unwrap().clone();
    let vi = v["log_indices"]["verdict"].as_u64().unwrap();
    let path = format!("/v1/audit/entries?from={vi}&to={}", vi + 1);
    let (st, b) = send(
        &svc.app,
        request(
            "GET",
            Box::leak(path.into_boxed_str()),
            vec![],
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let leaf_hex = json(&b)["entries"][0]["leaf"].as_str().unwrap().to_string();
    let leaf = hex::decode(&leaf_hex).unwrap();
    match LogLeaf::from_bytes(&leaf).unwrap().entry {
        credence::protocols::log::entry::LogEntry::Verdict { verdict_hash, .. } => {
            assert_eq!(verdict_hash, verdict.hash())
        }
        other => panic!("{other:?}"),
    }
    let path = format!("/v1/audit/proof/inclusion?index={vi}&size={}", c.size);
    let (st, b) = send(
        &svc.app,
        request(
            "GET",
            Box::leak(path.into_boxed_str()),
            vec![],
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let proof =
        InclusionProof::from_bytes(&hex::decode(json(&b)["proof"].as_str().unwrap()).unwrap())
            .unwrap();
    proof
        .verify::<Sha3Log>(&LogLeaf::from_bytes(&leaf).unwrap().hash(), &c.root)
        .unwrap();

    // Metrics count the routes (for the scraper with the token only).
    let (st, _) = send(
        &svc.app,
        Request::builder()
            .uri("/metrics")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, b) = send(
        &svc.app,
        Request::builder()
            .uri("/metrics")
            .header("authorization", format!("Bearer {METRICS_TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let m = String::from_utf8(b).unwrap();
    assert!(
        m.contains(
            "credence_requests_total{method=\"post\",route=\"/v1/bank/query\",status=\"200\"} 2"
        ),
        "{m}"
    );
    let (st, b) = send(
        &svc.app,
        Request::builder()
            .uri("/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(json(&b)["paths"]["/v1/bank/query"]["post"].is_object());
}
}

on_every_store! {
    tokio fn bad_input_is_refused_and_changes_nothing() {
    let svc = service();
    let mut rng = rand::thread_rng();
    let credit = SigningKey::generate(Role::Holder, &mut rng);
    let bank = SigningKey::generate(Role::Bank, &mut rng);
    register(&svc, "credit.bad", "holder", &credit.public()).await;
    register(&svc, "icbc", "bank", &bank.public()).await;
    publish(&svc, "public_procurement").await;
    let who = pseudonym_of(&svc, &credit, "credit.bad").await;
    let before = snapshot(&*svc.store);
    let query = |id: &str, kind: &str, policy: &str| {
        serde_json::to_vec(&serde_json::json!({
            "subject": {"kind": kind, "id": id}, "policy": policy, "purpose": "loan"
        }))
        .unwrap()
    };

    // Unsigned, badly signed, replayed: 401.
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query(USCC, "enterprise", "public_procurement"),
            None,
        ),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing header"));
    let mut r = request(
        "POST",
        "/v1/bank/query",
        query(USCC, "enterprise", "public_procurement"),
        Some((&bank, "icbc")),
    );
    *r.body_mut() = Body::from(query(USCC, "enterprise", "rongque"));
    assert_eq!(send(&svc.app, r).await.0, StatusCode::UNAUTHORIZED);
    let r1 = request(
        "POST",
        "/v1/holder/pseudonym",
        serde_json::to_vec(&serde_json::json!({"kind": "enterprise", "id": USCC})).unwrap(),
        Some((&credit, "credit.bad")),
    );
    let (parts, body) = r1.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let again = Request::from_parts(parts.clone(), Body::from(body.clone()));
    assert_eq!(
        send(&svc.app, Request::from_parts(parts, Body::from(body)))
            .await
            .0,
        StatusCode::OK
    );
    let (st, b) = send(&svc.app, again).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("replayed"));

    // Wrong role: 403.
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query(USCC, "enterprise", "public_procurement"),
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));

    // Invalid USCC: 400 naming the failing position.
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query("914403001922038217", "enterprise", "public_procurement"),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let e = json(&b)["error"]["message"].as_str().unwrap().to_string();
    assert!(e.contains("18"), "{e}");

    // A person without consent: 403. Unknown policy: 404.
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query("11010519491231002X", "person", "public_procurement"),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query(USCC, "enterprise", "no_such_policy"),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no_such_policy"));

    // Malformed and non-conformant ciphertexts: 400, nothing stored.
    let good = sealed(
        "credit.bad",
        &credit,
        who,
        5,
        &[("credit.serious_dishonesty", 3)],
    );
    let mut garbage = good.clone();
    let n = garbage.len();
    for b in &mut garbage[n - 2000..n - 1000] {
        *b = 0xa5;
    }
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            garbage,
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            good[..100].to_vec(),
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Oversized body: 413.
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            vec![0u8; credence::server::MAX_SEALED_BODY + 1],
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(
        snapshot(&*svc.store),
        before,
        "a refused request changed the store"
    );

    // And the good record still goes in; its submission id cannot be reused.
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            good.clone(),
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            good,
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
}
}
