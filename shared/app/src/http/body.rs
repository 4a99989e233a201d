//! Reading request bodies within a size limit, as form fields or JSON,
//! with errors in the API's own shape.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use clinicflow_core::submission::FieldError;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest body accepted: forms and staff requests are small.
pub const MAX_BODY: usize = 64 * 1024;

pub async fn read(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let too_large = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::too_large(MAX_BODY)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the body could not be read",
            )
        }
    })
}

enum Kind {
    Form,
    Json,
}

fn kind(headers: &HeaderMap) -> Option<Kind> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(Kind::Form),
        "application/json" => Some(Kind::Json),
        _ => None,
    }
}

fn unsupported() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send application/x-www-form-urlencoded (an HTML form) or application/json",
    )
}

fn malformed(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_body",
        format!("the body is not valid {what}"),
    )
}

/// A form post as name/value pairs, from either encoding. JSON values are
/// read as form values would be: strings as they are, `true` and numbers
/// as text, `false` and `null` as absent (an unticked checkbox is not sent).
pub fn form_fields(headers: &HeaderMap, bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    match kind(headers).ok_or_else(unsupported)? {
        Kind::Form => serde_urlencoded::from_bytes(bytes).map_err(|_| malformed("form data")),
        Kind::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|_| malformed("JSON"))?;
            let serde_json::Value::Object(object) = value else {
                return Err(ApiError::invalid(vec![FieldError::new(
                    "body",
                    "must be a JSON object of fields",
                )]));
            };
            let mut fields = Vec::with_capacity(object.len());
            let mut errors = Vec::new();
            for (name, value) in object {
                match value {
                    serde_json::Value::Null | serde_json::Value::Bool(false) => {}
                    serde_json::Value::String(s) => fields.push((name, s)),
                    serde_json::Value::Bool(true) => fields.push((name, "true".to_owned())),
                    serde_json::Value::Number(n) => fields.push((name, n.to_string())),
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        errors.push(FieldError::new(
                            &name,
                            "must be a single value, not a list or an object",
                        ));
                    }
                }
            }
            if errors.is_empty() {
                Ok(fields)
            } else {
                Err(ApiError::invalid(errors))
            }
        }
    }
}

/// A JSON object request of the staff API, with a bad field named by its path.
pub fn json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    if !matches!(kind(headers), Some(Kind::Json)) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| malformed("JSON"))?;
    if !value.is_object() {
        return Err(ApiError::invalid(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    from_value(value)
}

/// A JSON value read as `T`, with a bad field named by its path.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = strip_position(&e.into_inner().to_string());
        // A missing field is reported at its parent; name the field itself.
        // (An unknown one is reported at its own path.)
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name,
            (".", None) => "body".to_owned(),
            (_, Some(name)) => format!("{path}.{name}"),
            (_, None) => path,
        };
        ApiError::invalid(vec![FieldError::new(&field, message)])
    })
}

/// serde_json appends " at line 1 column 17"; the field name says enough.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
