//! Proof that a webhook came from its provider, checked before anything of
//! it is read or stored:
//!
//! - Meta (WhatsApp Cloud API): `X-Hub-Signature-256` is `sha256=` and the
//!   hex HMAC-SHA256 of the raw body, keyed with the app secret.
//! - Twilio: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the
//!   account's auth token, of the full URL Twilio requested followed by
//!   every form parameter's name and value, sorted by name (then value).
//!   Twilio signs the URL sometimes with and sometimes without the
//!   default port, so both forms are accepted, as its own validators do.
//!
//! - Cal.com: `X-Cal-Signature-256` is the hex HMAC-SHA256 of the raw body,
//!   keyed with the webhook's secret.
//! - Ours, on calls to a clinic's scheduler: `X-Clinicflow-Signature-256`
//!   is `sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}`, the
//!   timestamp (Unix seconds) sent as `X-Clinicflow-Timestamp`, so a
//!   receiver can refuse replays. A clinic's switchboard signs the call
//!   records it posts to us the same way, and we refuse a timestamp more
//!   than [`MAX_SKEW`] seconds away from our clock.
//!
//! Comparisons are constant-time (`Mac::verify_slice`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

pub const META_HEADER: &str = "X-Hub-Signature-256";
pub const TWILIO_HEADER: &str = "X-Twilio-Signature";
pub const CALCOM_HEADER: &str = "X-Cal-Signature-256";
pub const CALLBACK_HEADER: &str = "X-Clinicflow-Signature-256";
pub const CALLBACK_TIMESTAMP: &str = "X-Clinicflow-Timestamp";

/// How far (seconds) a signed request's timestamp may be from our clock.
pub const MAX_SKEW: i64 = 300;

/// Why a webhook's signature was refused (the answer is 401 either way).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the {0} header does not match the request")]
    Mismatch(&'static str),
}

/// Checks Meta's `X-Hub-Signature-256` over the raw `body`.
pub fn verify_meta(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(META_HEADER))?;
    let hex_signature = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(META_HEADER))?;
    verify_hmac_sha256(app_secret, body, hex_signature, META_HEADER)
}

/// Checks Cal.com's `X-Cal-Signature-256` over the raw `body` (hex, with
/// or without a `sha256=` prefix).
pub fn verify_calcom(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(CALCOM_HEADER))?;
    let hex_signature = header.trim().trim_start_matches("sha256=");
    verify_hmac_sha256(secret, body, hex_signature, CALCOM_HEADER)
}

/// Checks a hex HMAC-SHA256 of `body` under `secret`, sent in `header`.
fn verify_hmac_sha256(
    secret: &[u8],
    body: &[u8],
    hex_signature: &str,
    header: &'static str,
) -> Result<(), SignatureError> {
    let expected = hex::decode(hex_signature).map_err(|_| SignatureError::Malformed(header))?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| SignatureError::Mismatch(header))?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch(header))
}

/// Our `X-Clinicflow-Signature-256` of a callback `body` sent at `timestamp`.
pub fn sign_callback(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks our own signature (as [`sign_callback`] makes it) of `body`,
/// sent with `timestamp`, at `now` (Unix seconds): a stale or future
/// timestamp is refused like a wrong signature.
pub fn verify_ours(
    secret: &[u8],
    timestamp: Option<&str>,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(CALLBACK_TIMESTAMP))?;
    let header = header.ok_or(SignatureError::Missing(CALLBACK_HEADER))?;
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed(CALLBACK_TIMESTAMP))?;
    if (now - at).abs() > MAX_SKEW {
        return Err(SignatureError::Mismatch(CALLBACK_TIMESTAMP));
    }
    let hex_part = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(CALLBACK_HEADER))?;
    let expected = hex::decode(hex_part).map_err(|_| SignatureError::Malformed(CALLBACK_HEADER))?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| SignatureError::Mismatch(CALLBACK_HEADER))?;
    mac.update(format!("{at}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch(CALLBACK_HEADER))
}

/// Checks Twilio's `X-Twilio-Signature` of a request to `url` whose
/// form parameters are `params`.
pub fn verify_twilio(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(TWILIO_HEADER))?;
    let expected = BASE64
        .decode(header.trim())
        .map_err(|_| SignatureError::Malformed(TWILIO_HEADER))?;
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let signed = |url: &str| {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()).ok()?;
        mac.update(url.as_bytes());
        for (name, value) in &sorted {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.verify_slice(&expected).ok()
    };
    url_forms(url)
        .iter()
        .find_map(|form| signed(form))
        .ok_or(SignatureError::Mismatch(TWILIO_HEADER))
}

/// `url` as given, without its port and with its scheme's default port.
/// Whether two secrets are equal, in time that does not depend on where
/// they differ (they are compared as SHA-256 digests).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Ok(parsed) = url::Url::parse(url) else {
        return forms;
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return forms;
    };
    let rest = &parsed[url::Position::BeforePath..];
    let scheme = parsed.scheme();
    forms.push(format!("{scheme}://{host}{rest}"));
    forms.push(format!("{scheme}://{host}:{port}{rest}"));
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Twilio's documented example ("Validating Requests are coming from
    /// Twilio"): auth token 12345, this URL and these parameters. The
    /// official `twilio` Python SDK's `RequestValidator.compute_signature`
    /// gives the same value.
    #[test]
    fn twilio_documented_example() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(verify_twilio("12345", url, &params, good), Ok(()));
        // The parameters' order on the wire does not matter.
        let mut shuffled = params.clone();
        shuffled.reverse();
        assert_eq!(verify_twilio("12345", url, &shuffled, good), Ok(()));
        // Signed with the port, checked without it, and the reverse.
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(verify_twilio("12345", with_port, &params, good), Ok(()));
        // Anything changed fails.
        let mut changed = params.clone();
        changed[2].1 = "1235".into();
        let mismatch = Err(SignatureError::Mismatch(TWILIO_HEADER));
        assert_eq!(verify_twilio("12345", url, &changed, good), mismatch);
        assert_eq!(verify_twilio("54321", url, &params, good), mismatch);
        assert_eq!(
            verify_twilio("12345", "https://mycompany.com/other.php", &params, good),
            mismatch
        );
        assert_eq!(
            verify_twilio("12345", url, &params, None),
            Err(SignatureError::Missing(TWILIO_HEADER))
        );
        assert_eq!(
            verify_twilio("12345", url, &params, Some("not base64!")),
            Err(SignatureError::Malformed(TWILIO_HEADER))
        );
    }

    /// Vectors computed outside this code, with Python's standard library:
    /// `hmac.new(b"calcom-secret", body, hashlib.sha256).hexdigest()`, and
    /// ours over `b"1796032800." + body` under `b"callback-secret"`.
    #[test]
    fn calcom_and_callback_vectors_from_pythons_hmac() {
        let body = br#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-11-30T07:01:12.538Z","payload":{"uid":"bk-1"}}"#;
        let computed = "4a8a642e6ac79954cdaac1068f0afd3e0f21c10e98cd5cd42345a84fbcd5fd6a";
        assert_eq!(
            verify_calcom(b"calcom-secret", body, Some(computed)),
            Ok(())
        );
        assert_eq!(
            verify_calcom(b"other-secret", body, Some(computed)),
            Err(SignatureError::Mismatch(CALCOM_HEADER))
        );
        assert_eq!(
            verify_calcom(b"calcom-secret", body, None),
            Err(SignatureError::Missing(CALCOM_HEADER))
        );
        assert_eq!(
            verify_calcom(b"calcom-secret", body, Some("zz")),
            Err(SignatureError::Malformed(CALCOM_HEADER))
        );
        assert_eq!(
            sign_callback(
                b"callback-secret",
                1796032800,
                br#"{"event":"appointment.confirmed"}"#
            ),
            "sha256=43d0e19bc6177003b3c3e64f2ceebd8c9e08ab628060aacab6424423077fdb31"
        );
    }

    /// The Python vector above, verified as a switchboard's signed call
    /// record: inside the clock's skew only.
    #[test]
    fn our_signature_is_verified_with_its_timestamp() {
        let body = br#"{"event":"appointment.confirmed"}"#;
        let signed = "sha256=43d0e19bc6177003b3c3e64f2ceebd8c9e08ab628060aacab6424423077fdb31";
        let at = Some("1796032800");
        let verify = |secret: &[u8], at, header, now| verify_ours(secret, at, header, body, now);
        assert_eq!(
            verify(b"callback-secret", at, Some(signed), 1796032800 + 299),
            Ok(())
        );
        assert_eq!(
            verify(b"callback-secret", at, Some(signed), 1796032800 + 301),
            Err(SignatureError::Mismatch(CALLBACK_TIMESTAMP))
        );
        assert_eq!(
            verify(b"other-secret", at, Some(signed), 1796032800),
            Err(SignatureError::Mismatch(CALLBACK_HEADER))
        );
        assert_eq!(
            verify(
                b"callback-secret",
                Some("1796032801"),
                Some(signed),
                1796032800
            ),
            Err(SignatureError::Mismatch(CALLBACK_HEADER))
        );
        assert_eq!(
            verify(b"callback-secret", None, Some(signed), 1796032800),
            Err(SignatureError::Missing(CALLBACK_TIMESTAMP))
        );
        assert_eq!(
            verify(b"callback-secret", at, Some("43d0"), 1796032800),
            Err(SignatureError::Malformed(CALLBACK_HEADER))
        );
    }

    /// A vector computed outside this code, with Python's standard library:
    /// `"sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()`.
    #[test]
    fn meta_vector_from_pythons_hmac() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let computed = "sha256=d3e4f9da0ce6c71ab3dba55929b8eeeee2455349e534924ead19f98d143e904f";
        assert_eq!(verify_meta(b"app-secret", body, Some(computed)), Ok(()));
        let mismatch = Err(SignatureError::Mismatch(META_HEADER));
        assert_eq!(verify_meta(b"other-secret", body, Some(computed)), mismatch);
        assert_eq!(verify_meta(b"app-secret", b"{}", Some(computed)), mismatch);
        assert_eq!(
            verify_meta(b"app-secret", body, Some("sha1=00")),
            Err(SignatureError::Malformed(META_HEADER))
        );
        assert_eq!(
            verify_meta(b"app-secret", body, None),
            Err(SignatureError::Missing(META_HEADER))
        );
    }
}
