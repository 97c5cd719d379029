//! The response body: the inner service's, or the layer's own bytes (an error document or
//! the empty body of a preflight).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response that went through [`Cors`](crate::Cors): either the inner
    /// service's body, untouched, or bytes the layer wrote itself (empty for a preflight, an
    /// XML document for an error).
    #[derive(Debug)]
    pub struct CorsBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Own { data: Option<Bytes> },
    }
}

impl<B> CorsBody<B> {
    /// Wraps the inner service's body.
    pub fn inner(body: B) -> Self {
        CorsBody {
            kind: Kind::Inner { body },
        }
    }

    /// The layer's own bytes.
    pub fn own(data: Bytes) -> Self {
        CorsBody {
            kind: Kind::Own {
                data: if data.is_empty() { None } else { Some(data) },
            },
        }
    }

    /// The layer's empty body (a preflight's).
    pub(crate) fn empty() -> Self {
        CorsBody {
            kind: Kind::Own { data: None },
        }
    }

    /// The inner service's body, if this is one.
    pub fn into_inner(self) -> Option<B> {
        match self.kind {
            Kind::Inner { body } => Some(body),
            Kind::Own { .. } => None,
        }
    }
}

impl<B> Body for CorsBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Own { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d.into())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Own { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Own { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}
