//! The tenants page (`/ui/tenants`: each tenant with its namespace count,
//! and a form to create one) and a tenant's page (`/ui/tenants/{tenant}`:
//! its admins and clusters, its namespaces with their topic counts, and
//! forms to create a namespace or delete the tenant).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::layout::{destructive, enc, page, respond, Flash};
use super::session::{handle, Visitor};
use super::ConsoleState;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TenantView {
    admin_roles: Vec<String>,
    allowed_clusters: Vec<String>,
}

/// The last path segment of a full name (`tenant/ns`, `persistent://t/ns/x`).
pub fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

pub async fn tenants(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Query(flash): Query<Flash>,
) -> Response {
    let caller = &visitor.caller;
    let tenants: Vec<String> = match state.api.get(caller, "/admin/v2/tenants").await {
        Ok(tenants) => tenants,
        Err(error) => return handle(error, &visitor),
    };
    let mut rows = Vec::new();
    for tenant in &tenants {
        let path = format!("/admin/v2/namespaces/{}", enc(tenant));
        let count = state
            .api
            .get::<Vec<String>>(caller, &path)
            .await
            .map(|namespaces| namespaces.len().to_string())
            .unwrap_or_else(|error| error.to_string());
        rows.push((tenant, count));
    }
    let body = html! {
        h1 { "Tenants" }
        (flash.render())
        div.card {
            table {
                tr { th { "Tenant" } th.num { "Namespaces" } }
                @for (tenant, count) in &rows {
                    tr {
                        td { a href=(format!("/ui/tenants/{}", enc(tenant))) { (tenant) } }
                        td.num { (count) }
                    }
                }
            }
        }
        form.card.row method="post" action="/ui/tenants" {
            h2 { "Create a tenant" }
            label { "Name" input name="name" required pattern="[A-Za-z0-9_=:.\\-]+"; }
            label { "Admin roles (comma-separated)" input name="admin_roles"; }
            label { "Allowed clusters" input name="allowed_clusters" value=(state.cluster); }
            button type="submit" { "Create" }
        }
    };
    respond(StatusCode::OK, page("Tenants", visitor.user(), body))
}

pub async fn tenant(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path(tenant): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let caller = &visitor.caller;
    let info: TenantView = match state
        .api
        .get(caller, &format!("/admin/v2/tenants/{}", enc(&tenant)))
        .await
    {
        Ok(info) => info,
        Err(error) => return handle(error, &visitor),
    };
    let namespaces: Vec<String> = match state
        .api
        .get(caller, &format!("/admin/v2/namespaces/{}", enc(&tenant)))
        .await
    {
        Ok(namespaces) => namespaces,
        Err(error) => return handle(error, &visitor),
    };
    let mut rows = Vec::new();
    for namespace in &namespaces {
        let name = short(namespace).to_string();
        let path = format!("/admin/v2/persistent/{}/{}", enc(&tenant), enc(&name));
        let topics = state
            .api
            .get::<Vec<String>>(caller, &path)
            .await
            .map(|topics| topics.len().to_string())
            .unwrap_or_else(|error| error.to_string());
        rows.push((name, topics));
    }
    let body = html! {
        p.crumbs { a href="/ui/tenants" { "Tenants" } " / " (tenant) }
        h1 { "Tenant " (tenant) }
        (flash.render())
        div.card {
            p { "Admin roles: " (if info.admin_roles.is_empty() { "none".to_string() } else { info.admin_roles.join(", ") }) }
            p { "Allowed clusters: " (info.allowed_clusters.join(", ")) }
            (destructive(&format!("/ui/tenants/{}/delete", enc(&tenant)), &format!("tenant {tenant}"), "Delete tenant"))
        }
        div.card {
            h2 { "Namespaces (" (rows.len()) ")" }
            table {
                tr { th { "Namespace" } th.num { "Topics" } }
                @for (name, topics) in &rows {
                    tr {
                        td { a href=(format!("/ui/namespaces/{}/{}", enc(&tenant), enc(name))) { (tenant) "/" (name) } }
                        td.num { (topics) }
                    }
                }
            }
        }
        form.card.row method="post" action=(format!("/ui/tenants/{}/namespaces", enc(&tenant))) {
            h2 { "Create a namespace" }
            label { "Name" input name="name" required; }
            label { "Bundles" input name="bundles" type="number" min="1" max="1024" value="4"; }
            button type="submit" { "Create" }
        }
    };
    respond(
        StatusCode::OK,
        page(&format!("Tenant {tenant}"), visitor.user(), body),
    )
}
