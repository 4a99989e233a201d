//! Meta's Graph API errors (`{"error": {"code", "error_subcode",
//! "message", "error_data", "is_transient"}}`), read once for every Meta
//! API we call: WhatsApp's Cloud API, the lead ads' read, Instagram's.

use clinicflow_ports::FetchError;
use serde::Deserialize;

/// A Graph API error answer, and whether trying again may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub message: String,
    /// WhatsApp's `error_data.details`, when given.
    pub details: Option<String>,
    /// Throttling (4, 17, 32, 613), Meta's unknown and service errors
    /// (1, 2), anything Meta calls transient, HTTP 429 and 5xx.
    pub retry: bool,
}

impl GraphError {
    /// The error of an answer with HTTP `status` and `body` (any body: one
    /// that is not the Graph API's shape is described by its status).
    pub fn read(status: u16, body: &[u8]) -> GraphError {
        #[derive(Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            #[serde(default)]
            code: Option<i64>,
            #[serde(default)]
            error_subcode: Option<i64>,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            error_data: Option<Data>,
            #[serde(default)]
            is_transient: Option<bool>,
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(default)]
            details: Option<String>,
        }
        let detail = serde_json::from_slice::<Body>(body).ok().map(|b| b.error);
        let code = detail.as_ref().and_then(|d| d.code);
        let transient = detail.as_ref().and_then(|d| d.is_transient) == Some(true);
        GraphError {
            code,
            subcode: detail.as_ref().and_then(|d| d.error_subcode),
            details: detail
                .as_ref()
                .and_then(|d| d.error_data.as_ref()?.details.clone())
                .filter(|d| !d.is_empty()),
            message: detail
                .and_then(|d| d.message)
                .unwrap_or_else(|| format!("HTTP {status}")),
            retry: status >= 500
                || status == 429
                || transient
                || matches!(code, Some(1 | 2 | 4 | 17 | 32 | 613)),
        }
    }

    /// The message, with the details when they add to it.
    pub fn reason(&self) -> String {
        match &self.details {
            Some(details) if *details != self.message => format!("{}: {details}", self.message),
            _ => self.message.clone(),
        }
    }

    /// The error of a read (`what`: what was read), retryable or not.
    pub fn fetch_error(&self, what: &str, status: u16) -> FetchError {
        let what = format!(
            "{what}: Graph API {}: {}",
            self.code_or(status),
            self.message
        );
        if self.retry {
            FetchError::Retryable(what)
        } else {
            FetchError::Permanent(what)
        }
    }

    /// Our code for it: Meta's code, with its subcode when there is one
    /// (`10/2534022`), or `http_{status}` when Meta gave none.
    pub fn code_or(&self, status: u16) -> String {
        match (self.code, self.subcode) {
            (Some(code), Some(sub)) => format!("{code}/{sub}"),
            (Some(code), None) => code.to_string(),
            (None, _) => format!("http_{status}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GraphError;

    #[test]
    fn graph_errors_are_sorted() {
        let throttled = GraphError::read(
            400,
            br#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"A"}}"#,
        );
        assert!(throttled.retry);
        assert_eq!(throttled.code_or(400), "4");
        let window = GraphError::read(
            400,
            br#"{"error":{"message":"This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2534022,"fbtrace_id":"B"}}"#,
        );
        assert!(!window.retry);
        assert_eq!(window.code_or(400), "10/2534022");
        let transient = GraphError::read(
            400,
            br#"{"error":{"message":"x","code":190,"is_transient":true}}"#,
        );
        assert!(transient.retry);
        let outage = GraphError::read(503, b"<html>");
        assert!(outage.retry);
        assert_eq!(outage.message, "HTTP 503");
        assert_eq!(outage.code_or(503), "http_503");
        assert!(!GraphError::read(400, br#"{"error":{"code":100}}"#).retry);
    }
}
