#!/usr/bin/env python3
"""Whole-process benchmarks of esp-imports against what a user would otherwise run, side by side
in one run on one machine, with medians and ratios. Results and method: BENCHMARKS.md.

    benches/compare.py [--sizes 10,100,1024] [--runs 5] [--only np6,eloqua,per-call,demo,build]

- np6:      `esp-imports import mailperformance` (the whole workflow: checks, binding, import,
            streamed upload, execution) vs `curl -T` of the same file to the same endpoint.
- eloqua:   `esp-imports import eloqua` (checks, definition, ≤32 MB row-aligned chunks, one
            sync) vs benches/eloqua_requests.py (a typical `requests` script) and
            benches/eloqua_requests_streaming.py (a careful one that streams the file).
- per-call: `cargo bench --bench per_call` (criterion): a generated-client call vs raw reqwest;
            and instructions per call of each under callgrind (benches/support/calls.rs).
- demo:     `esp-imports demo --rows 1000000`: time, peak memory, and the numbers it reports.
- build:    clean build of all vendors vs one vendor, and rebuilds after a one-line spec edit vs
            a one-line .rs edit (in a copy of the tree, with its own target directory).

Each measured process runs under /usr/bin/time -v (wall clock, peak RSS); the two sides of a
comparison alternate run by run. Uploads go to benches/support/sink.rs, a loopback server that
counts what it receives (checked against the file) and keeps nothing. Everything is written
under target/bench/. Needs: cargo, curl, /usr/bin/time, python3 with `requests` (installed into
.venv at the pinned version if missing).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = TARGET / "release" / "esp-imports"
SINK = TARGET / "release" / "examples" / "bench-sink"
REQUESTS = "requests==2.34.2"  # the version .ci/run's schemathesis pulls into .venv
MIB = 1024 * 1024


def log(message):
    print(message, flush=True)


def timed(command, env=None, cwd=None):
    """Runs `command` under /usr/bin/time -v: (wall seconds, peak RSS bytes, stdout)."""
    result = subprocess.run(["/usr/bin/time", "-v", *map(str, command)], capture_output=True,
                            text=True, env=env, cwd=cwd)
    if result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(map(str, command))}\n{result.stdout[-2000:]}"
                 f"\n{result.stderr[-4000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    h, m, s = wall.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s), int(rss.group(1)) * 1024, result.stdout


def csv_file(size_mib):
    """A contacts CSV of about size_mib MiB with unique e-mails: (path, data rows)."""
    path = OUT / f"contacts-{size_mib}MiB.csv"
    rows_path = path.with_suffix(".rows")
    if path.exists() and rows_path.exists():
        return path, int(rows_path.read_text())
    target = size_mib * MIB
    rows = 0
    with open(path, "w", newline="") as f:
        f.write("email,first_name,last_name,city\n")
        written = 0
        block = []
        while written < target:
            line = f"contact{rows:010d}@example.com,Firstname{rows % 9973},Lastname {rows % 7919},Roubaix\n"
            block.append(line)
            written += len(line)
            rows += 1
            if len(block) == 10000:
                f.write("".join(block))
                block = []
        f.write("".join(block))
    rows_path.write_text(str(rows))
    return path, rows


class Sink:
    def __enter__(self):
        self.process = subprocess.Popen([SINK, "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.process.stdout.readline().strip()
        self.stats()
        return self

    def stats(self):
        with urllib.request.urlopen(self.url + "/_stats") as r:
            return json.load(r)

    def __exit__(self, *_):
        self.process.kill()
        self.process.wait()


def median(samples, i):
    return statistics.median(s[i] for s in samples)


def mib(n):
    return f"{n / MIB:.1f} MiB"


def compare(name, ours, theirs, runs, check):
    """Alternates the two commands `runs` times, each followed by `check(side)`, which verifies
    what the sink received and returns the seconds it spent receiving uploads. Prints and
    returns the medians (wall clock, peak RSS, upload time) and their ratios."""
    samples = {"ours": [], "theirs": []}
    for _ in range(runs):
        for side, command in (("ours", ours), ("theirs", theirs)):
            wall, rss, _stdout = timed(command["argv"], env=command.get("env"))
            samples[side].append((wall, rss, check(side)))
    o, t = samples["ours"], samples["theirs"]
    result = {"name": name, "runs": runs}
    for key, i in (("wall", 0), ("rss", 1), ("upload", 2)):
        result[f"ours_{key}"], result[f"theirs_{key}"] = median(o, i), median(t, i)
        result[f"{key}_ratio"] = result[f"ours_{key}"] / result[f"theirs_{key}"]
    r = result
    log(f"  {name}: esp-imports {r['ours_wall']:.3f} s, {mib(r['ours_rss'])}, upload {r['ours_upload']:.3f} s"
        f" | {theirs['label']} {r['theirs_wall']:.3f} s, {mib(r['theirs_rss'])}, upload {r['theirs_upload']:.3f} s"
        f" | ratios: wall {r['wall_ratio']:.2f}, RSS {r['rss_ratio']:.2f}, upload {r['upload_ratio']:.2f}"
        f"  (walls: {' '.join(f'{s[0]:.2f}' for s in o)} / {' '.join(f'{s[0]:.2f}' for s in t)})")
    return result


def np6(sizes, runs):
    log("== NP6: esp-imports import mailperformance vs curl -T (same file, same endpoint)")
    results = []
    env = {**os.environ, "MAILPERFORMANCE_XKEY": "bench-key"}
    with Sink() as sink:
        for size in sizes:
            path, rows = csv_file(size)
            length = path.stat().st_size

            def check(side):
                stats = sink.stats()
                if stats["bytes"] != length or stats["uploads"] != 1:
                    sys.exit(f"FAIL: {side} sent {stats} for a file of {length} bytes")
                return stats["upload_seconds"]

            ours = {"argv": [BIN, "import", "mailperformance", "--base-url", sink.url, "--file", path,
                             "--key", "email", "--map", "email=1234", "--map", "first_name=1235",
                             "--map", "last_name=1236", "--map", "city=5678", "--poll-interval", "0.01",
                             "--json"], "env": env}
            theirs = {"label": "curl -T", "argv": [
                "curl", "-sS", "--fail", "-o", "/dev/null", "-T", path, "-H", "X-Key: bench-key",
                "-H", "Content-Type: application/octet-stream", f"{sink.url}/imports/42/source"]}
            results.append(compare(f"{size} MiB ({rows} rows)", ours, theirs, runs, check))
    return results


def python_with_requests():
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", ROOT / ".venv"], check=True)
    if subprocess.run([python, "-c", "import requests"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", REQUESTS], check=True)
    return python


def eloqua(sizes, runs):
    log("== Eloqua: esp-imports import eloqua vs benches/eloqua_requests.py (Python requests)")
    python = python_with_requests()
    results = []
    env = {**os.environ, "ELOQUA_COMPANY": "Company", "ELOQUA_USERNAME": "user", "ELOQUA_PASSWORD": "password"}
    with Sink() as sink:
        for size in sizes:
            path, rows = csv_file(size)

            def check(side):
                stats = sink.stats()
                # Each chunk carries the header line: the data lines are the rest.
                if stats["lines"] - stats["uploads"] != rows:
                    sys.exit(f"FAIL: {side} staged {stats} for {rows} rows")
                return stats["upload_seconds"]

            ours = {"argv": [BIN, "import", "eloqua", "--base-url", sink.url, "--file", path, "--key", "email",
                             "--map", "email=C_EmailAddress", "--map", "first_name=C_FirstName",
                             "--map", "last_name=C_LastName", "--map", "city=C_City", "--poll-interval", "0.01",
                             "--json"], "env": env}
            theirs = {"label": "python requests", "argv": [python, ROOT / "benches" / "eloqua_requests.py",
                                                             sink.url, path, "email"]}
            results.append(compare(f"{size} MiB ({rows} rows)", ours, theirs, runs, check))
            # The second opponent: the careful, streaming script (one chunk in memory at a time).
            streaming = {"label": "python requests, streaming",
                         "argv": [python, ROOT / "benches" / "eloqua_requests_streaming.py", sink.url, path,
                                  "email"]}
            result = compare(f"{size} MiB ({rows} rows), streaming opponent", ours, streaming, runs, check)
            result["opponent"] = "streaming"
            results.append(result)
    return results


def per_call():
    log("== Per call: generated client vs raw reqwest (criterion, cargo bench --bench per_call)")
    subprocess.run(["cargo", "bench", "--bench", "per_call", "--", "--noplot"], cwd=ROOT, check=True)
    medians = {}
    for side in ("generated", "reqwest", "reqwest_same_settings"):
        estimates = json.loads((TARGET / "criterion" / "per_call" / side / "new" / "estimates.json").read_text())
        medians[side] = estimates["median"]["point_estimate"]
    ratio = medians["generated"] / medians["reqwest"]
    log(f"  generated {medians['generated'] / 1000:.1f} µs, reqwest {medians['reqwest'] / 1000:.1f} µs, "
        f"reqwest with our client settings {medians['reqwest_same_settings'] / 1000:.1f} µs; ratio {ratio:.3f}")
    result = {"generated_ns": medians["generated"], "reqwest_ns": medians["reqwest"],
              "reqwest_same_settings_ns": medians["reqwest_same_settings"], "ratio": ratio}
    if shutil.which("valgrind"):
        # Instruction counts are repeatable where loopback times on a shared machine are not:
        # (count of N2 calls - count of N1 calls) / (N2 - N1), client and server together.
        calls = TARGET / "release" / "examples" / "bench-calls"
        per_call_instructions = {}
        for kind in ("generated", "reqwest", "settings"):
            counts = []
            for n in (200, 1200):
                out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                      calls, kind, str(n)], capture_output=True, text=True, check=True)
                counts.append(int(re.search(r"Collected : (\d+)", out.stderr).group(1)))
            per_call_instructions[kind] = (counts[1] - counts[0]) / 1000
        result["instructions"] = per_call_instructions
        result["instructions_ratio"] = per_call_instructions["generated"] / per_call_instructions["reqwest"]
        log(f"  instructions per call (callgrind): generated {per_call_instructions['generated']:,.0f}, "
            f"reqwest {per_call_instructions['reqwest']:,.0f}, reqwest with our client settings "
            f"{per_call_instructions['settings']:,.0f}; ratio {result['instructions_ratio']:.3f}")
    return result


def demo(rows):
    log(f"== Demo at scale: esp-imports demo --rows {rows}")
    wall, rss, stdout = timed([BIN, "demo", "--rows", rows])
    log("\n".join("  " + line for line in stdout.strip().splitlines()))
    log(f"  {wall:.1f} s, peak RSS {mib(rss)}")
    return {"rows": rows, "wall": wall, "rss": rss, "output": stdout}


def clients_at_scale(rows):
    """Each vendor's CLI import of the same file into `esp-imports sandbox` run as its own
    process, so that each client's time and memory are measured apart from the emulators'."""
    log(f"== Each client alone at scale: esp-imports import <vendor> of {rows} rows into esp-imports sandbox")
    path = OUT / f"contacts-{rows}-rows.csv"
    with open(path, "w") as f:
        f.write("email,first_name,last_name,city\n")
        f.writelines(f"contact{i:010d}@example.com,Firstname{i % 9973},Lastname {i % 7919},Roubaix\n"
                     for i in range(rows))
    banner = OUT / "sandbox.log"
    with open(banner, "w") as out:
        sandbox = subprocess.Popen([BIN, "sandbox", "--listen", "127.0.0.1:0"], stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            text = banner.read_text()
            if "  eloqua " in text:
                break
            time.sleep(0.1)
        url = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.startswith("  ")}
        env = dict(os.environ)
        env.update(re.findall(r"([A-Z_]+)=(\S+)", text))
        sftp = Path(re.search(r"SFTP directory: (.+)", text).group(1).strip())
        shutil.copy(path, sftp / path.name)
        common = ["--file", path, "--key", "email", "--poll-interval", "0.1", "--timeout", "1800", "--json"]
        runs = {
            "mailperformance": ["--map", "email=1234", "--map", "first_name=1235", "--map", "last_name=1236",
                                "--map", "city=5678"],
            "copernica": ["--database", "1", "--map", "email=email", "--map", "first_name=firstname",
                          "--map", "last_name=lastname", "--map", "city=city"],
            "mindbaz": ["--site", "1", "--remote-file", path.name, "--notify", "bench@example.com",
                        "--map", "email=fld1", "--map", "first_name=fld2", "--map", "last_name=fld3",
                        "--map", "city=fld4"],
            "eloqua": ["--map", "email=C_EmailAddress", "--map", "first_name=C_FirstName",
                       "--map", "last_name=C_LastName", "--map", "city=C_City"],
        }
        results = {}
        for vendor, args in runs.items():
            wall, rss, stdout = timed([BIN, "import", vendor, "--base-url", url[vendor], *common, *args], env=env)
            report = json.loads(stdout)
            if report["rows_total"] != rows:
                sys.exit(f"FAIL: {vendor} reports {report['rows_total']} rows of {rows}")
            results[vendor] = {"wall": wall, "rss": rss, "status": report["status"],
                               "imported": report["rows_imported"], "rejected": report["rows_rejected"]}
            log(f"  {vendor}: {wall:.1f} s, peak RSS {mib(rss)}, {report['status']}, "
                f"imported {report['rows_imported']}, rejected {report['rows_rejected']}")
        return results
    finally:
        sandbox.kill()
        sandbox.wait()


def build():
    log("== Build cost (dev profile, copy of the tree, own target directory)")
    tree = OUT / "build-tree"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(OUT / "build-target")}
    results = {}

    def cargo(label, *args):
        start = time.monotonic()
        subprocess.run(["cargo", "build", "--quiet", *args], cwd=tree, env=env, check=True)
        results[label] = time.monotonic() - start
        log(f"  {label}: {results[label]:.1f} s")

    # Dependencies are fetched first so that network time is not counted.
    subprocess.run(["cargo", "fetch", "--quiet"], cwd=tree, env=env, check=True)
    shutil.rmtree(OUT / "build-target", ignore_errors=True)
    cargo("clean, the library (default features: the four vendors)", "--lib")
    shutil.rmtree(OUT / "build-target", ignore_errors=True)
    cargo("clean, the whole workspace (library, sandbox, CLI, codegen)", "--workspace")
    shutil.rmtree(OUT / "build-target", ignore_errors=True)
    cargo("clean, eloqua alone (--no-default-features --features eloqua)", "--no-default-features", "--features", "eloqua")
    cargo("no-op rebuild, eloqua alone", "--no-default-features", "--features", "eloqua")
    shutil.rmtree(OUT / "build-target", ignore_errors=True)
    cargo("clean, the whole workspace, again (warms the cache for the edits)", "--workspace")
    spec = tree / "specs" / "eloqua.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("summary: Retrieve a sync's logs", "summary: Retrieve the logs of a sync", 1))
    cargo("rebuild after a one-line edit of specs/eloqua.yaml (an operation summary)", "--workspace")
    source = tree / "src" / "import.rs"
    source.write_text(source.read_text().replace("//! ", "//!  ", 1))
    cargo("rebuild after a one-line edit of src/import.rs (a comment)", "--workspace")
    spec = tree / "specs" / "mindbaz.yaml"
    spec.write_text(spec.read_text().replace("summary: Get an import", "summary: Read an import", 1))
    cargo("rebuild after a one-line edit of specs/mindbaz.yaml (an operation summary)", "--workspace")
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10,100,1024", help="CSV sizes in MiB")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--demo-rows", type=int, default=1_000_000)
    p.add_argument("--only", default="np6,eloqua,per-call,demo,build")
    args = p.parse_args()
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)

    log(f"machine: {os.cpu_count()} CPUs, {subprocess.run(['uname', '-srm'], capture_output=True, text=True).stdout.strip()}, "
        f"load average at start {os.getloadavg()[0]:.2f}")
    log("building release binaries (cargo build --release -p esp-imports-cli; --example bench-sink --example bench-calls)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "esp-imports-cli"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "bench-sink", "--example", "bench-calls"],
                   cwd=ROOT, check=True)
    # Sections not run this time keep their last results.
    saved = OUT / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if "np6" in only:
        results["np6"] = np6(sizes, args.runs)
    if "eloqua" in only:
        results["eloqua"] = eloqua(sizes, args.runs)
    if "per-call" in only:
        results["per_call"] = per_call()
    if "demo" in only:
        results["demo"] = demo(args.demo_rows)
        results["clients_at_scale"] = clients_at_scale(args.demo_rows)
    if "build" in only:
        results["build"] = build()
    log(f"load average at the end {os.getloadavg()[0]:.2f}")
    saved.write_text(json.dumps(results, indent=2))
    log(f"results: {saved}")


if __name__ == "__main__":
    main()
