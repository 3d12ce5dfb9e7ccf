//! A minimal HTTP/1.1 client for `voxline caller` and `voxline calls`, which talk to a
//! voxline server's REST API (plain http; one request per connection).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}: only http://HOST:PORT/... URLs are supported")]
    Url(String),
    #[error("{url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("{url}: malformed response")]
    Response { url: String },
    #[error("{url}: HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
}

/// Sends one request; returns the body of a 2xx response.
pub async fn request(method: &str, url: &str, body: Option<&serde_json::Value>) -> Result<Vec<u8>, HttpError> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    send(method, url, &[], &body).await
}

/// Sends one JSON request with extra headers; returns the body of a 2xx response.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Result<Vec<u8>, HttpError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| HttpError::Url(url.into()))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let io = |source| HttpError::Io { url: url.into(), source };
    let mut socket = TcpStream::connect(host).await.map_err(io)?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.map_err(io)?;
    socket.write_all(body.as_bytes()).await.map_err(io)?;
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.map_err(io)?;
    let bad = || HttpError::Response { url: url.into() };
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = std::str::from_utf8(&response[..split]).map_err(|_| bad())?;
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let mut body = response[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    if !(200..300).contains(&status) {
        let body = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(HttpError::Status { url: url.into(), status, body });
    }
    Ok(body)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A JSON request and response.
pub async fn json(method: &str, url: &str, body: Option<&serde_json::Value>) -> Result<serde_json::Value, HttpError> {
    let bytes = request(method, url, body).await?;
    serde_json::from_slice(&bytes).map_err(|_| HttpError::Response { url: url.into() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(super::dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n").unwrap(), b"Wikipedia");
        assert!(super::dechunk(b"zz\r\n").is_none());
    }
}
