//! Polls an HTTP URL every millisecond until it answers 200, then prints the
//! milliseconds elapsed since `--since-ns` (CLOCK_REALTIME nanoseconds, as
//! printed by `date +%s%N` just before the server was spawned).
//! Exits 1 on timeout. Standard library only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use llmo_bench::{die, Args};

const USAGE: &str = "\
wait-ready: wait until GET URL answers 200 and print start-to-ready milliseconds

  --url URL          e.g. http://127.0.0.1:8080/ready (required, plain http)
  --since-ns NS      spawn time in Unix nanoseconds (default: now)
  --timeout SECS     give up after this long (default 10)";

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// One GET; true if the status line says 200.
fn probe(addr: &str, host: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]) {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
    }
    buf[..n].starts_with(b"HTTP/1.1 200") || buf[..n].starts_with(b"HTTP/1.0 200")
}

fn main() {
    let args = Args::parse(&[]).unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    if args.flag("help") {
        println!("{USAGE}");
        return;
    }
    args.check_known(&["url", "since-ns", "timeout"])
        .unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    let url = args.get("url").unwrap_or_else(|| die(format!("--url is required\n\n{USAGE}")));
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| die("--url must be plain http://"));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
    let since = args.num::<u128>("since-ns", now_ns()).unwrap_or_else(|e| die(e));
    let timeout = args.num::<f64>("timeout", 10.0).unwrap_or_else(|e| die(e));
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        if probe(&addr, host, path) {
            let ms = now_ns().saturating_sub(since) as f64 / 1e6;
            println!("{ms:.1}");
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("wait-ready: {url} did not answer 200 within {timeout} s");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
