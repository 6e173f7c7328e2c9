"""Load test of ``oxlearn serve`` against a typical Python server (issue 16).

On the loopback address only, bounded in time and count: for a
LinearRegression, a 100-tree forest and a kNN model, 1 and 100 rows per
request at concurrency 1, 16 and 64, it reports throughput, p50/p99 latency
and the server's resident memory, for

- ``oxlearn serve`` (the release binary) with the models saved by
  ``oxlearn.save``;
- Flask under gunicorn (2 workers x 8 threads, ``gthread``), with the same
  models fitted by scikit-learn and loaded with ``joblib``, when a Python
  with flask and gunicorn is given (``--python-server``: a separate venv,
  e.g. ``.venv-serve/bin/python``).

The client sends the same JSON body (``{"instances": [...]}``) to both, on
keep-alive connections, one request in flight on each: the compiled one
(``--client``: ``crates/oxlearn-cli/examples/load_client.rs``, one thread)
or, without it, Python threads with ``http.client`` (whose interpreter lock
caps it near 10,000 requests a second). On a small machine the client shares
the cores with the server, so the numbers are a floor for both servers;
compare them with each other.

    cargo build --release -p oxlearn-cli --example load_client
    python bench/bench_serve.py --oxlearn target/release/oxlearn \
        --client target/release/examples/load_client \
        --python-server .venv-serve/bin/python --seconds 3
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestRegressor as SkForest
from sklearn.linear_model import LinearRegression as SkLinear
from sklearn.neighbors import KNeighborsRegressor as SkKnn

import oxlearn
from oxlearn.ensemble import RandomForestRegressor
from oxlearn.linear_model import LinearRegression
from oxlearn.neighbors import KNeighborsRegressor

FLASK_APP = '''
import os, joblib, numpy as np
from flask import Flask, request, jsonify
app = Flask(__name__)
MODELS = {name: joblib.load(path) for name, path in
          (a.split("=", 1) for a in os.environ["BENCH_MODELS"].split(","))}
@app.post("/v1/models/<name>/predict")
def predict(name):
    X = np.asarray(request.get_json()["instances"], dtype=np.float64)
    return jsonify(predictions=MODELS[name].predict(X).tolist())
@app.get("/healthz")
def healthz():
    return {"status": "ok"}
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]
    except OSError:
        return []


def wait_healthy(host, port, timeout=60):
    start = time.time()
    while time.time() - start < timeout:
        try:
            c = http.client.HTTPConnection(host, port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def load_compiled(client, host, port, path, body, concurrency, seconds, max_requests):
    """`load` by the compiled client."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        f.write(body)
        f.flush()
        out = subprocess.run(
            [client, f"{host}:{port}", path, f.name, "application/json", str(concurrency),
             str(seconds), str(max_requests)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]


def load(host, port, path, body, concurrency, seconds, max_requests):
    """Requests from `concurrency` keep-alive connections for `seconds` (at
    most `max_requests` in all): (requests per second, p50 ms, p99 ms,
    errors)."""
    latencies = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    budget = [max_requests]

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine = []
        while time.perf_counter() < stop_at:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection(host, port, timeout=30)
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    return len(lat) / elapsed, np.percentile(lat, 50), np.percentile(lat, 99), errors[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oxlearn", default="target/release/oxlearn")
    ap.add_argument("--python-server", help="a Python with flask and gunicorn")
    ap.add_argument("--client", help="the compiled load client (examples/load_client.rs)")
    ap.add_argument("--seconds", type=float, default=3.0, help="per cell")
    ap.add_argument("--max-requests", type=int, default=200_000, help="per cell")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    n, p = 5_000, 20
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + rng.normal(size=n)
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    models = {
        "linear": (LinearRegression(), SkLinear()),
        "forest": (RandomForestRegressor(n_estimators=100, max_depth=10, random_state=0),
                   SkForest(n_estimators=100, max_depth=10, random_state=0)),
        "knn": (KNeighborsRegressor(n_neighbors=5), SkKnn(n_neighbors=5)),
    }
    for name, (ox, sk) in models.items():
        oxlearn.save(ox.fit(X, y), tmp / f"{name}.oxl")
        joblib.dump(sk.fit(X, y), tmp / f"{name}.joblib")

    servers = []
    proc = subprocess.Popen(
        [args.oxlearn, "serve", *(str(tmp / f"{m}.oxl") for m in models), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    host, port = proc.stdout.readline().split("//")[1].strip().rsplit(":", 1)
    servers.append(("oxlearn serve", proc, host, int(port)))
    if args.python_server:
        port = free_port()
        (tmp / "flask_app.py").write_text(FLASK_APP)
        py = Path(args.python_server)
        gunicorn = py.parent / "gunicorn"
        proc = subprocess.Popen(
            [str(gunicorn), "-w", "2", "-k", "gthread", "--threads", "8", "-b",
             f"127.0.0.1:{port}", "--chdir", str(tmp), "flask_app:app"],
            env={**os.environ,
                 "BENCH_MODELS": ",".join(f"{m}={tmp / m}.joblib" for m in models)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(("Flask+gunicorn (2x8, joblib sklearn)", proc, "127.0.0.1", port))

    results = []
    try:
        for label, proc, host, port in servers:
            wait_healthy(host, port)
            for model in models:
                for rows in (1, 100):
                    body = json.dumps({"instances": X[:rows].tolist()})
                    path = f"/v1/models/{model}/predict"
                    run = (partial(load_compiled, args.client) if args.client else load)
                    run(host, port, path, body, 4, 0.5, 500)  # warm up
                    for conc in (1, 16, 64):
                        rps, p50, p99, err = run(host, port, path, body, conc,
                                                 args.seconds, args.max_requests)
                        rss = rss_mib([proc.pid, *children(proc.pid)])
                        r = dict(server=label, model=model, rows=rows, concurrency=conc,
                                 rps=rps, p50_ms=p50, p99_ms=p99, errors=err, rss_mib=rss)
                        results.append(r)
                        print(f"| {label} | {model} | {rows} | {conc} | {rps:,.0f} | "
                              f"{p50:.2f} | {p99:.2f} | {rss:.0f} | {err} |", flush=True)
    finally:
        for _, proc, _, _ in servers:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"# {os.cpu_count()} cores; client and servers share them", file=sys.stderr)


if __name__ == "__main__":
    main()
