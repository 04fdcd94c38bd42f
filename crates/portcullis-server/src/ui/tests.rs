//! The page layers: every `/ui` answer, the deadline's 503 page included, carries the
//! security headers; HSTS only when cookies are `Secure`.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use tower::ServiceExt as _;

use super::with_page_layers;

fn app(secure: bool) -> Router {
    let routes = Router::new()
        .route("/ui/ok", get(|| async { "ok" }))
        .route("/ui/hang", get(std::future::pending::<&'static str>));
    with_page_layers(routes, Duration::from_millis(20), secure)
}

async fn call(app: Router, path: &str) -> axum::response::Response {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    app.oneshot(req).await.unwrap()
}

#[tokio::test]
async fn the_deadline_page_carries_the_security_headers() {
    let resp = call(app(true), "/ui/hang").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let h = resp.headers();
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn hsts_is_sent_only_with_secure_cookies() {
    let resp = call(app(true), "/ui/ok").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    let resp = call(app(false), "/ui/ok").await;
    assert!(
        !resp
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
    assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
}
