//! The client against peers that write HTTP by hand: framing, pooling, retries and uploads.

use super::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[test]
fn upstreams_parse_from_base_urls() {
    let u = Upstream::parse("http://127.0.0.1:8001").unwrap();
    assert_eq!(
        (u.authority.as_str(), u.prefix.as_str()),
        ("127.0.0.1:8001", "")
    );
    assert_eq!(u.host(), "127.0.0.1:8001");
    let u = Upstream::parse("http://cp:8001/base/").unwrap();
    assert_eq!(
        (u.authority.as_str(), u.prefix.as_str()),
        ("cp:8001", "/base")
    );
    let u = Upstream::parse("10.0.0.5:9000").unwrap();
    assert_eq!(u.authority, "10.0.0.5:9000");
    let u = Upstream::parse("unix:/tmp/w.sock").unwrap();
    assert!(u.is_unix());
    assert_eq!(u.host(), "localhost");
    assert!(Upstream::parse("https://cp:8001").is_none());
    assert!(Upstream::parse("http://").is_none());
    assert!(Upstream::parse("unix:").is_none());
}

/// Reads one request head (and a `content-length` body) from `r`; `None` at EOF.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).await.ok()?;
    Some(head + &String::from_utf8(body).unwrap())
}

async fn body_of(res: Response<Body>) -> Vec<u8> {
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

fn parts(
    method: &str,
    uri: &str,
    headers: &[(&'static str, &'static str)],
) -> http::request::Parts {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(()).unwrap().into_parts().0
}

/// A peer that answers each connection's requests with `answers`, in order, then closes.
async fn peer(answers: Vec<Vec<Vec<u8>>>) -> (Upstream, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for conn_answers in answers {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            for answer in conn_answers {
                let Some(req) = read_request(&mut r).await else {
                    break;
                };
                seen.push(req);
                w.write_all(&answer).await.unwrap();
            }
        }
        seen
    });
    (to, task)
}

#[tokio::test]
async fn requests_carry_host_and_their_own_length() {
    let ok = b"HTTP/1.1 204 No Content\r\n\r\n".to_vec();
    let (to, task) = peer(vec![vec![ok.clone(), ok]]).await;
    let to = Upstream::parse(&format!("http://{}/p", to.authority())).unwrap();
    let client = Client::default();
    let headers = [
        ("host", "public.example"),
        ("content-length", "999"),
        ("expect", "100-continue"),
        ("x-request-id", "abc"),
    ];
    let res = client
        .send(
            &to,
            &parts("POST", "/a?b=1", &headers),
            &Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = client
        .send(
            &to,
            &parts("PATCH", "http://public.example/c", &[]),
            &Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    drop(client);
    let seen = task.await.unwrap();
    let first = seen[0].to_ascii_lowercase();
    assert!(first.starts_with("post /p/a?b=1 http/1.1\r\n"), "{first}");
    assert!(
        first.contains(&format!("host: {}\r\n", to.authority())),
        "{first}"
    );
    assert!(first.contains("x-request-id: abc\r\n"), "{first}");
    assert!(first.ends_with("content-length: 2\r\n\r\n{}"), "{first}");
    assert!(
        !first.contains("999") && !first.contains("expect"),
        "{first}"
    );
    // Origin form, whatever the client sent; an empty body says its length.
    let second = seen[1].to_ascii_lowercase();
    assert!(second.starts_with("patch /p/c http/1.1\r\n"), "{second}");
    assert!(second.contains("content-length: 0\r\n"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_long_and_short_answers_come_whole_over_one_connection() {
    tokio::time::timeout(Duration::from_secs(10), chunked_long_and_short())
        .await
        .expect("a request waited for a connection the peer never accepts");
}

fn idle(c: &Client) -> usize {
    c.0.idle.lock().unwrap().values().map(VecDeque::len).sum()
}

async fn chunked_long_and_short() {
    let long = vec![b'x'; BUFFERED_MAX * 2 + 7];
    let mut long_answer =
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", long.len()).into_bytes();
    long_answer.extend_from_slice(&long);
    let answers = vec![vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n".to_vec(),
        long_answer,
        b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}".to_vec(),
    ]];
    let (to, task) = peer(answers).await;
    let client = Client::default();
    let res = client
        .send(&to, &parts("GET", "/a", &[]), &Bytes::new())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("transfer-encoding").is_none());
    assert_eq!(body_of(res).await, b"hello world");
    assert_eq!(
        idle(&client),
        1,
        "the connection went back after the last chunk"
    );
    let res = client
        .send(&to, &parts("GET", "/b", &[]), &Bytes::new())
        .await
        .unwrap();
    // Read as a server sends it: up to the declared length, never asking past it.
    let mut body = res.into_body();
    let mut got = Vec::new();
    while got.len() < long.len() {
        let frame = body.frame().await.unwrap().unwrap();
        got.extend_from_slice(frame.data_ref().unwrap());
    }
    drop(body);
    assert_eq!(got, long);
    assert_eq!(
        idle(&client),
        1,
        "the connection went back once its length was read"
    );
    let res = client
        .send(
            &to,
            &parts("POST", "/c", &[]),
            &Bytes::from_static(b"{\"a\":1}"),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(body_of(res).await, b"{}");
    drop(client);
    let seen = task.await.unwrap();
    // All three on the one connection the peer accepted, the last with its body.
    assert_eq!(seen.len(), 3);
    assert!(seen[2].starts_with("POST /c HTTP/1.1\r\n"), "{}", seen[2]);
    assert!(seen[2].ends_with("\r\n\r\n{\"a\":1}"), "{}", seen[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_closed_unanswered_is_retried_only_when_idempotent() {
    // Each connection answers one request, then reads the next and hangs up on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            seen.push(read_request(&mut r).await.unwrap());
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            seen.extend(read_request(&mut r).await);
        }
        let third = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        (seen, third.is_ok())
    });
    let client = Client::default();
    let res = client
        .send(&to, &parts("GET", "/1", &[]), &Bytes::new())
        .await;
    assert_eq!(body_of(res.unwrap()).await, b"ok");
    // Hung up on: sent once more, on a new connection.
    let res = client
        .send(&to, &parts("GET", "/2", &[]), &Bytes::new())
        .await;
    assert_eq!(body_of(res.unwrap()).await, b"ok");
    // Hung up on too, but a POST may have been acted on: it is not sent twice.
    let res = client
        .send(&to, &parts("POST", "/3", &[]), &Bytes::from_static(b"{}"))
        .await;
    assert!(matches!(res, Err(SendError::Exchange(_))), "{res:?}");
    let (seen, third) = task.await.unwrap();
    let lines: Vec<&str> = seen.iter().map(|r| r.lines().next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "GET /1 HTTP/1.1",
            "GET /2 HTTP/1.1",
            "GET /2 HTTP/1.1",
            "POST /3 HTTP/1.1"
        ]
    );
    assert!(!third, "the POST was sent again");
}

#[tokio::test]
async fn a_coded_transfer_is_not_passed_on() {
    let coded = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n";
    let (to, _task) = peer(vec![vec![coded.to_vec()]]).await;
    let res = Client::default()
        .send(&to, &parts("GET", "/", &[]), &Bytes::new())
        .await;
    assert!(matches!(res, Err(SendError::Exchange(_))), "{res:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    drop(listener);
    let res = Client::default()
        .send(&to, &parts("POST", "/", &[]), &Bytes::new())
        .await;
    assert!(matches!(res, Err(SendError::Connect(_))));
    let res = Client::default()
        .send(
            &Upstream::parse("unix:/nonexistent/w.sock").unwrap(),
            &parts("GET", "/", &[]),
            &Bytes::new(),
        )
        .await;
    assert!(matches!(res, Err(SendError::Connect(_))));
}

#[tokio::test]
async fn requests_reach_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("router-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let task = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        let mut seen = Vec::new();
        while let Some(req) = read_request(&mut r).await {
            seen.push(req);
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
        }
        seen
    });
    let to = Upstream::parse(&format!("unix:{}", path.display())).unwrap();
    let client = Client::default();
    for _ in 0..2 {
        let res = client
            .send(&to, &parts("GET", "/x", &[]), &Bytes::new())
            .await
            .unwrap();
        assert_eq!(body_of(res).await, b"ok");
        assert_eq!(
            idle(&client),
            1,
            "a short answer's connection went back at once"
        );
    }
    drop(client);
    let seen = task.await.unwrap();
    assert_eq!(seen.len(), 2, "both on one kept-alive connection");
    assert!(
        seen[0].to_ascii_lowercase().contains("host: localhost\r\n"),
        "{}",
        seen[0]
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// What an upload peer does once it read the request's head.
#[derive(Clone, Copy)]
enum Then {
    /// Reads the body to its end, then answers 201 after `delay`.
    Answer(Duration),
    /// Answers 401 at once and hangs up without reading the body.
    Refuse,
}

/// A peer that takes one upload (with a declared length, or chunked); what it received, raw.
async fn one_upload(then: Then) -> (Upstream, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map(|n| n.trim().parse::<usize>().unwrap());
                let done = match (then, length) {
                    (Then::Refuse, _) => true,
                    (_, Some(n)) => got.len() >= end + 4 + n,
                    (_, None) => text.ends_with("\r\n0\r\n\r\n"),
                };
                if done {
                    break;
                }
            }
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let answer: &[u8] = match then {
            Then::Answer(delay) => {
                tokio::time::sleep(delay).await;
                b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
            }
            Then::Refuse => {
                b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 15\r\n\r\nnot authorized!"
            }
        };
        let _ = sock.write_all(answer).await;
        got
    });
    (to, task)
}

fn upload_parts(length: Option<usize>) -> http::request::Parts {
    let length = length.map(|n| n.to_string());
    let mut req = Request::builder()
        .method("POST")
        .uri("/api/projects/p/files/upload");
    if let Some(n) = length {
        req = req.header("content-length", n);
    }
    req.header("content-type", "multipart/form-data; boundary=x")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn two_pieces() -> Body {
    let pieces = vec![
        Ok::<_, io::Error>(Bytes::from_static(b"hello")),
        Ok(Bytes::from_static(b" world")),
    ];
    Body::from_stream(futures_util::stream::iter(pieces))
}

/// `count` pieces of 64 KiB, `pause` apart.
fn slow_pieces(count: usize, pause: Duration) -> Body {
    let piece = Bytes::from(vec![b'z'; 64 * 1024]);
    let pieces = futures_util::stream::unfold(0, move |i| {
        let piece = piece.clone();
        async move {
            if i == count {
                return None;
            }
            tokio::time::sleep(pause).await;
            Some((Ok::<_, io::Error>(piece), i + 1))
        }
    });
    Body::from_stream(pieces)
}

#[tokio::test]
async fn streamed_bodies_keep_their_length_or_go_chunked_and_stop_at_the_limit() {
    let client = Client::default();
    let t = Duration::from_secs(5);
    let now = Then::Answer(Duration::ZERO);
    // A declared length passes as it is.
    let (to, peer) = one_upload(now).await;
    let res = client
        .send_streamed(&to, &upload_parts(Some(11)), two_pieces(), 100, t)
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let got = String::from_utf8(peer.await.unwrap()).unwrap();
    assert!(
        got.starts_with("POST /api/projects/p/files/upload HTTP/1.1\r\n"),
        "{got}"
    );
    assert!(
        got.contains("content-length: 11\r\n") && !got.contains("chunked"),
        "{got}"
    );
    assert!(got.ends_with("\r\n\r\nhello world"), "{got}");
    // Without one: chunked.
    let (to, peer) = one_upload(now).await;
    let res = client
        .send_streamed(&to, &upload_parts(None), two_pieces(), 100, t)
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let got = String::from_utf8(peer.await.unwrap()).unwrap();
    assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
    assert!(!got.contains("content-length"), "{got}");
    assert!(
        got.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "{got}"
    );
    // Past the limit: no answer is waited for; the upstream sees the body end early, with
    // nothing past the limit.
    let (to, peer) = one_upload(now).await;
    let res = client
        .send_streamed(&to, &upload_parts(None), two_pieces(), 8, t)
        .await;
    assert!(matches!(res, Err(StreamError::TooLarge(_))), "{res:?}");
    let got = String::from_utf8(peer.await.unwrap()).unwrap();
    assert!(
        !got.contains("world") && !got.ends_with("0\r\n\r\n"),
        "only what fitted was sent: {got}"
    );
    // Nobody listening: the body comes back for another upstream.
    let closed = Upstream::parse("127.0.0.1:1").unwrap();
    let res = client
        .send_streamed(&closed, &upload_parts(None), two_pieces(), 100, t)
        .await;
    let Err(StreamError::Connect(_, body)) = res else {
        panic!("{res:?}");
    };
    let body = body.collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello world", "the body is untouched");
}

#[tokio::test]
async fn the_answer_may_take_the_timeout_after_the_body_was_sent() {
    let client = Client::default();
    let t = Duration::from_millis(300);
    // The body takes longer than the timeout; the answer comes soon after it.
    let (to, peer) = one_upload(Then::Answer(Duration::from_millis(50))).await;
    let body = slow_pieces(4, Duration::from_millis(150));
    let res = client
        .send_streamed(&to, &upload_parts(None), body, 1 << 20, t)
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(peer.await.unwrap().ends_with(b"\r\n0\r\n\r\n"));
    // No answer in time after the body.
    let (to, _peer) = one_upload(Then::Answer(Duration::from_secs(5))).await;
    let res = client
        .send_streamed(&to, &upload_parts(Some(11)), two_pieces(), 100, t)
        .await;
    assert!(matches!(res, Err(StreamError::Timeout)), "{res:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_refused_before_its_end_is_heard() {
    let client = Client::default();
    // 16 MiB that keep coming: far more than the sockets hold while nobody reads.
    let (to, peer) = one_upload(Then::Refuse).await;
    let body = slow_pieces(256, Duration::ZERO);
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        client.send_streamed(
            &to,
            &upload_parts(None),
            body,
            1 << 30,
            Duration::from_secs(5),
        ),
    )
    .await
    .expect("the refusal was heard");
    let res = res.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(body_of(res).await, b"not authorized!");
    peer.await.unwrap();
    assert_eq!(
        idle(&client),
        0,
        "a connection that was cut off is not kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_upstream_stops_reading_ends_after_the_timeout() {
    let client = Client::default();
    // A peer that takes the head, then neither reads nor answers, holding the connection.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let peer = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 1024];
        let _ = sock.read(&mut buf).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(sock);
    });
    // 16 MiB ready at once: far more than the sockets hold.
    let body = slow_pieces(256, Duration::ZERO);
    let started = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        client.send_streamed(
            &to,
            &upload_parts(None),
            body,
            1 << 30,
            Duration::from_millis(300),
        ),
    )
    .await
    .expect("a stalled upload does not hang");
    assert!(matches!(res, Err(StreamError::Timeout)), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(idle(&client), 0, "a stalled connection is not kept");
    peer.abort();
}
