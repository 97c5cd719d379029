//! A gRPC service that browsers reach through gRPC-web (tonic + tonic-web), with the CORS
//! rules a gRPC-web client needs.
//!
//! ```text
//! cargo run --example tonic                        # listens on 127.0.0.1:50051
//! cargo run --example tonic -- --listen 127.0.0.1:0
//! ```
//!
//! A gRPC-web call is a cross-origin `POST` with `content-type: application/grpc-web+proto`
//! (or `-text`) and the headers `x-grpc-web`, `x-user-agent` and often `grpc-timeout`, so the
//! browser sends a preflight first; the layer answers it from the rules. The call's outcome
//! travels in `grpc-status` / `grpc-message`, which are response headers when the call fails
//! at once ("trailers-only"), so the rules expose them or the page could not read the error.
//!
//! The message types and the service are written by hand with `prost` derives (what
//! `tonic-build` would generate from a `.proto`), so the example needs no `protoc`.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::Status;
use tonic_web::GrpcWebLayer;
use tower::Service;
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsRule};

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message HelloReply { string message = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `rpc SayHello(HelloRequest) returns (HelloReply)`: fails with `INVALID_ARGUMENT` for an
/// empty name, to show a browser reading `grpc-status` and `grpc-message`.
async fn say_hello(request: tonic::Request<HelloRequest>) -> Result<tonic::Response<HelloReply>, Status> {
    let name = request.into_inner().name;
    if name.is_empty() {
        return Err(Status::invalid_argument("name must not be empty"));
    }
    Ok(tonic::Response::new(HelloReply {
        message: format!("Hello, {name}!"),
    }))
}

/// `service Greeter` in package `helloworld`: routes `/helloworld.Greeter/SayHello`.
#[derive(Clone, Debug, Default)]
struct GreeterServer;

impl NamedService for GreeterServer {
    const NAME: &'static str = "helloworld.Greeter";
}

impl Service<http::Request<Body>> for GreeterServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match request.uri().path() {
            "/helloworld.Greeter/SayHello" => Box::pin(async move {
                let mut grpc = Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
                Ok(grpc.unary(tower::service_fn(say_hello), request).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// tonic's codec for prost messages (the `tonic-prost` crate has the same; it is a few lines).
struct ProstCodec<Out, In>(PhantomData<fn(Out) -> In>);

impl<Out, In> Default for ProstCodec<Out, In> {
    fn default() -> Self {
        ProstCodec(PhantomData)
    }
}

impl<Out, In> Codec for ProstCodec<Out, In>
where
    Out: prost::Message + Send + 'static,
    In: prost::Message + Default + Send + 'static,
{
    type Encode = Out;
    type Decode = In;
    type Encoder = ProstEncoder<Out>;
    type Decoder = ProstDecoder<In>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

struct ProstEncoder<T>(PhantomData<fn(T)>);

impl<T: prost::Message> Encoder for ProstEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the reply: {e}")))
    }
}

struct ProstDecoder<T>(PhantomData<fn() -> T>);

impl<T: prost::Message + Default> Decoder for ProstDecoder<T> {
    type Item = T;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<T>, Status> {
        T::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("decoding the request: {e}")))
    }
}

/// What a gRPC-web client in the browser needs.
fn grpc_web_rules() -> Result<CorsConfiguration, tower_s3_cors::ConfigError> {
    CorsConfiguration::new([CorsRule::builder()
        .id("grpc-web")
        .allowed_origins(["http://localhost:8080", "https://*.example.com"])
        // Every gRPC-web call is a POST.
        .allowed_method("POST")
        // `content-type: application/grpc-web+proto` is not CORS-safelisted, and the client
        // library adds `x-grpc-web`, `x-user-agent` and, with a deadline, `grpc-timeout`.
        .allowed_headers(["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"])
        // The call's outcome: the page cannot read these unless they are exposed.
        .expose_headers(["grpc-status", "grpc-message", "grpc-status-details-bin"])
        .max_age_seconds(600)
        .build()])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut listen: SocketAddr = "127.0.0.1:50051".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (use --listen ADDR)").into()),
        }
    }
    let rules = grpc_web_rules()?;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!("try (a preflight, then a gRPC-web call with HelloRequest {{ name: \"browser\" }}):");
    println!(
        "  curl -i -X OPTIONS http://{addr}/helloworld.Greeter/SayHello -H 'Origin: http://localhost:8080' \
         -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type, x-grpc-web, x-user-agent'"
    );
    println!(
        "  printf '\\000\\000\\000\\000\\011\\012\\007browser' | curl -si http://{addr}/helloworld.Greeter/SayHello \
         -H 'Origin: http://localhost:8080' -H 'content-type: application/grpc-web+proto' -H 'x-grpc-web: 1' \
         --data-binary @- | cat -v"
    );

    Server::builder()
        // gRPC-web from browsers comes over HTTP/1.1.
        .accept_http1(true)
        // The first layer is the outermost: CORS answers preflights before gRPC-web
        // translation sees them, and adds its headers to every translated response.
        .layer(CorsLayer::new(rules))
        .layer(GrpcWebLayer::new())
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}
