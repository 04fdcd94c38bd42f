//! Slow and numerous clients: a connection that never finishes its request head is closed
//! by the server after `http.header_read_timeout_seconds`, a request body that never
//! finishes is refused after `http.body_read_timeout_seconds`, and no more than
//! `http.max_connections` connections are served at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection; what it sent first, if anything.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    // The bound only keeps a regression from hanging the suite; the server closes long
    // before it.
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut seen)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open: {:?}",
        String::from_utf8_lossy(&seen)
    );
    seen
}

/// Reads one response head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response");
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(|c| c.http.header_read_timeout_seconds = 1).await;
    let mut slow = Vec::new();
    for i in 0..50 {
        let mut s = connect(&app).await;
        // Half of them send part of a request head, half nothing at all.
        if i % 2 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        slow.push(s);
    }
    for s in &mut slow {
        read_until_closed(s).await;
    }
    // The server still serves whole requests.
    let mut ok = connect(&app).await;
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_head(&mut ok).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_is_refused_after_the_body_timeout() {
    let app = TestApp::spawn_with(|c| c.http.body_read_timeout_seconds = 1).await;
    let mut s = connect(&app).await;
    s.write_all(
        format!(
            "POST /v1/promotions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"source\": ",
            app.tokens.ci
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut s).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = TestApp::spawn_with(|c| {
        c.http.max_connections = 4;
        c.http.header_read_timeout_seconds = 60;
    })
    .await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect(&app).await;
        s.write_all(request).await.unwrap();
        assert!(read_head(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s); // kept alive, so it keeps its slot
    }
    let mut fifth = connect(&app).await;
    fifth.write_all(request).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), fifth.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "connection 5 was served while 4 were open: {early:?}"
    );
    drop(held.pop());
    assert!(read_head(&mut fifth).await.starts_with("HTTP/1.1 200"));
}
