//! When to send a request again: a pure policy ([`RetryPolicy::decide`]) and the loop that
//! applies it inside every generated client (`crate::http::execute` for the requests the
//! generated code can build again, progenitor's `ClientHooks::exec` for the others).
//!
//! | outcome | GET, PUT, DELETE | POST (creates something) |
//! |---|---|---|
//! | connection refused / not established | retried | retried: nothing reached the vendor |
//! | 429 Too Many Requests | retried, after `Retry-After` when given | retried: the vendor refused it |
//! | 408, 502, 503, 504, timeout, connection lost mid-request | retried (503: after `Retry-After` when given) | **not** retried: it may have been processed (a 503 from a gateway does not prove the vendor behind it did nothing); the workflow checks the vendor's state first |
//! | certificate refused, TLS handshake failed, redirect to another origin refused | **not** retried: it would end the same way | **not** retried |
//! | anything else (2xx, 4xx, 500) | returned as is | returned as is |
//!
//! Waits grow exponentially from `initial_backoff`, capped at `max_backoff`, with jitter; no
//! more than `max_attempts` attempts and `max_elapsed` in all. A body that cannot be replayed
//! (a file streamed from disk) is sent once.

use std::time::{Duration, Instant, SystemTime};

use progenitor_client::OperationInfo;

/// How often and how long to retry. Part of [`crate::HttpConfig`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The wait before the first retry (before jitter).
    pub initial_backoff: Duration,
    /// The longest wait between two attempts, `Retry-After` included.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// With [`max_attempts`](Self::max_attempts) set (1: never retry).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// With the first and the longest wait between two attempts set
    /// ([`initial_backoff`](Self::initial_backoff), [`max_backoff`](Self::max_backoff)).
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// With [`max_elapsed`](Self::max_elapsed) set.
    #[must_use]
    pub fn with_max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// What an attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The connection could not be opened: the request never reached the vendor.
    ConnectFailed,
    /// The request was (perhaps) sent but no answer came: timeout, connection reset.
    Lost,
    /// The client refused to go on, and would again: the server's certificate is not trusted
    /// or the TLS handshake failed, or it redirected to another origin.
    Refused,
    /// The vendor answered with this status and, maybe, a `Retry-After` delay.
    Status {
        /// HTTP status code.
        code: u16,
        /// The `Retry-After` header, already turned into a delay.
        retry_after: Option<Duration>,
    },
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// Send it again after this wait.
    RetryAfter(Duration),
    /// Hand the outcome to the caller.
    Stop,
}

impl RetryPolicy {
    /// Decides whether attempt number `attempt` (1-based), which ended in `outcome` after
    /// `elapsed` since the first attempt, is followed by another. `idempotent` is false for
    /// requests that create something. `jitter` in `[0, 1)` spreads the waits of concurrent
    /// clients (the wait is scaled into `[½, 1)` of the backoff).
    pub fn decide(
        &self,
        attempt: u32,
        elapsed: Duration,
        outcome: &Outcome,
        idempotent: bool,
        jitter: f64,
    ) -> Decision {
        let (retryable, retry_after) = match outcome {
            Outcome::ConnectFailed => (true, None),
            Outcome::Lost => (idempotent, None),
            Outcome::Refused => (false, None),
            Outcome::Status { code, retry_after } => match code {
                429 => (true, *retry_after),
                408 | 502 | 503 | 504 => (idempotent, *retry_after),
                _ => (false, None),
            },
        };
        if !retryable || attempt >= self.max_attempts {
            return Decision::Stop;
        }
        let wait = match retry_after {
            Some(wait) => wait.min(self.max_backoff),
            None => {
                let exponent = attempt.saturating_sub(1).min(30);
                let backoff = self
                    .initial_backoff
                    .saturating_mul(1 << exponent)
                    .min(self.max_backoff);
                backoff.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
            }
        };
        if elapsed + wait > self.max_elapsed {
            return Decision::Stop;
        }
        Decision::RetryAfter(wait)
    }
}

/// Reads a `Retry-After` value: delay-seconds, or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(at.with_timezone(&chrono::Utc));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What a failed call came to, for a workflow that sends a request again itself (a body
/// streamed from disk cannot be replayed by [`execute`]), with the answer's `Retry-After` if
/// it had one; `None` for errors that are not about the exchange (bad input, an answer that
/// does not decode …).
#[cfg(any(feature = "mailperformance", feature = "copernica", feature = "eloqua"))]
pub(crate) fn outcome_of(error: &crate::Error, retry_after: Option<Duration>) -> Option<Outcome> {
    use crate::Error;
    match error {
        Error::Api(api) | Error::AuthRejected(api) => Some(Outcome::Status {
            code: api.status,
            retry_after,
        }),
        Error::Transport { source, .. } if crate::error::refused(source) => Some(Outcome::Refused),
        Error::Transport { source, .. } if source.is_connect() => Some(Outcome::ConnectFailed),
        Error::Transport { .. } | Error::Timeout { after: None, .. } => Some(Outcome::Lost),
        _ => None,
    }
}

/// The `Retry-After` of an answer, as a delay.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Runs `once` (a request whose body cannot be copied, built anew each time) until it
/// succeeds or `policy` says to stop, as [`execute`] does for the others: an error with its
/// answer's `Retry-After` is sent again when the policy allows it for a request that creates
/// something (`idempotent` false) or not.
#[cfg(any(feature = "mailperformance", feature = "copernica"))]
pub(crate) async fn again<T, F, Fut>(
    policy: &RetryPolicy,
    operation: &'static str,
    idempotent: bool,
    mut once: F,
) -> Result<T, crate::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, (crate::Error, Option<Duration>)>>,
{
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let (error, retry_after) = match once().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let Some(outcome) = outcome_of(&error, retry_after) else {
            return Err(error);
        };
        match policy.decide(
            attempt,
            started.elapsed(),
            &outcome,
            idempotent,
            fastrand::f64(),
        ) {
            Decision::RetryAfter(wait) => {
                tracing::warn!(
                    operation,
                    attempt,
                    ?outcome,
                    wait_ms = wait.as_millis() as u64,
                    "sending it again"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Decision::Stop => return Err(error),
        }
    }
}

/// Sends `request`, retrying it as `policy` says: the generated clients' `exec` hook, for the
/// requests the generated code builds once (those with a body of their own, a file streamed
/// from disk among them). Each attempt but the last keeps a copy of the request to send next
/// ([`replay`]); a body that cannot be copied is sent once.
pub(crate) async fn execute(
    client: &reqwest::Client,
    policy: &RetryPolicy,
    request: reqwest::Request,
    info: &OperationInfo,
) -> reqwest::Result<reqwest::Response> {
    let mut next = Some(request);
    attempts(client, policy, info, |last| {
        let request = next.take()?;
        if !last {
            next = replay(&request);
        }
        Some(Ok(request))
    })
    .await
}

/// The loop of [`execute`] and of [`crate::http::execute`]: `request(last)` gives the request of
/// each attempt (`last` when no other may follow it), `None` when it cannot be sent again; it
/// is asked for the next one only once the policy calls for another attempt.
pub(crate) async fn attempts(
    client: &reqwest::Client,
    policy: &RetryPolicy,
    info: &OperationInfo,
    mut request: impl FnMut(bool) -> Option<reqwest::Result<reqwest::Request>>,
) -> reqwest::Result<reqwest::Response> {
    let started = Instant::now();
    let mut attempt = 1;
    let mut sent = request(attempt >= policy.max_attempts).expect("a first request")?;
    // Every attempt sends the same request again.
    let idempotent = !matches!(
        *sent.method(),
        reqwest::Method::POST | reqwest::Method::PATCH
    );
    loop {
        let result = client.execute(sent).await;
        let outcome = match &result {
            Ok(response) if response.status().is_success() => return result,
            Ok(response) => Outcome::Status {
                code: response.status().as_u16(),
                retry_after: retry_after(response.headers()),
            },
            Err(e) if crate::error::refused(e) => Outcome::Refused,
            Err(e) if e.is_connect() => Outcome::ConnectFailed,
            Err(_) => Outcome::Lost,
        };
        let decision = policy.decide(
            attempt,
            started.elapsed(),
            &outcome,
            idempotent,
            fastrand::f64(),
        );
        let Decision::RetryAfter(wait) = decision else {
            return result;
        };
        let Some(next) = request(attempt + 1 >= policy.max_attempts) else {
            return result;
        };
        tracing::warn!(
            operation = info.operation_id,
            attempt,
            ?outcome,
            wait_ms = wait.as_millis() as u64,
            "retrying"
        );
        tokio::time::sleep(wait).await;
        sent = next?;
        attempt += 1;
    }
}

/// A copy of `request` to send again. One without a body is copied field by field: reqwest's
/// `try_clone` also allocates a map of extensions to copy its timeout into, set or not, about
/// 500 instructions a call. The requests of the generated code carry no other extension.
fn replay(request: &reqwest::Request) -> Option<reqwest::Request> {
    if request.body().is_some() {
        return request.try_clone();
    }
    let mut copy = reqwest::Request::new(request.method().clone(), request.url().clone());
    *copy.headers_mut() = request.headers().clone();
    *copy.version_mut() = request.version();
    if let Some(timeout) = request.timeout() {
        *copy.timeout_mut() = Some(*timeout);
    }
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_is_the_request_again() {
        let client = reqwest::Client::new();
        for body in [None, Some("a=1")] {
            let mut builder = client
                .get("http://127.0.0.1:9/syncs/9?x=1")
                .header("accept", "application/json")
                .header("x-two", "1")
                .header("x-two", "2")
                .timeout(Duration::from_secs(7))
                .version(reqwest::Version::HTTP_11);
            if let Some(body) = body {
                builder = builder.body(body);
            }
            let request = builder.build().unwrap();
            let copy = replay(&request).unwrap();
            assert_eq!(copy.method(), request.method());
            assert_eq!(copy.url(), request.url());
            assert_eq!(copy.headers(), request.headers());
            assert_eq!(copy.version(), request.version());
            assert_eq!(copy.timeout(), Some(&Duration::from_secs(7)));
            assert_eq!(
                copy.body().and_then(|b| b.as_bytes()),
                body.map(str::as_bytes)
            );
        }
        let untimed = client.delete("http://127.0.0.1:9/x").build().unwrap();
        assert_eq!(replay(&untimed).unwrap().timeout(), None);
    }

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: MS(100),
            max_backoff: S(1),
            max_elapsed: S(10),
        }
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_into_upper_half() {
        let p = policy();
        let wait = |attempt, jitter| p.decide(attempt, S(0), &status(503), true, jitter);
        assert_eq!(wait(1, 0.0), Decision::RetryAfter(MS(50)));
        assert_eq!(wait(2, 0.0), Decision::RetryAfter(MS(100)));
        assert_eq!(
            wait(3, 0.999_999),
            Decision::RetryAfter(MS(400).mul_f64(0.999_999_5))
        );
        let long = RetryPolicy {
            max_attempts: 40,
            ..policy()
        };
        assert_eq!(
            long.decide(35, S(0), &status(503), true, 0.0),
            Decision::RetryAfter(MS(500))
        );
    }

    #[test]
    fn attempts_and_elapsed_time_are_bounded() {
        let p = policy();
        assert_eq!(p.decide(4, S(0), &status(503), true, 0.0), Decision::Stop);
        assert_eq!(
            p.decide(1, MS(9_990), &status(503), true, 0.0),
            Decision::Stop
        );
        assert!(matches!(
            p.decide(1, MS(9_900), &status(503), true, 0.0),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = policy();
        let with = |after| Outcome::Status {
            code: 429,
            retry_after: Some(after),
        };
        assert_eq!(
            p.decide(1, S(0), &with(MS(700)), false, 0.5),
            Decision::RetryAfter(MS(700))
        );
        assert_eq!(
            p.decide(1, S(0), &with(S(60)), true, 0.5),
            Decision::RetryAfter(S(1))
        );
    }

    #[test]
    fn creating_requests_are_retried_only_when_refused_or_never_sent() {
        let p = policy();
        for outcome in [Outcome::ConnectFailed, status(429)] {
            assert!(matches!(
                p.decide(1, S(0), &outcome, false, 0.0),
                Decision::RetryAfter(_)
            ));
        }
        // A gateway's 503 does not prove that nothing was created behind it.
        for outcome in [
            Outcome::Lost,
            status(502),
            status(503),
            status(504),
            status(408),
        ] {
            assert_eq!(
                p.decide(1, S(0), &outcome, false, 0.0),
                Decision::Stop,
                "{outcome:?}"
            );
            assert!(matches!(
                p.decide(1, S(0), &outcome, true, 0.0),
                Decision::RetryAfter(_)
            ));
        }
    }

    #[test]
    fn refused_certificates_and_redirects_are_final() {
        let p = policy();
        for idempotent in [true, false] {
            assert_eq!(
                p.decide(1, S(0), &Outcome::Refused, idempotent, 0.0),
                Decision::Stop
            );
        }
    }

    #[test]
    fn other_statuses_are_final() {
        let p = policy();
        for code in [200, 201, 204, 400, 401, 403, 404, 409, 411, 500] {
            assert_eq!(
                p.decide(1, S(0), &status(code), true, 0.0),
                Decision::Stop,
                "{code}"
            );
        }
        assert_eq!(
            RetryPolicy::never().decide(1, S(0), &status(503), true, 0.0),
            Decision::Stop
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + S(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after(" 7 ", now), Some(S(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(S(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(S(0))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
