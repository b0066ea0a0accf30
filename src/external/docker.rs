//! A Docker container name or id -> the pid of its main process, through the Docker Engine API
//! (`GET /containers/<name>/json`, field `State.Pid`) on its unix socket.
//!
//! The socket is `DOCKER_HOST` when it is `unix://<path>`, else `/var/run/docker.sock`. Only unix
//! sockets are supported: the namespace of a container on another machine is useless here anyway.

use super::http;
use serde::Deserialize;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket Docker listens on by default.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long the API may take: it answers an inspect in milliseconds; a hung daemon must not hang
/// a plan.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The API socket to use, given the value of `DOCKER_HOST`.
pub fn socket(docker_host: Option<&str>) -> Result<PathBuf, String> {
    match docker_host.filter(|h| !h.is_empty()) {
        Some(host) => match host.strip_prefix("unix://") {
            Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
            _ => Err(format!(
                "DOCKER_HOST={host} is not a unix socket (unix:///path); netplan-rs reads the Docker Engine API over a local unix socket only"
            )),
        },
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// The parts of `GET /containers/<id>/json` we read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    state: InspectState,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState {
    #[serde(default)]
    running: bool,
    #[serde(default)]
    pid: u32,
}

/// The daemon's error body: `{"message": "..."}`.
#[derive(Debug, Deserialize)]
struct ApiError {
    message: String,
}

/// The pid of running container `name`, asked of the API at `socket`.
pub fn container_pid(socket: &Path, name: &str) -> Result<u32, String> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let response = get(socket, &format!("/containers/{name}/json"))?;
    match response.status {
        200 => {
            let inspect: Inspect = serde_json::from_slice(&response.body).map_err(|e| {
                format!("the Docker API's answer about container {name} is not understood: {e}")
            })?;
            if !inspect.state.running || inspect.state.pid == 0 {
                return Err(format!(
                    "Docker container {name} is not running (it has no network namespace to wire)"
                ));
            }
            Ok(inspect.state.pid)
        }
        404 => Err(format!(
            "no Docker container {name} (the Docker API at {} does not know it)",
            socket.display()
        )),
        status => {
            let message = serde_json::from_slice::<ApiError>(&response.body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&response.body).trim().to_string());
            Err(format!(
                "the Docker API at {} answered {status} about container {name}: {message}",
                socket.display()
            ))
        }
    }
}

/// One GET over a fresh connection, read until the daemon closes it.
fn get(socket: &Path, path: &str) -> Result<http::Response, String> {
    let at = socket.display();
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no Docker API socket at {at} (is Docker running? set DOCKER_HOST=unix:///path to use another socket)"
        ),
        _ => format!("cannot connect to the Docker API at {at}: {e}"),
    })?;
    let io = |e: std::io::Error| format!("talking to the Docker API at {at}: {e}");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream
        .write_all(http::get_request(path).as_bytes())
        .map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    http::parse_response(&raw).map_err(|e| format!("the Docker API at {at}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake Docker API: answers one connection with `response` and hands back the request line.
    struct FakeApi {
        dir: PathBuf,
        socket: PathBuf,
        thread: Option<std::thread::JoinHandle<String>>,
    }

    impl FakeApi {
        fn start(response: impl Into<Vec<u8>>) -> FakeApi {
            let response: Vec<u8> = response.into();
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "netplan-docker-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let socket = dir.join("docker.sock");
            let listener = UnixListener::bind(&socket).unwrap();
            let thread = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = conn.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                conn.write_all(&response).unwrap();
                let text = String::from_utf8_lossy(&request).into_owned();
                text.lines().next().unwrap_or_default().to_string()
            });
            FakeApi {
                dir,
                socket,
                thread: Some(thread),
            }
        }

        fn request_line(mut self) -> String {
            self.thread.take().unwrap().join().unwrap()
        }
    }

    impl Drop for FakeApi {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A response with an exact Content-Length.
    fn with_length(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn running_container_gives_its_pid() {
        let api = FakeApi::start(with_length(
            "200 OK",
            r#"{"Id":"abc","Name":"/web","State":{"Status":"running","Running":true,"Pid":4242},"NetworkSettings":{}}"#,
        ));
        assert_eq!(container_pid(&api.socket, "web"), Ok(4242));
        assert_eq!(api.request_line(), "GET /containers/web/json HTTP/1.1");
    }

    #[test]
    fn chunked_answer_is_read() {
        let api = FakeApi::start(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n19\r\n{\"State\":{\"Running\":true,\r\n0d\r\n\"Pid\":31337}}\r\n0\r\n\r\n",
        );
        assert_eq!(container_pid(&api.socket, "/db"), Ok(31337));
        assert_eq!(api.request_line(), "GET /containers/db/json HTTP/1.1");
    }

    #[test]
    fn unknown_container_is_named() {
        let api = FakeApi::start(with_length(
            "404 Not Found",
            r#"{"message":"No such container: ghost"}"#,
        ));
        let err = container_pid(&api.socket, "ghost").unwrap_err();
        assert!(err.contains("no Docker container ghost"), "{err}");
    }

    #[test]
    fn stopped_container_is_an_error() {
        let api =
            FakeApi::start(b"HTTP/1.1 200 OK\r\n\r\n{\"State\":{\"Running\":false,\"Pid\":0}}");
        let err = container_pid(&api.socket, "web").unwrap_err();
        assert!(err.contains("not running"), "{err}");
    }

    #[test]
    fn server_error_message_is_passed_on() {
        let api = FakeApi::start(
            b"HTTP/1.1 500 Internal Server Error\r\n\r\n{\"message\":\"daemon on fire\"}",
        );
        let err = container_pid(&api.socket, "web").unwrap_err();
        assert!(
            err.contains("500") && err.contains("daemon on fire"),
            "{err}"
        );
    }

    #[test]
    fn missing_socket_is_a_clear_error() {
        let err =
            container_pid(Path::new("/nonexistent/netplan-rs/docker.sock"), "web").unwrap_err();
        assert!(
            err.contains("no Docker API socket at /nonexistent/netplan-rs/docker.sock"),
            "{err}"
        );
    }

    #[test]
    fn socket_from_docker_host() {
        assert_eq!(socket(None), Ok(PathBuf::from(DEFAULT_SOCKET)));
        assert_eq!(socket(Some("")), Ok(PathBuf::from(DEFAULT_SOCKET)));
        assert_eq!(
            socket(Some("unix:///tmp/d.sock")),
            Ok(PathBuf::from("/tmp/d.sock"))
        );
        assert!(
            socket(Some("tcp://10.0.0.1:2375"))
                .unwrap_err()
                .contains("not a unix socket")
        );
        assert!(socket(Some("unix://relative")).is_err());
    }
}
