//! `GET /api/v1/search`: the rules of API.md over HTTP, on both backends, and the issue's
//! acceptance check on a seeded PostgreSQL database.

use std::collections::HashSet;

use reqwest::{Method, Response};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    search_answers_the_callers_matches_best_first_with_thread_and_snippet,
    search_pages_with_cursors_without_repeats_or_gaps,
    a_search_cursor_only_works_for_the_same_query_and_user,
    empty_blank_missing_or_wordless_queries_are_422_naming_q,
    search_limits_out_of_range_are_422_and_non_integers_400,
    another_users_messages_never_appear_in_search,
    search_syntax_characters_never_cause_an_error,
    search_requires_credentials,
    edits_and_deletes_show_in_search_at_once,
);

async fn search(app: &TestApp, user: &str, params: &[(&str, &str)]) -> Response {
    app.as_user(Method::GET, "/api/v1/search", user)
        .query(params)
        .send()
        .await
        .expect("request")
}

/// A 200 search page as JSON, after checking its shape.
async fn page(res: Response) -> Value {
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().expect("text"),
        "application/json"
    );
    let body: Value = res.json().await.expect("json");
    let keys: HashSet<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["data", "has_more", "next_cursor"]));
    body
}

fn message_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| str_of(&item["message"], "id").to_owned())
        .collect()
}

async fn search_answers_the_callers_matches_best_first_with_thread_and_snippet(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "Trip planning").await;
    let thread_id = str_of(&thread, "id");
    let once = app
        .append("alice", thread_id, "Take the train to the station")
        .await;
    let thrice = app
        .append(
            "alice",
            thread_id,
            "Station, station: the Station is **big**",
        )
        .await;
    app.append("alice", thread_id, "Nothing about trains here")
        .await;

    let body = page(search(&app, "alice", &[("q", "station")]).await).await;
    assert_eq!(
        message_ids(&body),
        [str_of(&thrice, "id"), str_of(&once, "id")]
    );
    assert_eq!(body["has_more"], false);
    assert_eq!(body["next_cursor"], Value::Null);

    let first = &body["data"][0];
    let keys: HashSet<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["message", "thread", "snippet"]));
    // The message exactly as the message route shows it.
    let res = app
        .get(
            &format!(
                "/api/v1/threads/{thread_id}/messages/{}",
                str_of(&thrice, "id")
            ),
            "alice",
        )
        .await;
    assert_eq!(first["message"], res.json::<Value>().await.expect("json"));
    assert_eq!(
        first["thread"],
        json!({"id": thread_id, "title": "Trip planning"})
    );
    let snippet = str_of(first, "snippet");
    assert!(
        snippet.contains("⟦Station⟧") && snippet.contains("⟦station⟧"),
        "{snippet}"
    );
    assert!(snippet.contains("big"), "{snippet}");
    // Words match whole: "train" does not find "trains", and "trains" not "train".
    let body = page(search(&app, "alice", &[("q", "train")]).await).await;
    assert_eq!(message_ids(&body), [str_of(&once, "id")]);
}

async fn search_pages_with_cursors_without_repeats_or_gaps(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let thread_id = str_of(&thread, "id");
    let messages: Vec<Value> = (0..25)
        .map(|i| json!({"role": "user", "content": format!("needle number {i}")}))
        .collect();
    let res = app
        .post(
            &format!("/api/v1/threads/{thread_id}/messages/batch"),
            "alice",
            json!({ "messages": messages }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let stored: Value = res.json().await.expect("json");
    let mut expected: Vec<String> = stored["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| str_of(m, "id").to_owned())
        .collect();
    // One match each: newest first.
    expected.reverse();

    let default = page(search(&app, "alice", &[("q", "needle")]).await).await;
    assert_eq!(message_ids(&default), expected[..20]);
    assert_eq!(default["has_more"], true);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("q", "needle"), ("limit", "10")];
        if let Some(c) = &cursor {
            params.push(("cursor", c));
        }
        let body = page(search(&app, "alice", &params).await).await;
        seen.extend(message_ids(&body));
        assert_eq!(body["has_more"], body["next_cursor"].is_string());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

async fn a_search_cursor_only_works_for_the_same_query_and_user(backend: Backend) {
    let app = spawn_app(backend).await;
    for user in ["alice", "bob"] {
        let thread = app.create_thread(user, "t").await;
        for text in ["station one", "station two", "train station"] {
            app.append(user, str_of(&thread, "id"), text).await;
        }
    }
    let body = page(search(&app, "alice", &[("q", "station"), ("limit", "1")]).await).await;
    let cursor = str_of(&body, "next_cursor").to_owned();
    for (user, q) in [
        ("alice", "train"),
        ("alice", "station -train"),
        ("bob", "station"),
    ] {
        let res = search(&app, user, &[("q", q), ("cursor", &cursor)]).await;
        let problem = problem(res, 400).await;
        assert_eq!(problem["code"], "invalid_cursor", "{user} {q}");
    }
    for garbage in ["", "abc", "!!!"] {
        let res = search(&app, "alice", &[("q", "station"), ("cursor", garbage)]).await;
        assert_eq!(problem(res, 400).await["code"], "invalid_cursor");
    }
    // The same query spelled differently is the same search.
    let res = search(&app, "alice", &[("q", "  STATION "), ("cursor", &cursor)]).await;
    assert_eq!(page(res).await["data"].as_array().expect("data").len(), 2);
}

async fn empty_blank_missing_or_wordless_queries_are_422_naming_q(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "x".repeat(513);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("q", "")],
        vec![("q", "   ")],
        vec![("q", "\t\n")],
        vec![("q", "-secret")],
        vec![("q", "-secret -\"other thing\"")],
        vec![("q", "*** ( ) : ' \\")],
        vec![("q", "\"\"")],
        vec![("q", "a\u{0}b")],
        vec![("q", &too_long)],
        vec![("limit", "10")],
    ];
    for params in cases {
        let res = search(&app, "alice", &params).await;
        let body = problem(res, 422).await;
        assert_eq!(body["code"], "validation_failed", "{params:?}");
        assert_eq!(body["field"], "q", "{params:?}");
    }
}

async fn search_limits_out_of_range_are_422_and_non_integers_400(backend: Backend) {
    let app = spawn_app(backend).await;
    for limit in ["0", "101", "-1", "99999999999999999999"] {
        let res = search(&app, "alice", &[("q", "x"), ("limit", limit)]).await;
        if limit.len() > 10 {
            // Not representable as an integer at all.
            assert_eq!(problem(res, 400).await["code"], "invalid_query", "{limit}");
            continue;
        }
        let body = problem(res, 422).await;
        assert_eq!(body["field"], "limit", "{limit}");
    }
    for limit in ["abc", "1.5", ""] {
        let res = search(&app, "alice", &[("q", "x"), ("limit", limit)]).await;
        assert_eq!(problem(res, 400).await["code"], "invalid_query", "{limit}");
    }
    for limit in ["1", "100"] {
        let res = search(&app, "alice", &[("q", "x"), ("limit", limit)]).await;
        assert_eq!(page(res).await["data"], json!([]));
    }
}

async fn another_users_messages_never_appear_in_search(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut mine = Vec::new();
    for user in ["alice", "bob"] {
        let thread = app.create_thread(user, &format!("{user}'s plans")).await;
        let message = app
            .append(user, str_of(&thread, "id"), "the launch code is hidden")
            .await;
        mine.push(str_of(&message, "id").to_owned());
    }
    for (user, expected) in [("alice", &mine[0]), ("bob", &mine[1])] {
        let body = page(search(&app, user, &[("q", "\"launch code\"")]).await).await;
        assert_eq!(message_ids(&body), std::slice::from_ref(expected), "{user}");
        assert_eq!(
            body["data"][0]["thread"]["title"],
            format!("{user}'s plans")
        );
    }
    let body = page(search(&app, "carol", &[("q", "launch")]).await).await;
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["has_more"], false);
}

async fn search_syntax_characters_never_cause_an_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let message = app
        .append(
            "alice",
            str_of(&thread, "id"),
            r#"she wrote "NEAR(x, y)" then a:b and 'it' and C:\path\file*"#,
        )
        .await;
    let queries = [
        "\"",
        "\"near",
        "*",
        "x*",
        "(",
        "(x",
        ")",
        "NEAR",
        "NEAR(x y)",
        ":",
        "a:b",
        "'",
        "'it'",
        "\\",
        "C:\\path",
        "^x",
        "x OR",
        "OR",
        "AND x",
        "x NOT y",
        "-",
        "--x",
        "x -\"",
        "%",
        "_",
        "$1",
        "?",
        "; DROP TABLE chat_messages",
        "x & y",
        "x | !y",
        "x <-> y",
        "x:*",
        "⟦x⟧",
        "«x»",
        "😀",
    ];
    for q in queries {
        let res = search(&app, "alice", &[("q", q)]).await;
        let status = res.status().as_u16();
        assert!(status == 200 || status == 422, "{q:?} answered {status}");
        if status == 422 {
            assert_eq!(problem(res, 422).await["field"], "q", "{q:?}");
        }
    }
    for q in [
        "NEAR",
        "near x",
        "a:b",
        "'it'",
        "C:\\path",
        "\"path file\"",
        "x*",
    ] {
        let body = page(search(&app, "alice", &[("q", q)]).await).await;
        assert_eq!(message_ids(&body), [str_of(&message, "id")], "{q:?}");
    }
}

async fn search_requires_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .request(Method::GET, "/api/v1/search?q=x")
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 401).await["code"], "unauthenticated");
    let res = app
        .as_user(Method::POST, "/api/v1/search?q=x", "alice")
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 405).await["code"], "method_not_allowed");
}

async fn edits_and_deletes_show_in_search_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let thread_id = str_of(&thread, "id");
    let message = app.append("alice", thread_id, "first draft").await;
    let path = format!(
        "/api/v1/threads/{thread_id}/messages/{}",
        str_of(&message, "id")
    );
    let res = app
        .patch(&path, "alice", json!({"content": "final version"}))
        .await;
    assert_eq!(res.status(), 200);
    let found = |q: &'static str| {
        let app = &app;
        async move { message_ids(&page(search(app, "alice", &[("q", q)]).await).await).len() }
    };
    assert_eq!(found("draft").await, 0);
    assert_eq!(found("final").await, 1);
    assert_eq!(app.delete(&path, "alice").await.status(), 204);
    assert_eq!(found("final").await, 0);

    app.append("alice", thread_id, "kept in the thread").await;
    assert_eq!(found("kept").await, 1);
    let res = app
        .delete(&format!("/api/v1/threads/{thread_id}"), "alice")
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(found("kept").await, 0);
}

/// The issue's acceptance check: "Search finds a word planted in one of 100k messages of a
/// user in a seeded PostgreSQL database, and not for another user".
#[tokio::test]
async fn search_finds_a_word_planted_in_one_of_100k_messages_and_not_for_another_user() {
    let app = spawn_app(Backend::Postgres).await;
    let thread = app.create_thread("owner", "Years of chat").await;
    let thread_id = str_of(&thread, "id").to_owned();
    let strangers = app.create_thread("stranger", "Someone else").await;
    app.append("stranger", str_of(&strangers, "id"), "apples and pears")
        .await;

    // 100 000 messages in one statement (each a root on its own branch); the generated
    // tsvector column and its GIN index fill themselves.
    let conn = crate::helpers::connect(app.db.url.as_str())
        .await
        .expect("connect to the test database");
    let seed = Statement::from_sql_and_values(
        conn.get_database_backend(),
        "INSERT INTO chat_messages \
           (id, branch_id, thread_id, user_id, role, content, sources, metadata, created_at, updated_at, version) \
         SELECT u.id, u.id, $1, (SELECT user_id FROM chat_threads WHERE id = $1), \
           CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END, \
           'message ' || i || ' about ' || (ARRAY['apples', 'pears', 'plums', 'figs', 'dates'])[1 + i % 5] \
             || ' and the weather in town number ' || (i % 97), \
           '[]'::jsonb, '{}'::jsonb, at, at, (extract(epoch FROM at) * 1000000)::bigint \
         FROM generate_series(1, 100000) AS i, \
           LATERAL (SELECT now() - interval '1 day' + i * interval '1 millisecond' AS at) AS t, \
           LATERAL (SELECT gen_random_uuid() AS id WHERE i IS NOT NULL) AS u",
        [uuid::Uuid::parse_str(&thread_id).expect("uuid").into()],
    );
    let seeded = conn.execute_raw(seed).await.expect("seed 100k messages");
    assert_eq!(seeded.rows_affected(), 100_000);
    let count = Statement::from_sql_and_values(
        conn.get_database_backend(),
        "UPDATE chat_threads SET message_count = message_count + 100000 WHERE id = $1",
        [uuid::Uuid::parse_str(&thread_id).expect("uuid").into()],
    );
    conn.execute_raw(count).await.expect("count them");
    conn.execute_unprepared("ANALYZE chat_messages")
        .await
        .expect("analyze");
    let _ = conn.close().await;

    let planted = app
        .append(
            "owner",
            &thread_id,
            "The password hint is xylophonist, do not share",
        )
        .await;
    let body = page(search(&app, "owner", &[("q", "xylophonist")]).await).await;
    assert_eq!(message_ids(&body), [str_of(&planted, "id")]);
    assert!(str_of(&body["data"][0], "snippet").contains("⟦xylophonist⟧"));
    let body = page(search(&app, "stranger", &[("q", "xylophonist")]).await).await;
    assert_eq!(body["data"], json!([]));

    // A word in a fifth of the messages: the first page comes back, full and ranked.
    let body = page(search(&app, "owner", &[("q", "apples weather")]).await).await;
    assert_eq!(body["data"].as_array().expect("data").len(), 20);
    assert_eq!(body["has_more"], true);
    let body = page(search(&app, "stranger", &[("q", "apples")]).await).await;
    assert_eq!(body["data"].as_array().expect("data").len(), 1);
}
