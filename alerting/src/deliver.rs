//! Sending one notification to a webhook: the body as journaled, `Content-Type:
//! application/json`, the `Idempotency-Key` (the notification's id), `X-Slod-Signature:
//! sha256=<hex HMAC-SHA256 of the body>` when a secret is set, a bearer token and custom
//! headers when configured, within the receiver's timeout. The answer decides what happens next:
//! 2xx delivered; 5xx, 429 and network errors retried with exponential backoff and jitter
//! (a `Retry-After` is honoured); any other status is final, never retried.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};

use crate::outbox::Notification;

/// Where and how one webhook receiver is called.
#[derive(Debug, Clone, Default)]
pub struct WebhookTarget {
    pub url: String,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub bearer_token: Option<String>,
    pub hmac_secret: Option<Vec<u8>>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again; `reason` is the `slod_alerting_notifications_failed_total` label
    /// (`status_503`, `status_429`, `timeout`, `network`), `after` the server's hint.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Never retried (`status_400`, `invalid_request`, ...).
    Failed {
        reason: String,
    },
}

/// `sha256=<hex>` of the body with the secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // INVARIANT: HMAC accepts keys of any length.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Backoff before attempt `attempt + 1` (0-based): 1 s doubling up to 5 min, scaled by
/// `jitter` in [0, 1) to 80–120 % so receivers recovering from an outage are not hit in step.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << attempt.min(16));
    let capped = base.min(Duration::from_secs(300));
    capped.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// One attempt.
pub async fn post(client: &reqwest::Client, target: &WebhookTarget, n: &Notification) -> Outcome {
    let mut req = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &n.id)
        .header(
            reqwest::header::USER_AGENT,
            concat!("slod/", env!("CARGO_PKG_VERSION")),
        )
        .body(n.body.clone());
    if !target.timeout.is_zero() {
        req = req.timeout(target.timeout);
    }
    if let Some(secret) = &target.hmac_secret {
        req = req.header("X-Slod-Signature", signature(secret, n.body.as_bytes()));
    }
    if let Some(token) = &target.bearer_token {
        req = req.bearer_auth(token);
    }
    for (k, v) in &target.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                Outcome::Delivered
            } else if status.is_server_error() || status.as_u16() == 429 {
                Outcome::Retry {
                    reason: format!("status_{}", status.as_u16()),
                    after: retry_after(&resp),
                }
            } else {
                Outcome::Failed {
                    reason: format!("status_{}", status.as_u16()),
                }
            }
        }
        Err(e) if e.is_timeout() => Outcome::Retry {
            reason: "timeout".into(),
            after: None,
        },
        Err(e) if e.is_builder() => Outcome::Failed {
            reason: "invalid_request".into(),
        },
        Err(_) => Outcome::Retry {
            reason: "network".into(),
            after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode};

    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_to_five_minutes_with_jitter() {
        assert_eq!(backoff(0, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(8));
        assert_eq!(backoff(20, 0.5), Duration::from_secs(300));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(1600));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(2400));
    }

    type Seen = Arc<Mutex<Vec<(HeaderMap, String)>>>;

    /// A real HTTP receiver on loopback answering `status` (and sleeping `delay` first).
    async fn receiver(status: u16, delay: Duration) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let s = s.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    s.lock().unwrap().push((headers, body));
                    let mut h = HeaderMap::new();
                    h.insert("retry-after", "7".parse().unwrap());
                    (StatusCode::from_u16(status).unwrap(), h, "")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), seen)
    }

    fn notification() -> Notification {
        Notification {
            id: "01JDELIVERYTEST0000000000".into(),
            receiver: "oncall".into(),
            group_key: "k".into(),
            body: r#"{"version":"4"}"#.into(),
            firing: BTreeSet::new(),
            resolved: BTreeSet::new(),
            created_at_ns: 0,
            integration: 0,
        }
    }

    #[tokio::test]
    async fn a_delivery_carries_the_key_the_signature_and_the_configured_headers() {
        let (url, seen) = receiver(200, Duration::ZERO).await;
        let target = WebhookTarget {
            url,
            timeout: Duration::from_secs(5),
            headers: vec![("X-Team".into(), "payments".into())],
            bearer_token: Some("s3cret".into()),
            hmac_secret: Some(b"hook-key".to_vec()),
        };
        let n = notification();
        assert_eq!(
            post(&reqwest::Client::new(), &target, &n).await,
            Outcome::Delivered
        );
        let (h, body) = seen.lock().unwrap()[0].clone();
        assert_eq!(body, n.body);
        assert_eq!(h["idempotency-key"], n.id.as_str());
        assert_eq!(
            h["x-slod-signature"],
            signature(b"hook-key", n.body.as_bytes()).as_str()
        );
        assert_eq!(h["authorization"], "Bearer s3cret");
        assert_eq!(h["x-team"], "payments");
        assert_eq!(h["content-type"], "application/json");
    }

    #[tokio::test]
    async fn server_errors_and_timeouts_are_retried_client_errors_are_not() {
        let client = reqwest::Client::new();
        let n = notification();
        for (status, want) in [
            (
                503,
                Outcome::Retry {
                    reason: "status_503".into(),
                    after: Some(Duration::from_secs(7)),
                },
            ),
            (
                429,
                Outcome::Retry {
                    reason: "status_429".into(),
                    after: Some(Duration::from_secs(7)),
                },
            ),
            (
                400,
                Outcome::Failed {
                    reason: "status_400".into(),
                },
            ),
            (
                404,
                Outcome::Failed {
                    reason: "status_404".into(),
                },
            ),
        ] {
            let (url, _) = receiver(status, Duration::ZERO).await;
            let target = WebhookTarget {
                url,
                timeout: Duration::from_secs(5),
                ..Default::default()
            };
            assert_eq!(post(&client, &target, &n).await, want, "{status}");
        }
        let (url, _) = receiver(200, Duration::from_secs(3)).await;
        let slow = WebhookTarget {
            url,
            timeout: Duration::from_millis(200),
            ..Default::default()
        };
        assert_eq!(
            post(&client, &slow, &n).await,
            Outcome::Retry {
                reason: "timeout".into(),
                after: None
            }
        );
        // Nothing listens on a port just released: a network error, retried.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gone = WebhookTarget {
            url: format!("http://127.0.0.1:{port}/hook"),
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        assert!(
            matches!(post(&client, &gone, &n).await, Outcome::Retry { reason, .. } if reason == "network")
        );
    }
}
