//! A test proxy between a CLI profile and the served API that plays the network or a malicious server: every
//! request is forwarded, and scripted rules can lose the answer of one request the server did handle —
//! answering `504` instead of the server's `201` — or rewrite the JSON of the server's answers.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Rewrites an answer's JSON body for `(method, path with its query)`; returns whether it changed anything.
pub type Rewrite = Box<dyn Fn(&str, &str, &mut Value) -> bool + Send>;

/// Rules the test sets while the proxy runs.
#[derive(Default)]
pub struct Script {
    /// `(method, path suffix)`: the next matching request is forwarded, and its answer replaced by a 504.
    pub lose_answer: Option<(String, String)>,
    /// Requests whose answer was lost, as `METHOD path`.
    pub lost: Vec<String>,
    /// Applied to every JSON answer (a malicious server's edits).
    pub rewrite: Option<Rewrite>,
    /// Requests whose answer was rewritten, as `METHOD path`.
    pub rewritten: Vec<String>,
}

/// Starts the proxy in front of `upstream` (`http://host:port`); returns its base URL and its script.
pub async fn start(upstream: &str) -> (String, Arc<Mutex<Script>>) {
    let upstream = upstream
        .trim_end_matches('/')
        .trim_start_matches("http://")
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let script = Arc::new(Mutex::new(Script::default()));
    let shared = script.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let (upstream, script) = (upstream.clone(), shared.clone());
            tokio::spawn(async move {
                let _ = serve(client, &upstream, &script).await;
            });
        }
    });
    (format!("http://{address}"), script)
}

/// One request per connection (the answer closes it), so the client reconnects for the next.
async fn serve(
    mut client: TcpStream,
    upstream: &str,
    script: &Mutex<Script>,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    let head_end = find(&request, b"\r\n\r\n").unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let mut request_line = head.lines().next().unwrap_or("").split(' ');
    let (method, path) = (
        request_line.next().unwrap_or("").to_owned(),
        request_line.next().unwrap_or("").to_owned(),
    );
    // The same request, asking the server to close after answering (so its answer ends at EOF).
    let mut forwarded = Vec::new();
    for (index, line) in head.split("\r\n").enumerate() {
        if index > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        forwarded.extend_from_slice(line.as_bytes());
        forwarded.extend_from_slice(b"\r\n");
        if index == 0 {
            forwarded.extend_from_slice(b"Connection: close\r\n");
        }
    }
    forwarded.extend_from_slice(b"\r\n");
    forwarded.extend_from_slice(&request[(head_end + 4).min(request.len())..]);
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&forwarded).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let lose = {
        let mut script = script.lock().unwrap();
        let hit = script.lose_answer.as_ref().is_some_and(|(m, suffix)| {
            *m == method
                && path
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .ends_with(suffix.as_str())
        });
        if hit {
            script.lose_answer = None;
            script.lost.push(format!("{method} {path}"));
        }
        if let Some(rewritten) = script
            .rewrite
            .as_ref()
            .and_then(|rewrite| rewritten(&answer, |body| rewrite(&method, &path, body)))
        {
            answer = rewritten;
            script.rewritten.push(format!("{method} {path}"));
        }
        hit
    };
    if lose {
        let body =
            br#"{"error":{"code":"gateway_timeout","message":"the answer was lost on the way"}}"#;
        answer = format!(
            "HTTP/1.1 504 Gateway Timeout\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
    }
    client.write_all(&answer).await?;
    client.shutdown().await
}

/// The answer with its JSON body edited by `edit`, if it has one and `edit` changed it: the same status and
/// headers, the body re-framed with its new length (a chunked body is read whole first).
fn rewritten(answer: &[u8], edit: impl FnOnce(&mut Value) -> bool) -> Option<Vec<u8>> {
    let head_end = find(answer, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..head_end]).into_owned();
    let raw = &answer[head_end + 4..];
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    let mut json: Value = serde_json::from_slice(&body).ok()?;
    if !edit(&mut json) {
        return None;
    }
    let body = serde_json::to_vec(&json).ok()?;
    let mut out = String::new();
    for line in head.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if !lower.starts_with("content-length:") && !lower.starts_with("transfer-encoding:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut rewritten = out.into_bytes();
    rewritten.extend_from_slice(&body);
    Some(rewritten)
}

/// A chunked body's bytes.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n")?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// The request head and its `content-length` body.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = client.read(&mut buffer).await?;
        if read == 0 {
            return Ok(request);
        }
        request.extend_from_slice(&buffer[..read]);
        if let Some(end) = find(&request, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Ok(request);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
