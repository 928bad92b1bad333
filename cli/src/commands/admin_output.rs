//! How `magnetar admin` prints an answer: JSON as the API sent it with
//! `--json`; otherwise a list one item per line, and an object as a
//! two-column table of its leaves, named by their dotted paths
//! (`subscriptions.orders.msgBacklog  12`). A message (peek, examine)
//! prints its headers, then its payload.

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::admin_http::Answer;

pub fn print_answer(value: &Value, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
        return Ok(());
    }
    for line in table(value) {
        println!("{line}");
    }
    Ok(())
}

/// A message read by peek or examine: its `X-Pulsar-*` headers, then its
/// payload as text (or hex when it is not UTF-8); with `--json` one object
/// `{"headers": {...}, "payload": "..."}`.
pub fn print_message(answer: &Answer, json: bool) -> Result<()> {
    let headers: Vec<(&str, &str)> = answer
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.strip_prefix("x-pulsar-")?, value.as_str())))
        .collect();
    let payload = match std::str::from_utf8(&answer.body) {
        Ok(text) => text.to_string(),
        Err(_) => answer.body.iter().map(|b| format!("{b:02x}")).collect(),
    };
    if json {
        let map: Map<String, Value> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), Value::String(value.to_string())))
            .collect();
        println!("{}", json!({"headers": map, "payload": payload}));
        return Ok(());
    }
    let width = headers
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, value) in headers {
        println!("{name:<width$}  {value}");
    }
    println!("{payload}");
    println!();
    Ok(())
}

/// The lines printed for `value` without `--json`.
pub fn table(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(scalar).collect()
        }
        Value::Object(_) | Value::Array(_) => {
            let mut rows = Vec::new();
            leaves(value, String::new(), &mut rows);
            let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            rows.into_iter()
                .map(|(key, value)| format!("{key:<width$}  {value}"))
                .collect()
        }
        other => vec![scalar(other)],
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn leaves(value: &Value, path: String, rows: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                leaves(child, join(key), rows);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                leaves(child, join(&index.to_string()), rows);
            }
        }
        Value::Object(_) => rows.push((path, "{}".to_string())),
        Value::Array(_) => rows.push((path, "[]".to_string())),
        other => rows.push((path, scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_print_one_item_per_line_and_objects_as_aligned_leaves() {
        assert_eq!(table(&json!(["a", "b"])), vec!["a", "b"]);
        let lines = table(&json!({
            "msgInCounter": 3,
            "subscriptions": {"s": {"msgBacklog": 2, "type": null}},
            "publishers": [],
        }));
        assert_eq!(
            lines,
            vec![
                "msgInCounter                3",
                "publishers                  []",
                "subscriptions.s.msgBacklog  2",
                "subscriptions.s.type        -",
            ]
        );
        assert_eq!(table(&json!(5)), vec!["5"]);
    }
}
