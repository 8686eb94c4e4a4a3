//! Shared helpers for the llmo benchmark binaries: a tiny argument parser
//! (to keep the dependency list short), runtime construction and the
//! accept loop used by both servers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Minimal `--key value` / `--key=value` / `--flag` parser.
/// Repeated options are kept in order.
pub struct Args {
    values: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()`. `flags` lists the options that take no value.
    pub fn parse(flags: &[&str]) -> Result<Self, String> {
        Self::parse_from(std::env::args().skip(1), flags)
    }

    pub fn parse_from(
        it: impl IntoIterator<Item = String>,
        flags: &[&str],
    ) -> Result<Self, String> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut set_flags = Vec::new();
        let mut it = it.into_iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            if let Some((k, v)) = name.split_once('=') {
                values.entry(k.to_string()).or_default().push(v.to_string());
            } else if flags.contains(&name) || name == "help" {
                set_flags.push(name.to_string());
            } else {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                values.entry(name.to_string()).or_default().push(v);
            }
        }
        Ok(Self {
            values,
            flags: set_flags,
        })
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: invalid number {v:?}")),
        }
    }

    /// Options the caller did not expect, to report typos.
    pub fn check_known(&self, known: &[&str]) -> Result<(), String> {
        for k in self.values.keys() {
            if !known.contains(&k.as_str()) {
                return Err(format!("unknown option --{k}"));
            }
        }
        Ok(())
    }
}

/// Prints `msg` to stderr and exits with status 2.
pub fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// Builds a multi-threaded runtime with `threads` workers (0 = one per CPU
/// this process may run on, which honours `taskset`).
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(format!("cannot build tokio runtime: {e}")))
}

/// Binds `addr` and prints `listening on ADDR` as the first stdout line.
pub async fn bind(addr: &str) -> TcpListener {
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| die(format!("cannot listen on {addr}: {e}")));
    let local: SocketAddr = listener
        .local_addr()
        .unwrap_or_else(|e| die(format!("local_addr: {e}")));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {local}");
        let _ = out.flush();
    }
    listener
}

/// HTTP/1.1 accept loop: TCP_NODELAY on every accepted socket, keep-alive,
/// one task per connection. Runs forever.
pub async fn serve<S, F, B>(listener: TcpListener, state: Arc<S>, handler: fn(Request<Incoming>, Arc<S>) -> F)
where
    S: Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handler(req, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Byte-substring search (bodies here are small; no need for memchr).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_parse() {
        let a = Args::parse_from(
            ["--url", "http://x", "--stream", "--header=A: b", "--header", "C: d"]
                .into_iter()
                .map(String::from),
            &["stream"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(a.flag("stream"));
        assert_eq!(a.get("url"), Some("http://x"));
        assert_eq!(a.all("header"), ["A: b", "C: d"]);
        assert!(a.check_known(&["url", "header"]).is_ok());
        assert!(a.check_known(&["url"]).is_err());
    }

    #[test]
    fn substring() {
        assert!(contains(br#"{"stream": true}"#, br#""stream": true"#));
        assert!(!contains(br#"{"stream": false}"#, br#""stream": true"#));
    }
}
