//! The little HTTP/1.1 the Docker Engine API needs: one GET request, and parsing its response
//! (status line, headers, a body framed by `Content-Length`, `Transfer-Encoding: chunked`, or the
//! end of the connection).
//!
//! Why not an HTTP crate: one request per run over a unix socket does not justify hyper and its
//! runtime plumbing; the parser is small, strict and unit-tested.

use std::fmt;

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a response could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed HTTP response: {}", self.0)
    }
}

fn bad(message: impl Into<String>) -> ParseError {
    ParseError(message.into())
}

/// The request line and headers of a GET for `path` (the connection closes after the response,
/// so the whole response is whatever arrives until EOF).
pub fn get_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: netplan-rs\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
}

/// Parse a complete response (everything read until the server closed the connection).
pub fn parse_response(raw: &[u8]) -> Result<Response, ParseError> {
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| bad("headers are not UTF-8"))?;
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("unexpected status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("no status code in {status_line:?}")))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("header line without ':': {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| bad(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .split(',')
                .any(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    // RFC 9112 6.3: chunked framing wins over Content-Length.
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        rest.get(..length)
            .ok_or_else(|| {
                bad(format!(
                    "body has {} bytes, Content-Length says {length}",
                    rest.len()
                ))
            })?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

/// Decode a chunked body: `<hex size>[;ext]\r\n<data>\r\n` ... `0\r\n[trailers]\r\n`.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or_else(|| bad("chunk size line not terminated"))?;
        let line =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| bad("chunk size not UTF-8"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let data = rest
            .get(..size)
            .ok_or_else(|| bad("chunk shorter than its size"))?;
        body.extend_from_slice(data);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or_else(|| bad("chunk not followed by CRLF"))?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"a\":1}");
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-T: 1\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.body, b"{\"a\":1}");
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"ok"[..]));
    }

    #[test]
    fn body_until_close() {
        let r = parse_response(b"HTTP/1.0 500 Oops\r\n\r\nall of it").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (500, &b"all of it"[..]));
    }

    #[test]
    fn malformed_responses_are_errors() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"[..],
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
        ] {
            assert!(
                parse_response(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn request_closes_the_connection() {
        let req = get_request("/containers/web/json");
        assert!(req.starts_with("GET /containers/web/json HTTP/1.1\r\n"));
        assert!(req.contains("\r\nConnection: close\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }
}
