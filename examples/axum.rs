//! An axum API with `CorsLayer` on its `Router`, rules read from an embedded JSON file.
//!
//! ```text
//! cargo run --example axum                       # listens on 127.0.0.1:3000
//! cargo run --example axum -- --listen 127.0.0.1:0
//! ```
//!
//! The rules are `examples/axum-cors.json`, in the AWS CLI form (`{"CORSRules": [...]}`): the
//! web app's origins may read and write, any origin may read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_s3_cors::{CorsConfiguration, CorsLayer};

const RULES: &str = include_str!("axum-cors.json");

#[derive(Clone, Debug, Serialize)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Debug, Deserialize)]
struct NewTodo {
    title: String,
}

/// The API's state: an in-memory list.
#[derive(Clone, Default)]
struct Todos {
    inner: Arc<Mutex<TodoList>>,
}

#[derive(Default)]
struct TodoList {
    last_id: u64,
    items: BTreeMap<u64, Todo>,
}

impl Todos {
    fn with<R>(&self, f: impl FnOnce(&mut TodoList) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

async fn list(State(todos): State<Todos>) -> Json<Vec<Todo>> {
    Json(todos.with(|list| list.items.values().cloned().collect()))
}

async fn create(State(todos): State<Todos>, Json(new): Json<NewTodo>) -> Response {
    let todo = todos.with(|list| {
        list.last_id += 1;
        let todo = Todo {
            id: list.last_id,
            title: new.title,
            done: false,
        };
        list.items.insert(todo.id, todo.clone());
        todo
    });
    let location = HeaderValue::from_str(&format!("/api/todos/{}", todo.id))
        .unwrap_or(HeaderValue::from_static("/api/todos"));
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(todo)).into_response()
}

async fn show(State(todos): State<Todos>, Path(id): Path<u64>) -> Response {
    match todos.with(|list| list.items.get(&id).cloned()) {
        Some(todo) => Json(todo).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn remove(State(todos): State<Todos>, Path(id): Path<u64>) -> StatusCode {
    match todos.with(|list| list.items.remove(&id)) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// The API with CORS on every route.
fn app(config: CorsConfiguration) -> Router {
    Router::new()
        .route("/api/todos", get(list).post(create))
        .route("/api/todos/{id}", get(show).delete(remove))
        .with_state(Todos::default())
        // `Router::layer` applies to every route, to every method of a route (methods a route
        // does not handle, OPTIONS included, go through the layered method fallback) and to the
        // router's fallback for unknown paths. So a preflight for any path is answered from the
        // rules before a handler runs, and every response to an allowed origin carries the CORS
        // headers, a 404 for an unknown path included, so the page can read it.
        // `route_layer` would be wrong: it wraps only the routes declared before it, so a
        // request to a path without a route (a typo, a route added later) would get axum's bare
        // 404 with no CORS headers, which the browser reports as a network error rather than a
        // status the page can read, and a preflight there would fail.
        // (On a route's path axum adds its `Allow` header to the preflight answer; browsers
        // ignore it.)
        .layer(CorsLayer::new(config))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (use --listen ADDR)").into()),
        }
    }
    // A bad file fails here, at start, with S3's code and message and where the problem is.
    let config = CorsConfiguration::from_json(RULES)?;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!("rules: examples/axum-cors.json; try:");
    println!(
        "  curl -i -X OPTIONS http://{addr}/api/todos -H 'Origin: http://localhost:5173' \
         -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'"
    );
    println!(
        "  curl -i http://{addr}/api/todos -H 'Origin: http://localhost:5173' \
         -H 'content-type: application/json' -d '{{\"title\": \"try tower-s3-cors\"}}'"
    );
    println!("  curl -i http://{addr}/api/todos -H 'Origin: https://anyone.example'");
    println!(
        "  curl -i -X OPTIONS http://{addr}/api/todos/1 -H 'Origin: https://anyone.example' \
         -H 'Access-Control-Request-Method: DELETE'"
    );
    axum::serve(listener, app(config)).await?;
    Ok(())
}
