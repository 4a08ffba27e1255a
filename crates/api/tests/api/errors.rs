use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, problem, spawn_app, str_of, token};

on_both_backends!(
    requests_without_valid_credentials_are_401_with_www_authenticate,
    unparseable_input_is_400_with_a_stable_code,
    every_json_route_answers_400_for_a_body_that_is_not_json_whatever_its_shape,
    bodies_that_are_not_json_or_too_large_are_415_and_413,
    out_of_range_limits_are_422,
    unknown_routes_are_404_and_wrong_methods_405_as_problems,
    request_ids_are_echoed_when_valid_and_generated_otherwise,
);

async fn requests_without_valid_credentials_are_401_with_www_authenticate(backend: Backend) {
    let app = spawn_app(backend).await;
    let expired = {
        let secret = auth::Secret::new("another secret");
        auth::mint_hs256(&secret, &domain::UserId::parse("alice").expect("id"), 60).expect("jwt")
    };
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Basic YWxpY2U6cHc=".into()),
        Some("Bearer not-a-token".into()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {}x", token("alice"))),
    ];
    for (method, path) in [
        (Method::GET, "/api/v1/threads"),
        (Method::POST, "/api/v1/threads"),
        (Method::GET, "/api/v1/me"),
        (Method::DELETE, "/api/v1/me/history"),
    ] {
        for auth in &cases {
            let mut req = app.request(method.clone(), path).json(&json!({}));
            if let Some(value) = auth {
                req = req.header("Authorization", value);
            }
            let res = req.send().await.expect("request");
            assert_eq!(
                res.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
            let body = problem(res, 401).await;
            assert_eq!(body["code"], "unauthenticated", "{method} {path} {auth:?}");
        }
    }
    let res = app.get("/api/v1/me", "alice").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"user_id": "alice", "auth": "jwt"})
    );
    // Authorization scheme is case-insensitive.
    let res = app
        .request(Method::GET, "/api/v1/me")
        .header("Authorization", format!("bearer {}", token("alice")))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
}

/// Every operation of `/openapi.json` that takes a JSON body: a body that is not JSON is 400
/// `malformed_json` even when what comes before the garbage also lacks a required field
/// (which alone is 422), and nothing is stored.
async fn every_json_route_answers_400_for_a_body_that_is_not_json_whatever_its_shape(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let tid = str_of(&thread, "id").to_owned();
    let mid = str_of(&app.append("alice", &tid, "m").await, "id").to_owned();
    let doc: Value = app.openapi_doc().await;
    let before = app
        .get(
            &format!("/api/v1/threads/{tid}/messages?branch=all"),
            "alice",
        )
        .await
        .text()
        .await
        .expect("body");
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            // JSON bodies only (the import route takes a file of any type).
            if op["requestBody"]["content"]
                .get("application/json")
                .is_none()
            {
                continue;
            }
            let path = template
                .replace("{thread_id}", &tid)
                .replace("{message_id}", &mid);
            let method: Method = method.to_uppercase().parse().expect("method");
            // Of the wrong shape for every route (a field each route reads, of the wrong
            // type): 422 alone, 400 with garbage after it.
            let shape = r#"{"title":5,"content":5,"messages":5,"message_id":5}"#;
            for (raw, status) in [
                (format!("{shape}}}"), 400),
                (format!("{shape} x"), 400),
                (shape[..shape.len() - 1].to_owned(), 400),
                (shape.to_owned(), 422),
            ] {
                let res = app
                    .as_user(method.clone(), &path, "alice")
                    .header("Content-Type", "application/json")
                    .body(raw.clone())
                    .send()
                    .await
                    .expect("request");
                let body = problem(res, status).await;
                let code = if status == 400 {
                    "malformed_json"
                } else {
                    "validation_failed"
                };
                assert_eq!(body["code"], code, "{method} {template} {raw}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "every JSON route: {checked}");
    let after = app
        .get(
            &format!("/api/v1/threads/{tid}/messages?branch=all"),
            "alice",
        )
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(after, before, "nothing stored");
}

async fn unparseable_input_is_400_with_a_stable_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let tid = str_of(&thread, "id");
    for raw in [
        "{",
        "{\"title\": }",
        "nope",
        "",
        "{\"title\": \"a\"} trailing",
        "\u{feff}{}",
    ] {
        let res = app
            .as_user(Method::POST, "/api/v1/threads", "alice")
            .header("Content-Type", "application/json")
            .body(raw.to_owned())
            .send()
            .await
            .expect("request");
        let body = problem(res, 400).await;
        assert_eq!(body["code"], "malformed_json", "{raw:?}");
    }
    let res = app
        .as_user(Method::POST, "/api/v1/threads", "alice")
        .header("Content-Type", "application/json")
        .body(vec![b'"', 0xff, 0xfe, b'"'])
        .send()
        .await
        .expect("request");
    problem(res, 400).await;
    for path in [
        "/api/v1/threads/not-a-uuid".to_owned(),
        "/api/v1/threads/123/messages".to_owned(),
        format!("/api/v1/threads/{tid}/messages/zzz"),
    ] {
        let body = problem(app.get(&path, "alice").await, 400).await;
        assert_eq!(body["code"], "invalid_id", "{path}");
    }
    for query in [
        "cursor=garbage",
        "cursor=",
        "cursor=YWJj",
        "limit=abc",
        "archived=maybe",
        "pinned=yes",
    ] {
        let body = problem(
            app.get(&format!("/api/v1/threads?{query}"), "alice").await,
            400,
        )
        .await;
        let expected = if query.starts_with("cursor") {
            "invalid_cursor"
        } else {
            "invalid_query"
        };
        assert_eq!(body["code"], expected, "{query}");
    }
    let body = problem(
        app.get(
            &format!("/api/v1/threads/{tid}/messages?order=sideways"),
            "alice",
        )
        .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid_query");
    // A cursor of another user's list is refused too.
    for i in 0..3 {
        app.create_thread("bob", &format!("b{i}")).await;
    }
    let page: Value = app
        .get("/api/v1/threads?limit=1", "bob")
        .await
        .json()
        .await
        .expect("json");
    let cursor = str_of(&page, "next_cursor");
    let body = problem(
        app.get(&format!("/api/v1/threads?cursor={cursor}"), "alice")
            .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid_cursor");
}

async fn bodies_that_are_not_json_or_too_large_are_415_and_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let tid = str_of(&thread, "id");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app
            .as_user(Method::POST, "/api/v1/threads", "alice")
            .body("{}");
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let body = problem(req.send().await.expect("request"), 415).await;
        assert_eq!(body["code"], "unsupported_media_type");
    }
    let res = app
        .as_user(Method::POST, "/api/v1/threads", "alice")
        .header("Content-Type", "application/json; charset=utf-8")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);

    let big = json!({"role": "user", "content": "x".repeat(2 * 1024 * 1024)});
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/messages"),
            "alice",
            big.clone(),
        )
        .await;
    let body = problem(res, 413).await;
    assert_eq!(body["code"], "payload_too_large");
    // The batch route accepts more than 2 MiB in total.
    let many: Vec<Value> = (0..3)
        .map(|_| json!({"role": "user", "content": "y".repeat(900 * 1024)}))
        .collect();
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/messages/batch"),
            "alice",
            json!({ "messages": many }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let huge: Vec<Value> = (0..17)
        .map(|_| json!({"role": "user", "content": "z".repeat(1000 * 1024)}))
        .collect();
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/messages/batch"),
            "alice",
            json!({ "messages": huge }),
        )
        .await;
    problem(res, 413).await;
    let t: Value = app
        .get(&format!("/api/v1/threads/{tid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(t["message_count"], 3);
}

async fn out_of_range_limits_are_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let tid = str_of(&thread, "id");
    for limit in ["0", "101", "-1", "100000000000000000"] {
        for path in [
            format!("/api/v1/threads?limit={limit}"),
            format!("/api/v1/threads/{tid}/messages?limit={limit}"),
        ] {
            let body = problem(app.get(&path, "alice").await, 422).await;
            assert_eq!(body["field"], "limit", "{path}");
        }
    }
    for limit in ["1", "100"] {
        let res = app
            .get(&format!("/api/v1/threads?limit={limit}"), "alice")
            .await;
        assert_eq!(res.status(), 200);
    }
}

async fn unknown_routes_are_404_and_wrong_methods_405_as_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = problem(app.get("/api/v1/nothing-here", "alice").await, 404).await;
    assert_eq!(body["code"], "not_found");
    let tid = uuid::Uuid::now_v7();
    let trace = Method::from_bytes(b"TRACE").expect("method");
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/threads".to_owned(), "GET, POST"),
        (Method::DELETE, "/api/v1/threads".to_owned(), "GET, POST"),
        (
            Method::POST,
            format!("/api/v1/threads/{tid}"),
            "GET, PATCH, DELETE",
        ),
        (
            Method::PUT,
            format!("/api/v1/threads/{tid}/messages"),
            "GET, POST",
        ),
        (
            Method::GET,
            format!("/api/v1/threads/{tid}/messages/batch"),
            "POST",
        ),
        (
            trace.clone(),
            format!("/api/v1/threads/{tid}/export"),
            "GET",
        ),
        (Method::POST, "/api/v1/me".to_owned(), "GET"),
        (Method::GET, "/api/v1/me/history".to_owned(), "DELETE"),
        (Method::POST, "/healthz".to_owned(), "GET"),
        (trace.clone(), "/metrics".to_owned(), "GET"),
    ] {
        let res = app
            .as_user(method.clone(), &path, "alice")
            .send()
            .await
            .expect("request");
        // RFC 9110: a 405 says which methods the resource has.
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let body = problem(res, 405).await;
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
    }
}

async fn request_ids_are_echoed_when_valid_and_generated_otherwise(backend: Backend) {
    let app = spawn_app(backend).await;
    let id_of = |res: &reqwest::Response| {
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let valid = "abc-123_X.y";
    let res = app
        .as_user(Method::GET, "/api/v1/threads", "alice")
        .header("X-Request-Id", valid)
        .send()
        .await
        .expect("request");
    assert_eq!(id_of(&res).as_deref(), Some(valid));
    let long = "a".repeat(129);
    for bad in ["has space", "semi;colon", long.as_str(), ""] {
        let res = app
            .request(Method::GET, "/api/v1/threads")
            .header("X-Request-Id", bad)
            .send()
            .await
            .expect("request");
        let id = id_of(&res).expect("generated");
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 128);
    }
    // Every response carries one, errors and probes included.
    for path in ["/healthz", "/readyz", "/nowhere", "/api/v1/threads"] {
        let res = app
            .request(Method::GET, path)
            .send()
            .await
            .expect("request");
        assert!(id_of(&res).is_some(), "{path}");
    }
}
