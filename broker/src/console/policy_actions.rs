//! The namespace policy forms: each names a policy and its values, and
//! becomes one admin request under the namespace (`POST` to set, `DELETE`
//! to remove), then back to the namespace's page.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::actions::{admin_namespace, back, namespace_page, number};
use super::api::ApiError;
use super::session::Visitor;
use super::ConsoleState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolicyForm {
    policy: String,
    minutes: String,
    megabytes: String,
    seconds: String,
    enabled: String,
    limit_size: String,
    limit_time: String,
    quota_policy: String,
    count: String,
    /// The policy a removal names.
    name: String,
}

/// The admin path (under the namespace) and body that set a policy;
/// `None` for the body of a removal (a `DELETE`).
fn policy_request(form: &PolicyForm) -> Result<(String, Option<serde_json::Value>), ApiError> {
    let bad = |reason: String| ApiError::Status {
        status: StatusCode::BAD_REQUEST,
        reason,
    };
    Ok(match form.policy.as_str() {
        "retention" => (
            "retention".into(),
            Some(json!({
                "retentionTimeInMinutes": number(&form.minutes, "retention minutes")?,
                "retentionSizeInMB": number(&form.megabytes, "retention MB")?,
            })),
        ),
        "messageTTL" => (
            "messageTTL".into(),
            Some(json!(number(&form.seconds, "TTL")?)),
        ),
        "deduplication" => ("deduplication".into(), Some(json!(form.enabled == "true"))),
        "backlogQuota" => (
            "backlogQuota".into(),
            Some(json!({
                "limitSize": number(&form.limit_size, "backlog bytes")?,
                "limitTime": number(&form.limit_time, "backlog seconds")?,
                "policy": form.quota_policy,
            })),
        ),
        "maxProducersPerTopic" | "maxConsumersPerTopic" => (
            form.policy.clone(),
            Some(json!(number(&form.count, &form.policy)?)),
        ),
        "remove" => match form.name.as_str() {
            "retention"
            | "messageTTL"
            | "deduplication"
            | "backlogQuota"
            | "maxProducersPerTopic"
            | "maxConsumersPerTopic" => (form.name.clone(), None),
            other => return Err(bad(format!("no policy {other:?} to remove"))),
        },
        other => return Err(bad(format!("no policy {other:?}"))),
    })
}

pub async fn set_policy(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace)): Path<(String, String)>,
    Form(form): Form<PolicyForm>,
) -> Response {
    let page = namespace_page(&tenant, &namespace);
    let result = async {
        let (policy, body) = policy_request(&form)?;
        let path = format!("{}/{policy}", admin_namespace(&tenant, &namespace));
        match body {
            Some(body) => {
                state
                    .api
                    .send(&visitor.caller, Method::POST, &path, Some(body))
                    .await
            }
            None => {
                state
                    .api
                    .send(&visitor.caller, Method::DELETE, &path, None)
                    .await
            }
        }
    }
    .await;
    let done = if form.policy == "remove" {
        format!("removed {}", form.name)
    } else {
        format!("set {}", form.policy)
    };
    back(&page, result, &done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_become_admin_requests() {
        let form = PolicyForm {
            policy: "retention".into(),
            minutes: "60".into(),
            megabytes: "-1".into(),
            ..Default::default()
        };
        let (path, body) = policy_request(&form).unwrap();
        assert_eq!(path, "retention");
        assert_eq!(
            body,
            Some(json!({"retentionTimeInMinutes": 60, "retentionSizeInMB": -1}))
        );

        let form = PolicyForm {
            policy: "remove".into(),
            name: "messageTTL".into(),
            ..Default::default()
        };
        assert_eq!(
            policy_request(&form).unwrap(),
            ("messageTTL".to_string(), None)
        );

        let form = PolicyForm {
            policy: "messageTTL".into(),
            seconds: "soon".into(),
            ..Default::default()
        };
        let error = policy_request(&form).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.to_string().contains("not a whole number"));

        let form = PolicyForm {
            policy: "remove".into(),
            name: "everything".into(),
            ..Default::default()
        };
        assert!(policy_request(&form).is_err());
    }
}
