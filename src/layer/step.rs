//! What the service and its futures share: the layer's settings, a decision turned into the
//! next step (call the inner service, or answer), and what is done to the inner response.

use std::sync::Arc;

use http::{HeaderValue, Method, Response};

use crate::body::CorsBody;
use crate::decision::{decide_on, lookup_failed, Decision};
use crate::hook::{DecisionEvent, DecisionHook};
use crate::memo;
use crate::options::CorsOptions;
use crate::request::{CorsFields, RequestHead, Requested};
use crate::response::{error_response, preflight_answer, preflight_response, CorsHeaders};
use crate::s3_error::RequestIds;
use crate::source::BucketCors;

pub(crate) type IdHook = dyn Fn(&RequestHead<'_>) -> RequestIds + Send + Sync;

/// What every request of a layer shares: where rules come from, the options, the id hook.
///
/// A builder call on a layer that has clones copies this (a few reference counts, never the
/// source itself) and changes the copy, so every builder call takes effect on the layer it is
/// called on and on nothing else.
pub(crate) struct Shared<Src> {
    pub(crate) source: Arc<Src>,
    pub(crate) options: CorsOptions,
    pub(crate) ids: Option<Arc<IdHook>>,
    /// Called once per request with the decision; `None` costs one branch.
    pub(crate) hook: Option<Arc<DecisionHook>>,
}

impl<Src> Clone for Shared<Src> {
    fn clone(&self) -> Self {
        Shared {
            source: Arc::clone(&self.source),
            options: self.options,
            ids: self.ids.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<Src> Shared<Src> {
    pub(crate) fn new(source: Src) -> Self {
        Shared {
            source: Arc::new(source),
            options: CorsOptions::default(),
            ids: None,
            hook: None,
        }
    }
}

impl<Src> Shared<Src> {
    /// The hook's ids; `None` when fresh ones are to be made (with the document).
    fn request_ids(&self, head: &RequestHead<'_>) -> Option<RequestIds> {
        self.ids.as_ref().map(|hook| hook(head))
    }
}

/// Records one decision (feature `tracing`): the outcome and the reason in the words of the
/// decision hook and the command line's `explain`, and the rule or the S3 error.
#[cfg(feature = "tracing")]
fn trace(decision: &Decision, bucket: &BucketCors<'_>) {
    let outcome = decision.outcome();
    let reason = decision.reason();
    match decision {
        Decision::Refuse(refusal) => tracing::debug!(
            target: "tower_s3_cors",
            outcome,
            reason,
            status = refusal.status().as_u16(),
            code = refusal.code(),
            message = %refusal.message(),
            "CORS decision"
        ),
        Decision::PassThrough(pass) => tracing::debug!(
            target: "tower_s3_cors",
            outcome,
            reason,
            fetch_metadata = ?pass.fetch_metadata(),
            "CORS decision"
        ),
        _ => match decision.rule_index() {
            Some(index) => tracing::debug!(
                target: "tower_s3_cors",
                outcome,
                reason,
                rule_index = index,
                rule_id = bucket.rule_id(index).unwrap_or(""),
                "CORS decision"
            ),
            None => tracing::debug!(target: "tower_s3_cors", outcome, reason, "CORS decision"),
        },
    }
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
fn trace(_decision: &Decision, _bucket: &BucketCors<'_>) {}

impl<Src> Shared<Src> {
    /// Decides on the request's CORS fields, then reports the decision to `tracing` (feature)
    /// and to the hook (`remember`: see [`decide_on`]).
    fn decide_on<'a>(
        &self,
        head: &RequestHead<'a>,
        fields: CorsFields<'a>,
        bucket: BucketCors<'_>,
        remember: bool,
    ) -> Decision {
        let decision = decide_on(*head, fields, bucket, &self.options, remember);
        trace(&decision, &bucket);
        self.report(head, bucket, &decision, None);
        decision
    }

    /// The decision for a request whose asynchronous lookup failed; the error goes to
    /// `tracing` (feature, `warn`) and to the hook, not into the answer.
    pub(crate) fn decide_lookup_failed(
        &self,
        head: &RequestHead<'_>,
        error: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> Decision {
        let decision = lookup_failed(head, &self.options);
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "tower_s3_cors",
            outcome = "lookup failed",
            error = %error,
            answer = decision.outcome(),
            "CORS decision"
        );
        self.report(head, BucketCors::NoBucket, &decision, Some(error));
        decision
    }

    fn report(
        &self,
        head: &RequestHead<'_>,
        bucket: BucketCors<'_>,
        decision: &Decision,
        lookup_error: Option<&(dyn std::error::Error + Send + Sync + 'static)>,
    ) {
        if let Some(hook) = &self.hook {
            hook(&DecisionEvent {
                head,
                bucket,
                decision,
                lookup_error,
            });
        }
    }
}

impl<Src> Shared<Src> {
    /// The service's next step for a request whose rules are `bucket`: decided, reported and
    /// turned into a step. An allowed preflight that came to this thread twice lately, with
    /// nobody to report the decision to, is answered from then on with a clone of the answer
    /// kept the second time ([`memo`]): the same bytes, with no decision made.
    pub(crate) fn step<B>(&self, head: &RequestHead<'_>, bucket: BucketCors<'_>) -> Step<B> {
        let fields = CorsFields::of(head);
        let repeat = self.repeatable_preflight(head, &fields, &bucket);
        let seen = match repeat.as_ref().map(memo::preflight) {
            Some(memo::Found::Answer(answer)) => {
                return Step::Respond(preflight_answer(answer, CorsBody::empty()))
            }
            Some(memo::Found::Seen) => repeat,
            Some(memo::Found::New) | None => None,
        };
        // A preflight whose whole answer may be kept needs no kept matching besides.
        match (self.decide_on(head, fields, bucket, repeat.is_none()), seen) {
            (Decision::Preflight(allowed), Some(key)) => {
                let answer = allowed.into_headers().preflight_map();
                memo::keep_preflight(&key, &answer);
                Step::Respond(preflight_answer(answer, CorsBody::empty()))
            }
            (decision, _) => Step::from_decision(decision, self, head),
        }
    }

    /// What an allowed answer to this request depends on, when the request is a preflight
    /// whose answer may be kept and given again: one `Origin`, one valid
    /// `Access-Control-Request-Method`, at most one `Access-Control-Request-Headers` field, a
    /// configured bucket, and no hook or `tracing` subscriber that must see each decision.
    fn repeatable_preflight<'a>(
        &self,
        head: &RequestHead<'a>,
        fields: &CorsFields<'a>,
        bucket: &BucketCors<'_>,
    ) -> Option<memo::Key<'a>> {
        if *head.method != Method::OPTIONS || self.hook.is_some() || decisions_traced() {
            return None;
        }
        let BucketCors::Configured { policy, .. } = bucket else {
            return None;
        };
        let origin = fields.single_origin()?;
        // One valid `Access-Control-Request-Method` (an `OPTIONS` without one matches on
        // nothing).
        let method = fields.matched_method()?;
        let requested = match fields.requested {
            Requested::Absent => None,
            Requested::One(value) => Some(value.as_bytes()),
            Requested::Many => return None,
        };
        let private_network = CorsFields::private_network(head, &self.options);
        Some(memo::Key {
            policy: policy.id,
            method,
            origin: origin.as_bytes(),
            requested,
            options: self.options,
            private_network,
        })
    }
}

/// Whether a `tracing` subscriber records the layer's decisions (feature `tracing`).
#[cfg(feature = "tracing")]
fn decisions_traced() -> bool {
    tracing::enabled!(target: "tower_s3_cors", tracing::Level::DEBUG)
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
fn decisions_traced() -> bool {
    false
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
                Step::Respond(preflight_response(allowed.into_headers(), CorsBody::empty()))
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
    pub(crate) fn apply<B>(self, mut response: Response<B>) -> Response<CorsBody<B>> {
        match self {
            Action::Cors(headers) => headers.apply_to(response.headers_mut()),
            Action::Vary(vary) => crate::vary::merge(response.headers_mut(), vary),
            Action::Nothing => {}
        }
        response.map(CorsBody::inner)
    }
}
