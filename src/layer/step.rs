//! What the service and its futures share: the layer's settings, a decision turned into the
//! next step (call the inner service, or answer), and what is done to the inner response.

use http::{HeaderValue, Response};

use crate::body::CorsBody;
use crate::decision::{decide, Decision};
use crate::options::CorsOptions;
use crate::request::RequestHead;
use crate::response::{error_response, preflight_response, CorsHeaders};
use crate::s3_error::RequestIds;
use crate::source::BucketCors;

pub(crate) type IdHook = dyn Fn(&RequestHead<'_>) -> RequestIds + Send + Sync;

/// What every request of a layer shares: where rules come from, the options, the id hook.
pub(crate) struct Shared<Src> {
    pub(crate) source: Src,
    pub(crate) options: CorsOptions,
    pub(crate) ids: Option<Box<IdHook>>,
}

impl<Src> Shared<Src> {
    fn request_ids(&self, head: &RequestHead<'_>) -> RequestIds {
        match &self.ids {
            Some(hook) => hook(head),
            None => RequestIds::generate(),
        }
    }
}

/// Records one decision (feature `tracing`): the outcome and the rule or the S3 error.
#[cfg(feature = "tracing")]
fn trace(decision: &Decision, bucket: &BucketCors<'_>) {
    let rule_id = |index: usize| match bucket {
        BucketCors::Configured { policy, .. } => policy.rule(index).and_then(|r| r.id()).unwrap_or(""),
        _ => "",
    };
    match decision {
        Decision::Preflight(allowed) | Decision::Actual(allowed) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = if matches!(decision, Decision::Preflight(_)) {
                "preflight allowed"
            } else {
                "actual allowed"
            },
            rule_index = allowed.rule_index(),
            rule_id = rule_id(allowed.rule_index()),
            "CORS decision"
        ),
        Decision::Refuse(refusal) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = "refused",
            status = refusal.status().as_u16(),
            code = refusal.code(),
            message = %refusal.message(),
            "CORS decision"
        ),
        Decision::PassThrough(pass) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = "pass through",
            reason = ?pass.reason(),
            fetch_metadata = ?pass.fetch_metadata(),
            "CORS decision"
        ),
    }
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
fn trace(_decision: &Decision, _bucket: &BucketCors<'_>) {}

pub(crate) fn decide_and_trace(
    head: RequestHead<'_>,
    bucket: BucketCors<'_>,
    options: &CorsOptions,
) -> Decision {
    let decision = decide(head, bucket, options);
    trace(&decision, &bucket);
    decision
}

/// What the service does next with a decision.
pub(crate) enum Step<B> {
    Call(Action),
    Respond(Response<CorsBody<B>>),
}

impl<B> Step<B> {
    /// Turns a decision into the service's next step.
    pub(crate) fn from_decision<Src>(
        decision: Decision,
        shared: &Shared<Src>,
        head: &RequestHead<'_>,
    ) -> Self {
        match decision {
            Decision::Actual(allowed) => Step::Call(Action::Cors(allowed.into_headers())),
            Decision::PassThrough(pass) => Step::Call(match pass.vary() {
                Some(vary) => Action::Vary(vary),
                None => Action::Nothing,
            }),
            Decision::Preflight(allowed) => {
                Step::Respond(preflight_response(allowed.into_headers()).map(CorsBody::own))
            }
            Decision::Refuse(refusal) => {
                Step::Respond(error_response(&refusal, shared.request_ids(head)).map(CorsBody::own))
            }
        }
    }
}

/// What to do to the inner service's response.
// Boxing the headers would cost an allocation per request; the future is moved rarely.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Action {
    Nothing,
    /// `Vary` only (cache-safe `Vary`, the Fetch Metadata headers a decision read).
    Vary(HeaderValue),
    Cors(CorsHeaders),
}

impl Action {
    pub(crate) fn apply<B>(self, response: Response<B>) -> Response<CorsBody<B>> {
        let (mut parts, body) = response.into_parts();
        match self {
            Action::Cors(headers) => headers.apply_to(&mut parts.headers),
            Action::Vary(vary) => crate::vary::merge(&mut parts.headers, vary),
            Action::Nothing => {}
        }
        Response::from_parts(parts, CorsBody::inner(body))
    }
}
