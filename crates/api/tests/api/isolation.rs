use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, spawn_app, str_of};

on_both_backends!(another_users_thread_and_message_answer_exactly_like_missing_ones);

async fn answer(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn another_users_thread_and_message_answer_exactly_like_missing_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "secret plans").await;
    let tid = str_of(&thread, "id").to_owned();
    let message = app.append("alice", &tid, "my secret").await;
    let mid = str_of(&message, "id").to_owned();
    let before: Value = app
        .get(&format!("/api/v1/threads/{tid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    let missing_t = uuid::Uuid::now_v7().to_string();
    let missing_m = uuid::Uuid::now_v7().to_string();

    let routes = |t: &str, m: &str| -> Vec<(Method, String, Option<Value>)> {
        vec![
            (Method::GET, format!("/api/v1/threads/{t}"), None),
            (
                Method::PATCH,
                format!("/api/v1/threads/{t}"),
                Some(json!({"title": "pwned"})),
            ),
            (Method::DELETE, format!("/api/v1/threads/{t}"), None),
            (Method::GET, format!("/api/v1/threads/{t}/messages"), None),
            (
                Method::POST,
                format!("/api/v1/threads/{t}/messages"),
                Some(json!({"role": "user", "content": "injected"})),
            ),
            (
                Method::POST,
                format!("/api/v1/threads/{t}/messages/batch"),
                Some(json!({"messages": [{"role": "user", "content": "injected"}]})),
            ),
            (
                Method::GET,
                format!("/api/v1/threads/{t}/messages/{m}"),
                None,
            ),
            (
                Method::PATCH,
                format!("/api/v1/threads/{t}/messages/{m}"),
                Some(json!({"content": "pwned"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/threads/{t}/messages/{m}"),
                None,
            ),
        ]
    };
    let theirs = routes(&tid, &mid);
    let missing = routes(&missing_t, &missing_m);
    for ((method, path, body), (_, missing_path, _)) in theirs.into_iter().zip(missing) {
        let send = |p: String| {
            let mut req = app.as_user(method.clone(), &p, "mallory");
            if let Some(b) = &body {
                req = req.json(b);
            }
            req.send()
        };
        let (status, got) = answer(send(path.clone()).await.expect("request")).await;
        let (missing_status, expected) = answer(send(missing_path).await.expect("request")).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(status, missing_status, "{method} {path}");
        assert_eq!(
            got, expected,
            "{method} {path}: same body as a missing resource"
        );
    }
    // Mallory's lists show nothing of Alice's, and deleting her history leaves Alice's.
    let page: Value = app
        .get("/api/v1/threads?archived=all", "mallory")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"], json!([]));
    assert_eq!(
        app.delete("/api/v1/me/history", "mallory").await.status(),
        204
    );

    // Nothing changed for Alice.
    let now: Value = app
        .get(&format!("/api/v1/threads/{tid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(now, before);
    let msg: Value = app
        .get(&format!("/api/v1/threads/{tid}/messages/{mid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(msg, message);

    // Alice's own history delete removes only hers.
    let bobs = app.create_thread("bob", "bob's").await;
    assert_eq!(
        app.delete("/api/v1/me/history", "alice").await.status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/threads/{tid}"), "alice")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/threads/{}", str_of(&bobs, "id")), "bob")
            .await
            .status(),
        200
    );
}
