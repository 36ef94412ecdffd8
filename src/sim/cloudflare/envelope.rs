//! The v4 envelope and the error answers, in one place (docs/reference/cloudflare.md §1, §3).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `{"success": true, "errors": [], "messages": [], "result": ...}`.
pub fn ok(result: Value) -> Response {
    ok_with(result, vec![])
}

pub fn ok_with(result: Value, messages: Vec<Value>) -> Response {
    axum::Json(json!({
        "success": true,
        "errors": [],
        "messages": messages,
        "result": result,
    }))
    .into_response()
}

/// One page of `items` with `result_info`; a page past the end is empty (the SDK pages until
/// it gets an empty one). Only the page's items are turned into JSON.
pub fn page<T>(items: Vec<T>, page: u64, per_page: u64, to_json: impl Fn(T) -> Value) -> Response {
    let total = items.len() as u64;
    let start = page.saturating_sub(1).saturating_mul(per_page);
    let slice: Vec<Value> = items
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .map(to_json)
        .collect();
    let total_pages = total.div_ceil(per_page.max(1));
    axum::Json(json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result_info": {
            "page": page,
            "per_page": per_page,
            "count": slice.len(),
            "total_count": total,
            "total_pages": total_pages,
        },
        "result": slice,
    }))
    .into_response()
}

/// A failed call: HTTP status plus `errors`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({
                "success": false,
                "errors": self.errors,
                "messages": [],
                "result": null,
            })),
        )
            .into_response()
    }
}

fn one(status: StatusCode, code: u32, message: &str) -> ApiError {
    ApiError {
        status,
        errors: vec![json!({"code": code, "message": message})],
    }
}

impl ApiError {
    /// No credentials at all.
    pub fn missing_credentials() -> Self {
        one(
            StatusCode::BAD_REQUEST,
            9106,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
        )
    }

    /// An Authorization header that is not `Bearer <token-shaped value>`.
    pub fn malformed_authorization() -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            errors: vec![json!({
                "code": 6003,
                "message": "Invalid request headers",
                "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
            })],
        }
    }

    /// A token-shaped value Cloudflare does not know (or a disabled/expired token).
    pub fn invalid_token() -> Self {
        one(StatusCode::FORBIDDEN, 9109, "Invalid access token")
    }

    /// `/user/tokens/verify` with a token it does not accept.
    pub fn verify_invalid() -> Self {
        one(StatusCode::UNAUTHORIZED, 1000, "Invalid API Token")
    }

    /// A valid token without the permission the call needs; writes say which method.
    pub fn not_permitted(method: &str, write: bool) -> Self {
        if write {
            one(
                StatusCode::FORBIDDEN,
                10000,
                &format!("{method} method not allowed for the api_token authentication scheme"),
            )
        } else {
            one(StatusCode::FORBIDDEN, 10000, "Authentication error")
        }
    }

    /// An unknown route or identifier in the path.
    pub fn no_route(path: &str) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            errors: vec![
                json!({"code": 7003, "message": format!("Could not route to {path}, perhaps your object identifier is invalid?")}),
                json!({"code": 7000, "message": "No route for that URI"}),
            ],
        }
    }

    pub fn record_missing() -> Self {
        one(StatusCode::NOT_FOUND, 81044, "Record does not exist.")
    }

    pub fn tunnel_missing() -> Self {
        one(StatusCode::NOT_FOUND, 1003, "Tunnel not found")
    }

    pub fn record_exists() -> Self {
        one(StatusCode::BAD_REQUEST, 81057, "Record already exists.")
    }

    pub fn cname_conflict() -> Self {
        one(
            StatusCode::BAD_REQUEST,
            81053,
            "An A, AAAA, or CNAME record with that host already exists.",
        )
    }

    pub fn invalid_body(detail: &str) -> Self {
        one(
            StatusCode::BAD_REQUEST,
            9207,
            &format!("Request body is invalid. {detail}"),
        )
    }

    pub fn not_proxiable(record_type: &str) -> Self {
        one(
            StatusCode::BAD_REQUEST,
            9004,
            &format!("This record type cannot be proxied: {record_type}."),
        )
    }

    pub fn invalid_config(detail: &str) -> Self {
        one(StatusCode::BAD_REQUEST, 1055, detail)
    }

    /// An injected outage.
    pub fn unavailable() -> Self {
        one(
            StatusCode::INTERNAL_SERVER_ERROR,
            10001,
            "Internal server error (injected by the simulator)",
        )
    }
}
