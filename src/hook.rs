//! What the layer decided, handed to the application: [`CorsLayer::on_decision`].
//!
//! [`CorsLayer::on_decision`]: crate::CorsLayer::on_decision

use std::error::Error;
use std::fmt;

use http::header::ORIGIN;
use http::HeaderValue;

use crate::decision::Decision;
use crate::request::RequestHead;
use crate::source::BucketCors;

/// The hook set with [`CorsLayer::on_decision`](crate::CorsLayer::on_decision).
pub(crate) type DecisionHook = dyn Fn(&DecisionEvent<'_>) + Send + Sync;

/// One request's decision, as the layer hands it to the hook set with
/// [`CorsLayer::on_decision`](crate::CorsLayer::on_decision): the request, what the lookup
/// of its bucket gave, the decision, and the lookup's error when it failed.
///
/// [`outcome`](Self::outcome) and [`reason`](Self::reason) use the words of the command
/// line's `explain`, so a log line and an explanation say the same thing.
pub struct DecisionEvent<'a> {
    pub(crate) head: &'a RequestHead<'a>,
    pub(crate) bucket: BucketCors<'a>,
    pub(crate) decision: &'a Decision,
    pub(crate) lookup_error: Option<&'a (dyn Error + Send + Sync + 'static)>,
}

impl<'a> DecisionEvent<'a> {
    /// The request (method, URI, headers, extensions).
    pub fn head(&self) -> &RequestHead<'a> {
        self.head
    }

    /// The request's `Origin`, when it sent exactly one field, as sent (an empty one too,
    /// which the decision treats as no `Origin`).
    pub fn origin(&self) -> Option<&'a HeaderValue> {
        let mut fields = self.head.headers.get_all(ORIGIN).iter();
        match (fields.next(), fields.next()) {
            (Some(origin), None) => Some(origin),
            _ => None,
        }
    }

    /// What the lookup of the request's bucket gave ([`BucketCors::NoBucket`] when it failed).
    pub fn bucket(&self) -> BucketCors<'a> {
        self.bucket
    }

    /// The decision, as [`decide`](crate::decide) returned it.
    pub fn decision(&self) -> &'a Decision {
        self.decision
    }

    /// `preflight-allowed`, `cors-headers-added`, `refused` or `pass-through`
    /// ([`Decision::outcome`]).
    pub fn outcome(&self) -> &'static str {
        self.decision.outcome()
    }

    /// Why, in one sentence ([`Decision::reason`]).
    pub fn reason(&self) -> &'static str {
        self.decision.reason()
    }

    /// The matched rule's 0-based index and its `ID`, when a rule matched.
    pub fn rule(&self) -> Option<(usize, Option<&'a str>)> {
        let index = self.decision.rule_index()?;
        Some((index, self.bucket.rule_id(index)))
    }

    /// S3's error code when the layer refused the request (`AccessForbidden`, `BadRequest`,
    /// `InternalError`).
    pub fn error_code(&self) -> Option<&'static str> {
        match self.decision {
            Decision::Refuse(refusal) => Some(refusal.code()),
            _ => None,
        }
    }

    /// Why the asynchronous lookup of the request's rules failed, when it did.
    pub fn lookup_error(&self) -> Option<&'a (dyn Error + Send + Sync + 'static)> {
        self.lookup_error
    }
}

impl fmt::Debug for DecisionEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionEvent")
            .field("method", self.head.method)
            .field("uri", self.head.uri)
            .field("origin", &self.origin())
            .field("outcome", &self.outcome())
            .field("rule", &self.rule())
            .field("error_code", &self.error_code())
            .field("lookup_error", &self.lookup_error.map(ToString::to_string))
            .finish()
    }
}
