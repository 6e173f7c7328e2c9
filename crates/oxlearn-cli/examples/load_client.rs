//! The load client of `bench/bench_serve.py`: `concurrency` keep-alive
//! HTTP/1.1 connections, each sending the same POST and waiting for the whole
//! answer before the next, for `seconds` or `max_requests` in all.
//!
//! ```text
//! cargo run --release -p oxlearn-cli --example load_client -- \
//!     HOST:PORT PATH BODY_FILE CONTENT_TYPE CONCURRENCY SECONDS MAX_REQUESTS
//! ```
//!
//! Prints one JSON object: requests, seconds, rps, p50_ms, p99_ms, errors.
//! It runs on one thread (tokio's current-thread runtime), so that on a
//! small machine it takes one core from the server under test, the same
//! core whichever server that is; a Python client's interpreter lock capped
//! it near 10,000 requests a second, below what `oxlearn serve` answers.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Shared {
    budget: Cell<usize>,
    stop_at: Instant,
    latencies: RefCell<Vec<f64>>,
    errors: Cell<usize>,
}

/// Reads one response from `conn` into `buf` (headers, then the body by its
/// `content-length`); returns whether the status was 200.
async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let got = conn.read(&mut chunk).await?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..got]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let ok = head.starts_with("http/1.1 200");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no content-length"))?;
    while buf.len() < head_end + length {
        let got = conn.read(&mut chunk).await?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..got]);
    }
    Ok(ok)
}

async fn worker(addr: String, request: Rc<Vec<u8>>, shared: Rc<Shared>) {
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::new();
    let mut mine = Vec::new();
    while Instant::now() < shared.stop_at && shared.budget.get() > 0 {
        shared.budget.set(shared.budget.get() - 1);
        let t0 = Instant::now();
        let ok = async {
            let c = match &mut conn {
                Some(c) => c,
                None => {
                    let c = TcpStream::connect(&addr).await?;
                    c.set_nodelay(true)?;
                    conn.insert(c)
                }
            };
            c.write_all(&request).await?;
            read_response(c, &mut buf).await
        }
        .await;
        mine.push(t0.elapsed().as_secs_f64());
        match ok {
            Ok(true) => {}
            Ok(false) => shared.errors.set(shared.errors.get() + 1),
            Err(_) => {
                shared.errors.set(shared.errors.get() + 1);
                conn = None;
            }
        }
    }
    shared.latencies.borrow_mut().extend(mine);
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // numpy's default (linear interpolation between closest ranks).
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 7 {
        return Err(
            "usage: load_client HOST:PORT PATH BODY_FILE CONTENT_TYPE CONCURRENCY SECONDS \
             MAX_REQUESTS"
                .into(),
        );
    }
    let (addr, path, content_type) = (&args[0], &args[1], &args[3]);
    let body = std::fs::read(&args[2]).map_err(|e| format!("{}: {e}", args[2]))?;
    let number = |i: usize, what: &str| format!("{what}: a number, not {:?}", args[i]);
    let concurrency: usize = args[4].parse().map_err(|_| number(4, "CONCURRENCY"))?;
    let seconds: f64 = args[5].parse().map_err(|_| number(5, "SECONDS"))?;
    let max_requests: usize = args[6].parse().map_err(|_| number(6, "MAX_REQUESTS"))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let request = Rc::new(request);
    let shared = Rc::new(Shared {
        budget: Cell::new(max_requests),
        stop_at: Instant::now() + Duration::from_secs_f64(seconds),
        latencies: RefCell::new(Vec::new()),
        errors: Cell::new(0),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no tokio runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let t0 = Instant::now();
    local.block_on(&rt, async {
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                tokio::task::spawn_local(worker(addr.clone(), request.clone(), shared.clone()))
            })
            .collect();
        for t in tasks {
            t.await.map_err(|e| format!("a worker failed: {e}"))?;
        }
        Ok::<(), String>(())
    })?;
    let elapsed = t0.elapsed().as_secs_f64();
    let mut lat = shared.latencies.take();
    lat.sort_by(f64::total_cmp);
    println!(
        "{{\"requests\": {}, \"seconds\": {elapsed}, \"rps\": {}, \"p50_ms\": {}, \"p99_ms\": {}, \"errors\": {}}}",
        lat.len(),
        lat.len() as f64 / elapsed,
        percentile(&lat, 50.0) * 1e3,
        percentile(&lat, 99.0) * 1e3,
        shared.errors.get()
    );
    Ok(())
}
