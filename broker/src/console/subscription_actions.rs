//! The subscription forms: create one at the start or the end of the
//! topic, and skip, reset to a time, clear or delete, each one admin
//! request on the subscription, then back to its page.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::actions::{admin_topic, back, number, topic_page};
use super::api::ApiError;
use super::layout::enc;
use super::session::Visitor;
use super::ConsoleState;
use crate::managed_ledger::now_millis;

#[derive(Debug, Deserialize)]
pub struct SubscriptionForm {
    name: String,
    #[serde(default)]
    position: String,
}

pub async fn create_subscription(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    Form(form): Form<SubscriptionForm>,
) -> Response {
    let name = form.name.trim();
    let path = format!(
        "{}/subscription/{}",
        admin_topic(&tenant, &namespace, &topic),
        enc(name)
    );
    // Pulsar's earliest message id; no body means the latest position.
    let body = (form.position == "earliest")
        .then(|| json!({ "ledgerId": -1, "entryId": -1, "partitionIndex": -1 }));
    let result = state
        .api
        .send(&visitor.caller, Method::PUT, &path, body)
        .await;
    back(
        &topic_page(&tenant, &namespace, &topic),
        result,
        &format!("created subscription {name}"),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CursorForm {
    count: String,
    minutes_ago: String,
}

/// `POST …/subscriptions/{subscription}/{skip|reset|clear|delete}`.
pub async fn subscription_action(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, topic, subscription, action)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    Form(form): Form<CursorForm>,
) -> Response {
    let base = format!(
        "{}/subscription/{}",
        admin_topic(&tenant, &namespace, &topic),
        enc(&subscription)
    );
    let page = format!(
        "{}/subscriptions/{}",
        topic_page(&tenant, &namespace, &topic),
        enc(&subscription)
    );
    let caller = &visitor.caller;
    let result = async {
        match action.as_str() {
            "skip" => {
                let count = number(&form.count, "messages to skip")?;
                state
                    .api
                    .send(caller, Method::POST, &format!("{base}/skip/{count}"), None)
                    .await?;
                Ok(format!("skipped {count} messages"))
            }
            "reset" => {
                let minutes = number(&form.minutes_ago, "minutes ago")?.max(0) as u64;
                let at = now_millis().saturating_sub(minutes * 60_000);
                state
                    .api
                    .send(
                        caller,
                        Method::POST,
                        &format!("{base}/resetcursor/{at}"),
                        None,
                    )
                    .await?;
                Ok(format!("reset the cursor to {minutes} minutes ago"))
            }
            "clear" => {
                state
                    .api
                    .send(caller, Method::POST, &format!("{base}/skip_all"), None)
                    .await?;
                Ok("cleared the backlog".to_string())
            }
            "delete" => {
                state
                    .api
                    .send(caller, Method::DELETE, &format!("{base}?force=true"), None)
                    .await?;
                Ok("deleted".to_string())
            }
            other => Err(ApiError::Status {
                status: StatusCode::NOT_FOUND,
                reason: format!("no subscription action {other:?}"),
            }),
        }
    }
    .await;
    match result {
        Ok(done) if action == "delete" => back(
            &topic_page(&tenant, &namespace, &topic),
            Ok(()),
            &format!("subscription {subscription} {done}"),
        ),
        Ok(done) => back(&page, Ok(()), &done),
        Err(error) => back(&page, Err(error), ""),
    }
}
