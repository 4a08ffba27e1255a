use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};

/// Every operation of API.md, as `METHOD path`.
const CONTRACT: &[&str] = &[
    "GET /api/v1/threads",
    "POST /api/v1/threads",
    "GET /api/v1/threads/{thread_id}",
    "PATCH /api/v1/threads/{thread_id}",
    "DELETE /api/v1/threads/{thread_id}",
    "GET /api/v1/threads/{thread_id}/messages",
    "POST /api/v1/threads/{thread_id}/messages",
    "POST /api/v1/threads/{thread_id}/messages/batch",
    "POST /api/v1/threads/{thread_id}/fork",
    "GET /api/v1/threads/{thread_id}/messages/{message_id}",
    "PUT /api/v1/threads/{thread_id}/messages/{message_id}",
    "PATCH /api/v1/threads/{thread_id}/messages/{message_id}",
    "DELETE /api/v1/threads/{thread_id}/messages/{message_id}",
    "PUT /api/v1/threads/{thread_id}/messages/{message_id}/feedback",
    "DELETE /api/v1/threads/{thread_id}/messages/{message_id}/feedback",
    "GET /api/v1/search",
    "GET /api/v1/events",
    "GET /api/v1/threads/{thread_id}/export",
    "GET /api/v1/me",
    "DELETE /api/v1/me/history",
    "GET /api/v1/me/export",
    "POST /api/v1/me/import",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /docs",
];

fn operations(doc: &Value) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                ops.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_the_server_serves() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let documented = operations(&doc);
    let contract: BTreeSet<String> = CONTRACT.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(documented, contract);

    let fill = |path: &str| {
        path.replace("{thread_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{message_id}", &uuid::Uuid::now_v7().to_string())
    };
    for op in &documented {
        let (method, path) = op.split_once(' ').expect("op");
        let method: Method = method.parse().expect("method");
        let res = app
            .as_user(method.clone(), &fill(path), "alice")
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        // An event stream stays open: its status says enough.
        let body: Value = if path == "/api/v1/events" {
            Value::Null
        } else {
            res.json().await.unwrap_or(Value::Null)
        };
        assert_ne!(status, 405, "{op} is documented but not served");
        assert!(
            !(status == 404 && body["code"] == "not_found"),
            "{op} is documented but not served"
        );
        // Every other method on a documented path is refused as such.
        for other in ["GET", "POST", "PATCH", "DELETE", "PUT"] {
            if documented.contains(&format!("{other} {path}")) {
                continue;
            }
            let res = app
                .as_user(other.parse().expect("method"), &fill(path), "alice")
                .send()
                .await
                .expect("request");
            assert_eq!(
                res.status(),
                405,
                "{other} {path} is served but not documented"
            );
        }
    }
    // Error answers are documented with the problem schema and the security schemes exist.
    let schemes = &doc["components"]["securitySchemes"];
    assert!(schemes["bearer"].is_object() && schemes["session_cookie"].is_object());
    let get_thread = &doc["paths"]["/api/v1/threads/{thread_id}"]["get"]["responses"];
    for status in ["200", "400", "401", "404", "503"] {
        assert!(
            get_thread[status].is_object(),
            "GET thread documents {status}"
        );
    }
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    assert!(unauthorized["content"]["application/problem+json"].is_object());
}

/// `openapi.json` at the repository's root is what the binary serves, byte for byte as
/// `chat-history openapi` prints it; closed lists (problem codes, query values) are enums.
#[tokio::test]
async fn the_committed_openapi_json_is_what_the_binary_serves() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let committed = std::fs::read_to_string(&path).expect("openapi.json at the repository root");
    assert!(
        committed == format!("{}\n", api::openapi::pretty_json()),
        "openapi.json differs from what the binary serves: regenerate it with \
         `cargo run -q -- openapi > openapi.json`"
    );
    let app = spawn_app(Backend::Sqlite).await;
    let served: Value = app.openapi_doc().await;
    let file: Value = serde_json::from_str(&committed).expect("json");
    assert_eq!(served, file);

    let schemas = &file["components"]["schemas"];
    let codes: Vec<&str> = schemas["ProblemCode"]["enum"]
        .as_array()
        .expect("problem codes are an enum")
        .iter()
        .map(|c| c.as_str().expect("code"))
        .collect();
    let all: Vec<&str> = api::error::ProblemCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, all);
    for (name, values) in [
        ("ArchivedFilter", &["false", "true", "all"][..]),
        ("Order", &["asc", "desc"]),
        ("Branch", &["active", "all"]),
        ("ExportFormat", &["json", "markdown"]),
        ("ImportFormat", &["chat-history", "chatgpt", "claude"]),
    ] {
        assert_eq!(schemas[name]["enum"], json!(values), "{name}");
    }
}

fn chromium() -> String {
    let candidates = [
        std::env::var("CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".to_owned(),
        "/usr/bin/chromium-browser".to_owned(),
    ];
    candidates
        .into_iter()
        .find(|c| !c.is_empty() && std::path::Path::new(c).exists())
        .unwrap_or_else(|| {
            panic!(
                "Chromium is needed for the /docs browser test: `apt-get install chromium` \
                 (CI's .ci/run installs it), or set CHROMIUM to its path"
            )
        })
}

#[tokio::test]
async fn a_real_browser_renders_the_docs_page_with_the_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let url = format!("{}/docs", app.address);
    let output = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .await
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("swagger-ui"),
        "the page is Swagger UI: {}",
        &dom[..dom.len().min(500)]
    );
    for route in [
        "/api/v1/threads",
        "/api/v1/threads/{thread_id}/messages/batch",
        "/api/v1/me",
    ] {
        assert!(dom.contains(route), "{route} is shown on /docs");
    }
}
