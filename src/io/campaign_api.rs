//! The campaigns REST API: each flow's campaign (paused or dialling, its counts),
//! pause and resume, stats by flow and outcome, and the attempts with their transitions
//! and decisions. Described with the rest of the API in `/openapi.json`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::serve::Shared;
use crate::campaign::policy::Flow;
use crate::storage::AttemptFilter;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/campaigns", get(list_campaigns))
        .route("/v1/campaigns/stats", get(stats))
        .route("/v1/campaigns/{flow}/pause", post(pause))
        .route("/v1/campaigns/{flow}/resume", post(resume))
        .route("/v1/attempts", get(list_attempts))
        .route("/v1/attempts/{id}", get(show_attempt))
        .route("/openapi.json", get(openapi))
}

/// The API's OpenAPI 3 description (checked against the router by a test).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([("content-type", "application/json")], OPENAPI).into_response()
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

/// `GET /v1/campaigns`: `{"campaigns": [{"flow", "paused", "paused_at", "states", "results",
/// "outcomes"}]}`, one per flow, and the dialer's trunks.
async fn list_campaigns(State(shared): State<Arc<Shared>>) -> Response {
    let (paused, stats) = match (shared.store.paused().await, shared.store.attempt_stats().await) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let campaigns: Vec<Value> = Flow::ALL
        .into_iter()
        .map(|flow| {
            let since = paused.iter().find(|(f, _)| f == flow.name()).map(|(_, at)| at.clone());
            let counts = stats["flows"].get(flow.name()).cloned().unwrap_or(json!({}));
            json!({
                "flow": flow.name(), "paused": since.is_some(), "paused_at": since,
                "states": counts.get("states").cloned().unwrap_or(json!({})),
                "results": counts.get("results").cloned().unwrap_or(json!({})),
                "outcomes": counts.get("outcomes").cloned().unwrap_or(json!({})),
            })
        })
        .collect();
    Json(json!({"campaigns": campaigns, "trunks": shared.cfg.campaign.trunks})).into_response()
}

/// `GET /v1/campaigns/stats`: `{"flows": {FLOW: {"states", "results", "outcomes"}}, "outbox"}`.
async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    match shared.store.attempt_stats().await {
        Ok(s) => Json(s).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn set_paused(shared: &Shared, flow: &str, paused: bool) -> Response {
    let Some(flow) = Flow::parse(flow) else {
        let flows: Vec<&str> = Flow::ALL.iter().map(|f| f.name()).collect();
        return error(StatusCode::NOT_FOUND, format!("no flow {flow:?} (flows: {})", flows.join(", ")));
    };
    match shared.store.set_paused(flow.name().into(), paused, chrono::Utc::now()).await {
        Ok(()) => {
            tracing::info!(flow = flow.name(), paused, "campaign {}", if paused { "paused" } else { "resumed" });
            Json(json!({"flow": flow.name(), "paused": paused})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `POST /v1/campaigns/{flow}/pause`: no new calls for the flow (its attempts are still
/// scheduled and decided; calls in progress finish).
async fn pause(State(shared): State<Arc<Shared>>, Path(flow): Path<String>) -> Response {
    set_paused(&shared, &flow, true).await
}

async fn resume(State(shared): State<Arc<Shared>>, Path(flow): Path<String>) -> Response {
    set_paused(&shared, &flow, false).await
}

/// `GET /v1/attempts?flow=&state=&customer_id=&limit=`: `{"attempts": [..]}`, newest first.
async fn list_attempts(State(shared): State<Arc<Shared>>, Query(filter): Query<AttemptFilter>) -> Response {
    match shared.store.list_attempts(filter).await {
        Ok(attempts) => Json(json!({"attempts": attempts})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /v1/attempts/{id}`: the attempt with its `transitions` and `decisions`.
async fn show_attempt(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.store.get_attempt(id.clone()).await {
        Ok(Some(a)) => Json(a).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no attempt {id:?}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// (method, path) of every `.route(..)` in the server's sources.
    fn routed() -> BTreeSet<(String, String)> {
        let sources = [include_str!("api.rs"), include_str!("campaign_api.rs"), include_str!("serve.rs")];
        let mut out = BTreeSet::new();
        for source in sources {
            for piece in source.split(".route(\"").skip(1) {
                let (path, rest) = piece.split_once('"').unwrap();
                // The handlers up to the route's closing parenthesis: get(..).post(..).
                let mut depth = 1;
                let end = rest.char_indices().find_map(|(i, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    (depth == 0).then_some(i)
                });
                let handlers = &rest[..end.unwrap()];
                for method in ["get", "post", "put", "delete", "patch"] {
                    let call = format!("{method}(");
                    if handlers.match_indices(&call).any(|(i, _)| {
                        i == 0
                            || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric() && handlers.as_bytes()[i - 1] != b'_'
                    }) {
                        out.insert((method.to_string(), path.to_string()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_openapi_file_describes_exactly_the_routes_served() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut described = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["responses"].is_object(), "{method} {path} has responses");
                let params: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| ps.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                for segment in path.split('/').filter(|s| s.starts_with('{')) {
                    assert!(params.contains(&segment.trim_matches(['{', '}'])), "{method} {path}: {segment} described");
                }
                described.insert((method.clone(), path.clone()));
            }
        }
        let routed = routed();
        assert!(routed.len() > 20, "the routes were found: {routed:?}");
        let missing: Vec<_> = routed.difference(&described).collect();
        let extra: Vec<_> = described.difference(&routed).collect();
        assert!(missing.is_empty() && extra.is_empty(), "undescribed: {missing:?}; not served: {extra:?}");
    }
}
