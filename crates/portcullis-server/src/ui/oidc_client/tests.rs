//! The provider's answers: size limits, PKCE methods, what the browser is shown.

use super::*;

fn doc(methods: Option<Vec<&str>>) -> Discovery {
    Discovery {
        issuer: "https://idp.example".into(),
        authorization_endpoint: "https://idp.example/authorize".into(),
        token_endpoint: "https://idp.example/token".into(),
        code_challenge_methods_supported: methods
            .map(|m| m.into_iter().map(str::to_owned).collect()),
    }
}

#[test]
fn a_provider_listing_pkce_methods_must_list_s256() {
    assert!(check_pkce(&doc(None)).is_ok());
    assert!(check_pkce(&doc(Some(vec!["plain", "S256"]))).is_ok());
    let err = check_pkce(&doc(Some(vec!["plain"]))).unwrap_err();
    assert!(err.contains("S256"), "{err}");
}

#[test]
fn the_unavailable_page_does_not_name_the_provider() {
    let e = unavailable("fetching https://idp.internal/.well-known: refused".into());
    assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
    assert!(!e.detail().contains("idp.internal"), "{}", e.detail());
    assert!(e.detail().contains("request id"));
}

/// Serves `body` once over plain HTTP on loopback, with or without a Content-Length.
async fn serve_once(body: Vec<u8>, with_length: bool) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let head = if with_length {
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
        } else {
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned()
        };
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(&body).await;
        let _ = sock.shutdown().await;
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn answers_larger_than_the_limit_are_refused_with_or_without_a_length() {
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_ANSWER_BYTES));
    for with_length in [true, false] {
        let url = serve_once(big.clone().into_bytes(), with_length).await;
        let resp = reqwest::get(&url).await.unwrap();
        let err = read_json::<serde_json::Value>(resp).await.unwrap_err();
        assert!(err.contains("larger than"), "{with_length}: {err}");
    }
    let url = serve_once(br#"{"x":"small"}"#.to_vec(), false).await;
    let v: serde_json::Value = read_json(reqwest::get(&url).await.unwrap()).await.unwrap();
    assert_eq!(v["x"], "small");
}
