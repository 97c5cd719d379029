//! What the service and its futures share: the layer's settings, a decision turned into the
//! next step (call the inner service, or answer), and what is done to the inner response.

use http::Response;

use crate::body::CorsBody;
use crate::decision::{outcome, Outcome};
use crate::options::CorsOptions;
use crate::request::RequestHead;
use crate::response::{add_vary, error_response, CorsHeaders};
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
    /// The hook's ids; `None` when fresh ones are to be made (with the document).
    fn request_ids(&self, head: &RequestHead<'_>) -> Option<RequestIds> {
        self.ids.as_ref().map(|hook| hook(head))
    }
}

/// Records one decision (feature `tracing`): the outcome and the rule or the S3 error.
#[cfg(feature = "tracing")]
fn trace(outcome: &Outcome<'_>, bucket: &BucketCors<'_>) {
    let rule_id = |index: usize| match bucket {
        BucketCors::Configured { policy, .. } => policy.rule(index).and_then(|r| r.id()).unwrap_or(""),
        _ => "",
    };
    match outcome {
        Outcome::Preflight(matched) | Outcome::Actual(matched) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = if matches!(outcome, Outcome::Preflight(_)) {
                "preflight allowed"
            } else {
                "actual allowed"
            },
            rule_index = matched.rule_index,
            rule_id = rule_id(matched.rule_index),
            "CORS decision"
        ),
        Outcome::Refuse(refusal) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = "refused",
            status = refusal.status().as_u16(),
            code = refusal.code(),
            message = %refusal.message(),
            "CORS decision"
        ),
        Outcome::PassThrough(pass) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = "pass through",
            reason = ?pass.reason(),
            "CORS decision"
        ),
    }
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
fn trace(_outcome: &Outcome<'_>, _bucket: &BucketCors<'_>) {}

pub(crate) fn decide_and_trace<'a>(
    head: RequestHead<'a>,
    bucket: BucketCors<'a>,
    options: &CorsOptions,
) -> Outcome<'a> {
    let outcome = outcome(head, bucket, options);
    trace(&outcome, &bucket);
    outcome
}

/// What the service does next with a decision.
pub(crate) enum Step<B> {
    Call(Action),
    Respond(Response<CorsBody<B>>),
}

impl<B> Step<B> {
    pub(crate) fn from_outcome<Src>(
        outcome: Outcome<'_>,
        shared: &Shared<Src>,
        head: &RequestHead<'_>,
    ) -> Self {
        match outcome {
            Outcome::Actual(matched) => Step::Call(Action::Cors(matched.into_headers())),
            Outcome::PassThrough(pass) => Step::Call(if pass.adds_vary() {
                Action::Vary
            } else {
                Action::Nothing
            }),
            // Straight from the rule's prebuilt answer: no headers built to be thrown away.
            Outcome::Preflight(matched) => Step::Respond(
                matched
                    .answer
                    .preflight_response(matched.origin, matched.echo, matched.private_network)
                    .map(CorsBody::own),
            ),
            Outcome::Refuse(refusal) => {
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
    /// Cache-safe `Vary` only.
    Vary,
    Cors(CorsHeaders),
}

impl Action {
    pub(crate) fn apply<B>(self, response: Response<B>) -> Response<CorsBody<B>> {
        let (mut parts, body) = response.into_parts();
        match self {
            Action::Cors(headers) => headers.apply_to(&mut parts.headers),
            Action::Vary => add_vary(&mut parts.headers),
            Action::Nothing => {}
        }
        Response::from_parts(parts, CorsBody::inner(body))
    }
}
