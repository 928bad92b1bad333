//! The web console at `/ui` on the admin port: server-rendered pages of the
//! cluster, tenants, namespaces, topics and subscriptions, with live plots
//! and the everyday actions. The console is a client of the admin API
//! ([`api`]): every figure it shows and every action it takes is an admin
//! request made for the signed-in user ([`session`]), so it can show
//! nothing the API would not, and it enforces the same permissions.
//!
//! Pages work with JavaScript off; the one script only refreshes the
//! elements marked `data-live` every 10 s. The stylesheet and the script
//! (and the icon) are compiled into the binary.
//!
//! - [`layout`]: the page shell and formatting; [`plot`]: SVG line plots;
//! - [`cluster_page`], [`tenant_pages`], [`namespace_page`],
//!   [`topic_page`], [`subscription_page`]: one module per page;
//!   [`replication_view`]: a namespace's geo-replication per remote cluster;
//! - [`actions`], [`policy_actions`], [`subscription_actions`]: the forms'
//!   posts, each one admin request, then back to the page with a notice or
//!   the API's reason.

mod actions;
mod api;
mod cluster_page;
mod layout;
mod namespace_page;
mod plot;
mod policy_actions;
mod replication_view;
mod session;
mod subscription_actions;
mod subscription_page;
mod tenant_pages;
mod topic_page;

use std::future::Future;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::admin::{admin_router, AdminState};
use crate::security::tls::TlsPeer;
use crate::security::TlsListener;
use axum::serve::Listener;

pub use api::{AdminApi, ApiError, Caller};

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    api: AdminApi,
    /// This cluster's name.
    cluster: String,
    /// Whether the console is served over HTTPS (cookies are `Secure`).
    https: bool,
}

/// The admin API with the console beside it. The console's routes are
/// outside the admin API's security layer: the login page must be reachable,
/// and the console's own requests to the API pass through that layer.
pub fn web_router(state: AdminState, https: bool) -> Router {
    let cluster = state.cluster.clone();
    let admin = admin_router(state);
    let console = ConsoleState {
        api: AdminApi::new(admin.clone()),
        cluster,
        https,
    };
    admin.merge(console_router(console))
}

fn console_router(state: ConsoleState) -> Router {
    Router::new()
        .route("/ui", get(cluster_page::cluster))
        .route("/ui/", get(cluster_page::cluster))
        .route("/ui/assets/console.css", get(stylesheet))
        .route("/ui/assets/console.js", get(script))
        .route("/ui/assets/favicon.svg", get(favicon))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/confirm", get(actions::confirm))
        .route(
            "/ui/tenants",
            get(tenant_pages::tenants).post(actions::create_tenant),
        )
        .route("/ui/tenants/{tenant}", get(tenant_pages::tenant))
        .route(
            "/ui/tenants/{tenant}/namespaces",
            post(actions::create_namespace),
        )
        .route("/ui/tenants/{tenant}/delete", post(actions::delete_tenant))
        .route(
            "/ui/namespaces/{tenant}/{namespace}",
            get(namespace_page::namespace),
        )
        .route(
            "/ui/namespaces/{tenant}/{namespace}/topics",
            post(actions::create_topic),
        )
        .route(
            "/ui/namespaces/{tenant}/{namespace}/policy",
            post(policy_actions::set_policy),
        )
        .route(
            "/ui/namespaces/{tenant}/{namespace}/unload",
            post(actions::unload_namespace),
        )
        .route(
            "/ui/namespaces/{tenant}/{namespace}/bundles/{bundle}/unload",
            post(actions::unload_bundle),
        )
        .route(
            "/ui/namespaces/{tenant}/{namespace}/clear-backlog",
            post(actions::clear_namespace_backlog),
        )
        .route(
            "/ui/namespaces/{tenant}/{namespace}/delete",
            post(actions::delete_namespace),
        )
        .route(
            "/ui/topics/{tenant}/{namespace}/{topic}",
            get(topic_page::topic),
        )
        .route(
            "/ui/topics/{tenant}/{namespace}/{topic}/delete",
            post(actions::delete_topic),
        )
        .route(
            "/ui/topics/{tenant}/{namespace}/{topic}/unload",
            post(actions::unload_topic),
        )
        .route(
            "/ui/topics/{tenant}/{namespace}/{topic}/subscriptions",
            post(subscription_actions::create_subscription),
        )
        .route(
            "/ui/topics/{tenant}/{namespace}/{topic}/subscriptions/{subscription}",
            get(subscription_page::subscription),
        )
        .route(
            "/ui/topics/{tenant}/{namespace}/{topic}/subscriptions/{subscription}/{action}",
            post(subscription_actions::subscription_action),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        layout::STYLESHEET,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        layout::SCRIPT,
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        layout::FAVICON,
    )
}

/// Unknown paths: a console page under `/ui`, the API's JSON elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/ui") {
        let error = ApiError::Status {
            status: axum::http::StatusCode::NOT_FOUND,
            reason: format!("no console page at {}", uri.path()),
        };
        layout::error_page(&error, None)
    } else {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "reason": format!("no route for {}", uri.path()) })),
        )
            .into_response()
    }
}

/// Serves the admin API and the console over HTTPS until `shutdown`
/// resolves; the client certificate's common name reaches
/// `security::http` as connect info.
pub async fn serve_tls(
    listener: TlsListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "admin api and console listening for https");
    axum::serve(
        listener,
        web_router(state, true).into_make_service_with_connect_info::<TlsPeer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves the admin API and the console on `listener` until `shutdown`
/// resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "admin api listening; console at /ui");
    axum::serve(listener, web_router(state, false))
        .with_graceful_shutdown(shutdown)
        .await
}
