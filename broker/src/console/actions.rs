//! The console's actions on tenants, namespaces and topics, and what every
//! action shares: each form posts here, becomes one admin request (two to
//! delete a topic: its partitions first) made for the signed-in user, and
//! answers with a redirect back to the page, carrying a notice or the
//! admin API's reason. Destructive actions are reached through a
//! confirmation page ([`confirm`]) that works without JavaScript. Policies
//! are in `policy_actions.rs`, subscriptions in `subscription_actions.rs`.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::api::ApiError;
use super::layout::{enc, page, respond};
use super::session::Visitor;
use super::ConsoleState;

/// Back to `page`, saying how `result` went.
pub(super) fn back(page: &str, result: Result<(), ApiError>, done: &str) -> Response {
    let (key, text) = match result {
        Ok(()) => ("notice", done.to_string()),
        Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
            return Redirect::to("/ui/login").into_response()
        }
        Err(error) => ("error", error.to_string()),
    };
    Redirect::to(&format!("{page}?{key}={}", enc(&text))).into_response()
}

/// A form value that must be a whole number.
pub(super) fn number(text: &str, what: &str) -> Result<i64, ApiError> {
    text.trim().parse::<i64>().map_err(|_| ApiError::Status {
        status: StatusCode::BAD_REQUEST,
        reason: format!("{what}: {text:?} is not a whole number"),
    })
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct ConfirmQuery {
    action: String,
    what: String,
}

/// `GET /ui/confirm?action=…&what=…`: asks before a destructive post.
pub async fn confirm(visitor: Visitor, Query(query): Query<ConfirmQuery>) -> Response {
    let safe = query.action.starts_with("/ui/")
        && !query.action.contains("..")
        && !query.action.contains("//");
    if !safe {
        let error = ApiError::Status {
            status: StatusCode::BAD_REQUEST,
            reason: "not a console action".into(),
        };
        return super::layout::error_page(&error, visitor.user());
    }
    let body = html! {
        h1 { "Are you sure?" }
        div.card.error {
            p { "This deletes or discards " strong { (query.what) } ". It cannot be undone." }
            form.inline method="post" action=(query.action) {
                button.danger #confirm type="submit" { "Yes, go ahead" }
            }
            " "
            a href="javascript:history.back()" { "Cancel" }
        }
    };
    respond(StatusCode::OK, page("Confirm", visitor.user(), body))
}

#[derive(Debug, Deserialize)]
pub struct TenantForm {
    name: String,
    #[serde(default)]
    admin_roles: String,
    #[serde(default)]
    allowed_clusters: String,
}

pub async fn create_tenant(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Form(form): Form<TenantForm>,
) -> Response {
    let name = form.name.trim();
    let body = json!({
        "adminRoles": list(&form.admin_roles),
        "allowedClusters": list(&form.allowed_clusters),
    });
    let result = state
        .api
        .send(
            &visitor.caller,
            Method::PUT,
            &format!("/admin/v2/tenants/{}", enc(name)),
            Some(body),
        )
        .await;
    back("/ui/tenants", result, &format!("created tenant {name}"))
}

pub async fn delete_tenant(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path(tenant): Path<String>,
) -> Response {
    let path = format!("/admin/v2/tenants/{}", enc(&tenant));
    match state
        .api
        .send(&visitor.caller, Method::DELETE, &path, None)
        .await
    {
        Ok(()) => back("/ui/tenants", Ok(()), &format!("deleted tenant {tenant}")),
        Err(error) => back(&format!("/ui/tenants/{}", enc(&tenant)), Err(error), ""),
    }
}

#[derive(Debug, Deserialize)]
pub struct NamespaceForm {
    name: String,
    #[serde(default)]
    bundles: String,
}

pub async fn create_namespace(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path(tenant): Path<String>,
    Form(form): Form<NamespaceForm>,
) -> Response {
    let page = format!("/ui/tenants/{}", enc(&tenant));
    let name = form.name.trim();
    let result = async {
        let bundles = if form.bundles.trim().is_empty() {
            None
        } else {
            Some(number(&form.bundles, "bundles")?)
        };
        let body = bundles.map(|count| json!({ "numBundles": count }));
        let path = admin_namespace(&tenant, name);
        state
            .api
            .send(&visitor.caller, Method::PUT, &path, body)
            .await
    }
    .await;
    back(&page, result, &format!("created namespace {tenant}/{name}"))
}

pub async fn delete_namespace(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Response {
    let path = admin_namespace(&tenant, &namespace);
    match state
        .api
        .send(&visitor.caller, Method::DELETE, &path, None)
        .await
    {
        Ok(()) => back(
            &format!("/ui/tenants/{}", enc(&tenant)),
            Ok(()),
            &format!("deleted namespace {tenant}/{namespace}"),
        ),
        Err(error) => back(&namespace_page(&tenant, &namespace), Err(error), ""),
    }
}

pub(super) fn admin_namespace(tenant: &str, namespace: &str) -> String {
    format!("/admin/v2/namespaces/{}/{}", enc(tenant), enc(namespace))
}

pub(super) fn admin_topic(tenant: &str, namespace: &str, topic: &str) -> String {
    format!(
        "/admin/v2/persistent/{}/{}/{}",
        enc(tenant),
        enc(namespace),
        enc(topic)
    )
}

pub(super) fn namespace_page(tenant: &str, namespace: &str) -> String {
    format!("/ui/namespaces/{}/{}", enc(tenant), enc(namespace))
}

pub(super) fn topic_page(tenant: &str, namespace: &str, topic: &str) -> String {
    format!(
        "/ui/topics/{}/{}/{}",
        enc(tenant),
        enc(namespace),
        enc(topic)
    )
}

#[derive(Debug, Deserialize)]
pub struct TopicForm {
    name: String,
    #[serde(default)]
    partitions: String,
}

pub async fn create_topic(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace)): Path<(String, String)>,
    Form(form): Form<TopicForm>,
) -> Response {
    let name = form.name.trim();
    let result = async {
        let partitions = if form.partitions.trim().is_empty() {
            0
        } else {
            number(&form.partitions, "partitions")?
        };
        let base = admin_topic(&tenant, &namespace, name);
        if partitions > 0 {
            let path = format!("{base}/partitions");
            state
                .api
                .send(&visitor.caller, Method::PUT, &path, Some(json!(partitions)))
                .await
        } else {
            state
                .api
                .send(&visitor.caller, Method::PUT, &base, None)
                .await
        }
    }
    .await;
    match result {
        Ok(()) => back(
            &topic_page(&tenant, &namespace, name),
            Ok(()),
            &format!("created topic {name}"),
        ),
        Err(error) => back(&namespace_page(&tenant, &namespace), Err(error), ""),
    }
}

pub async fn delete_topic(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
) -> Response {
    let base = admin_topic(&tenant, &namespace, &topic);
    let partitions: serde_json::Value = state
        .api
        .get(&visitor.caller, &format!("{base}/partitions"))
        .await
        .unwrap_or_default();
    let path = if partitions["partitions"].as_u64().unwrap_or(0) > 0 {
        format!("{base}/partitions?force=true")
    } else {
        format!("{base}?force=true")
    };
    match state
        .api
        .send(&visitor.caller, Method::DELETE, &path, None)
        .await
    {
        Ok(()) => back(
            &namespace_page(&tenant, &namespace),
            Ok(()),
            &format!("deleted topic {topic}"),
        ),
        Err(error) => back(&topic_page(&tenant, &namespace, &topic), Err(error), ""),
    }
}

pub async fn unload_topic(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
) -> Response {
    let path = format!("{}/unload", admin_topic(&tenant, &namespace, &topic));
    let result = state
        .api
        .send(&visitor.caller, Method::PUT, &path, None)
        .await;
    back(
        &topic_page(&tenant, &namespace, &topic),
        result,
        "unloaded the topic",
    )
}

/// One request on a namespace (`suffix` under its admin path), then back
/// to the namespace's page.
async fn on_namespace(
    state: &ConsoleState,
    visitor: &Visitor,
    (tenant, namespace): (&str, &str),
    (method, suffix): (Method, &str),
    done: &str,
) -> Response {
    let path = format!("{}{suffix}", admin_namespace(tenant, namespace));
    let result = state.api.send(&visitor.caller, method, &path, None).await;
    back(&namespace_page(tenant, namespace), result, done)
}

pub async fn unload_namespace(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Response {
    let names = (tenant.as_str(), namespace.as_str());
    on_namespace(
        &state,
        &visitor,
        names,
        (Method::PUT, "/unload"),
        "unloaded the namespace",
    )
    .await
}

pub async fn unload_bundle(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, bundle)): Path<(String, String, String)>,
) -> Response {
    let names = (tenant.as_str(), namespace.as_str());
    let suffix = format!("/{}/unload", enc(&bundle));
    let done = format!("unloaded bundle {bundle}");
    on_namespace(&state, &visitor, names, (Method::PUT, &suffix), &done).await
}

pub async fn clear_namespace_backlog(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Response {
    let names = (tenant.as_str(), namespace.as_str());
    let done = "cleared the namespace's backlog";
    on_namespace(
        &state,
        &visitor,
        names,
        (Method::POST, "/clearBacklog"),
        done,
    )
    .await
}
