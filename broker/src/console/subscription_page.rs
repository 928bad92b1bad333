//! A subscription's page
//! (`/ui/topics/{tenant}/{namespace}/{topic}/subscriptions/{subscription}`):
//! its backlog over the last 15 minutes, each consumer's unacknowledged
//! count, permits and whether it is blocked, and the actions on its cursor
//! (skip, clear the backlog, reset to a time, delete).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::api::ApiError;
use super::layout::{destructive, enc, flag, page, rate, respond, Flash};
use super::plot::{plot, Line};
use super::session::{handle, Visitor};
use super::ConsoleState;
use crate::admin::TopicStats;
use crate::topic::{RateHistory, HISTORY_POINTS};

pub async fn subscription(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, topic, subscription)): Path<(String, String, String, String)>,
    Query(flash): Query<Flash>,
) -> Response {
    let caller = &visitor.caller;
    let base = format!("{}/{}/{}", enc(&tenant), enc(&namespace), enc(&topic));
    let stats: TopicStats = match state
        .api
        .get(caller, &format!("/admin/v2/persistent/{base}/stats"))
        .await
    {
        Ok(stats) => stats,
        Err(error) => return handle(error, &visitor),
    };
    let Some(sub) = stats.subscriptions.get(&subscription) else {
        let error = ApiError::Status {
            status: StatusCode::NOT_FOUND,
            reason: format!(
                "topic {tenant}/{namespace}/{topic} has no subscription {subscription:?}"
            ),
        };
        return handle(error, &visitor);
    };
    let history: RateHistory = state
        .api
        .get(caller, &format!("/admin/v2/persistent/{base}/rateHistory"))
        .await
        .unwrap_or_default();
    let backlog = history
        .subscriptions
        .get(&subscription)
        .map(|h| h.backlog.clone())
        .unwrap_or_default();
    let actions = format!("/ui/topics/{base}/subscriptions/{}", enc(&subscription));
    let body = html! {
        p.crumbs {
            a href="/ui/tenants" { "Tenants" } " / "
            a href=(format!("/ui/tenants/{}", enc(&tenant))) { (tenant) } " / "
            a href=(format!("/ui/namespaces/{}/{}", enc(&tenant), enc(&namespace))) { (namespace) } " / "
            a href=(format!("/ui/topics/{base}")) { (topic) } " / " (subscription)
        }
        h1 { "Subscription " (subscription) }
        (flash.render())
        div.card #subscription-summary data-live {
            table {
                tr { th { "Type" } th.num { "Backlog" } th.num { "Unacked" } th.num { "msg/s out" } th { "Mark-delete position" } th { "Blocked" } }
                tr {
                    td { (sub.kind.as_deref().unwrap_or("-")) }
                    td.num { (sub.msg_backlog) }
                    td.num { (sub.unacked_messages) }
                    td.num { (rate(sub.msg_rate_out)) }
                    td { (sub.mark_delete_position) }
                    td { (flag(sub.blocked_subscription_on_unacked_msgs, "blocked", "no", false)) }
                }
            }
        }
        div.plots {
            (plot("plot-subscription-backlog", "Backlog (messages)", &[Line { label: "backlog", points: &backlog }], HISTORY_POINTS, rate))
        }
        div.card #consumers data-live {
            h2 { "Consumers (" (sub.consumers.len()) ")" }
            table {
                tr { th { "Name" } th.num { "Unacked" } th.num { "Permits" } th.num { "msg/s" } th { "Blocked" } }
                @for consumer in &sub.consumers {
                    tr {
                        td { (consumer.consumer_name) }
                        td.num { (consumer.unacked_messages) }
                        td.num { (consumer.available_permits) }
                        td.num { (rate(consumer.msg_rate_out)) }
                        td { (flag(consumer.blocked_consumer_on_unacked_msgs, "blocked", "no", false)) }
                    }
                }
            }
        }
        div.card {
            h2 { "Actions" }
            form.row method="post" action=(format!("{actions}/skip")) {
                label { "Skip messages" input name="count" type="number" min="1" required; }
                button type="submit" { "Skip" }
            }
            form.row method="post" action=(format!("{actions}/reset")) {
                label { "Reset to minutes ago" input name="minutes_ago" type="number" min="0" required; }
                button type="submit" { "Reset cursor" }
            }
            p {
                (destructive(&format!("{actions}/clear"), &format!("the whole backlog of subscription {subscription}"), "Clear backlog"))
                " "
                (destructive(&format!("{actions}/delete"), &format!("subscription {subscription}"), "Delete subscription"))
            }
        }
    };
    respond(
        StatusCode::OK,
        page(
            &format!("Subscription {subscription}"),
            visitor.user(),
            body,
        ),
    )
}
