//! The console's pages and actions in-process, over an in-memory broker:
//! every page renders with what the admin API knows, actions change what
//! the API then reports, the rate history feeds the topic page, and odd
//! paths and forms get 4xx pages, never a 5xx. (The browser test is
//! `tests/tests/console.rs`.)

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::{start_broker_over, topic, RawClient};
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::admin::AdminState;
use magnetar_broker::console::web_router;
use magnetar_broker::namespace::TopicName;
use magnetar_broker::{BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::MemoryStore;
use tower::ServiceExt;

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    form: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "broker:8080");
    if form.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let request = request
        .body(Body::from(form.unwrap_or_default().to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        location,
    )
}

/// Posts `form` to `path`; the console answers a form with a redirect,
/// whose location is returned.
async fn post_form(router: &Router, path: &str, form: &str) -> String {
    let (status, body, location) = call(router, Method::POST, path, Some(form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {body}");
    location.unwrap_or_default()
}

async fn get(router: &Router, path: &str) -> (StatusCode, String) {
    let (status, body, _) = call(router, Method::GET, path, None).await;
    (status, body)
}

/// A broker over in-memory stores, and its admin API with the console.
async fn console_over_memory() -> (BrokerServiceHandle, Router) {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let broker = start_broker_over(BrokerServiceConfig::default(), &metadata, &ledgers).await;
    let mut state = AdminState::new(metadata.clone(), broker.factory().clone(), "standalone");
    state.topics = Some(broker.topics().clone());
    (broker, web_router(state, false))
}

#[tokio::test]
async fn pages_show_what_the_admin_api_knows() {
    let (broker, router) = console_over_memory().await;

    let name = topic("console");
    let short = name.rsplit('/').next().unwrap().to_string();
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&name, 1).await;
    for i in 0..3 {
        producer
            .publish_and_wait(1, i, format!("{{\"console\": {i}}}").as_bytes())
            .await;
    }
    let loaded = broker
        .topics()
        .get(&TopicName::parse(&name).unwrap())
        .expect("the topic is loaded");
    loaded.record_history(1_000).await;
    loaded.record_history(11_000).await;

    let (status, page) = get(&router, "/ui").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Metadata store") && page.contains("healthy"),
        "{page}"
    );

    let (status, page) = get(&router, "/ui/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("public"), "{page}");

    let (status, page) = get(&router, "/ui/namespaces/public/default").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&short), "{page}");

    let (status, page) = get(
        &router,
        &format!("/ui/topics/public/default/{short}?view=json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("&quot;console&quot;: 2"),
        "the newest message, as JSON: {page}"
    );
    assert!(page.contains("<polyline"), "{page}");

    let (status, history) = get(
        &router,
        &format!("/admin/v2/persistent/public/default/{short}/rateHistory"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history["endMillis"], 11_000);
    assert_eq!(history["storageSize"].as_array().unwrap().len(), 2);
    assert!(
        history["storageSize"][1].as_f64().unwrap() > 0.0,
        "{history}"
    );

    // A tenant made by a form post: the API lists it afterwards.
    let location = post_form(
        &router,
        "/ui/tenants",
        "name=made-by-form&admin_roles=&allowed_clusters=standalone",
    )
    .await;
    assert!(location.contains("notice="), "{location}");
    let (_, tenants) = get(&router, "/admin/v2/tenants").await;
    assert!(tenants.contains("made-by-form"), "{tenants}");

    // A refused action comes back with the API's reason.
    let location = post_form(
        &router,
        "/ui/tenants/public/namespaces",
        "name=bad%20name&bundles=2",
    )
    .await;
    assert!(location.contains("error="), "{location}");
    let location = post_form(
        &router,
        "/ui/tenants/public/namespaces",
        "name=fine&bundles=lots",
    )
    .await;
    assert!(location.contains("not%20a%20whole%20number"), "{location}");

    broker.shutdown().await;
}

#[tokio::test]
async fn odd_paths_and_posts_get_4xx_pages() {
    let (broker, router) = console_over_memory().await;

    let long = "x".repeat(5000);
    let paths = [
        "/ui/tenants/nobody".to_string(),
        "/ui/namespaces/public/none".to_string(),
        "/ui/namespaces/no%2Fpe/x".to_string(),
        "/ui/namespaces/public/default?page=abc".to_string(),
        "/ui/topics/public/default/none".to_string(),
        "/ui/topics/public/default/none/subscriptions/s".to_string(),
        "/ui/topics/p%C3%BCblic/default/x".to_string(),
        format!("/ui/topics/public/default/{long}"),
        "/ui/topics/public/default/..".to_string(),
        "/ui/nothing/here".to_string(),
        "/ui/confirm?action=//evil.example/&what=x".to_string(),
        "/ui/confirm".to_string(),
        "/ui/namespaces/public/default?page=-1".to_string(),
    ];
    for path in &paths {
        let (status, body) = get(&router, path).await;
        assert!(status.is_client_error(), "{path}: {status} {body}");
    }
    // A page past the end shows the last one.
    let (status, _) = get(
        &router,
        "/ui/namespaces/public/default?page=99999&filter=%00",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&router, "/admin/v2/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("reason"), "{body}");

    let posts = [
        ("/ui/tenants", "nothing=here"),
        ("/ui/namespaces/public/default/policy", "policy=everything"),
        (
            "/ui/namespaces/public/default/policy",
            "policy=messageTTL&seconds=-3",
        ),
        ("/ui/topics/public/default/none/subscriptions/s/explode", ""),
        ("/ui/topics/public/default/none/delete", ""),
    ];
    for (path, form) in posts {
        let (status, body, location) = call(&router, Method::POST, path, Some(form)).await;
        let refused = status.is_client_error()
            || (status == StatusCode::SEE_OTHER
                && location.as_deref().is_some_and(|l| l.contains("error=")));
        assert!(refused, "{path} {form}: {status} {location:?} {body}");
    }

    // A post from another site is refused before anything happens.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/ui/tenants")
        .header(header::HOST, "broker:8080")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("name=evil"))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, tenants) = get(&router, "/admin/v2/tenants").await;
    assert!(!tenants.contains("evil"), "{tenants}");

    broker.shutdown().await;
}
