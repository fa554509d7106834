#!/usr/bin/env python3
"""Whole-process benchmarks of esp-imports against what a user would otherwise run, side by side
in one run on one machine, with medians and ratios. Results and method: BENCHMARKS.md.

    benches/compare.py [--sizes 10,100,1024] [--runs 5] [--only np6,eloqua,growth,per-call,demo,build]
    benches/compare.py --chart-only [--results target/bench/results.json] [--chart BENCHMARKS-growth.svg]

- np6:      `esp-imports import mailperformance` (the whole workflow: checks, binding, import,
            streamed upload, execution) vs `curl -T` of the same file to the same endpoint.
- eloqua:   `esp-imports import eloqua` (checks, definition, ≤32 MB row-aligned chunks, one
            sync) vs benches/eloqua_requests.py (a typical `requests` script) and
            benches/eloqua_requests_streaming.py (a careful one that streams the file).
- growth:   each vendor's `esp-imports import <vendor>` of each of the --sizes into
            `esp-imports sandbox` run as its own process (a fresh one for each run, so that no run
            finds the data of another); the client's wall time includes its wait for the
            emulator, its peak RSS is its own. A size that an emulator cannot take is skipped,
            with the reason printed (sandbox_cannot_take).
- per-call: `cargo bench --bench per_call` (criterion): a generated-client call vs raw reqwest;
            and instructions per call of each under callgrind (benches/support/calls.rs).
- demo:     `esp-imports demo --rows 1000000`: time, peak memory, and the numbers it reports;
            and each vendor's import of the same rows into `esp-imports sandbox` (clients_at_scale).
- build:    clean build of all vendors vs one vendor, and rebuilds after a one-line spec edit vs
            a one-line .rs edit (in a copy of the tree, with its own target directory).

Each measured process runs under /usr/bin/time -v (peak RSS), timed by perf_counter (wall
clock, finer than time's 10 ms steps); the two sides of a
comparison alternate run by run. Uploads go to benches/support/sink.rs, a loopback server that
counts what it receives (checked against the file) and keeps nothing. Everything is written
under target/bench/. Needs: cargo, curl, /usr/bin/time, python3 with `requests` (installed into
.venv at the pinned version if missing).

At the end of a run, and alone with --chart-only, the chart of how cost grows with the file
(wall time and peak RSS against file size, log-log, one line per vendor and side, from
results.json) is written to BENCHMARKS-growth.svg beside BENCHMARKS.md. It needs matplotlib:

    python3 -m pip install matplotlib==3.11.2

(if the python running this script lacks it, the script installs it into .venv and draws the
chart with .venv's python). With that matplotlib, the same results.json gives the same SVG, byte
for byte (a fixed svg.hashsalt, no date).
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
MATPLOTLIB = "matplotlib==3.11.2"  # for the chart only
CHART = ROOT / "BENCHMARKS-growth.svg"
MIB = 1024 * 1024
VENDORS = ("mailperformance", "copernica", "mindbaz", "eloqua")
# Each vendor's column map of the benchmark files (the sink answers these field ids too).
MAPS = {
    "mailperformance": {"email": "1234", "first_name": "1235", "last_name": "1236", "city": "5678"},
    "copernica": {"email": "email", "first_name": "firstname", "last_name": "lastname", "city": "city"},
    "mindbaz": {"email": "fld1", "first_name": "fld15", "last_name": "fld14", "city": "fld4"},
    "eloqua": {"email": "C_EmailAddress", "first_name": "C_FirstName", "last_name": "C_LastName", "city": "C_City"},
}


def map_args(vendor):
    """`--map COLUMN=FIELD` for each column of the vendor's map."""
    return [arg for column, field in MAPS[vendor].items() for arg in ("--map", f"{column}={field}")]
# The emulators' ceilings on what they keep in memory (sandbox/src/copernica.rs MAX_BODY,
# sandbox/src/mailperformance.rs MAX_FILE); see sandbox_cannot_take.
COPERNICA_MAX_BODY = 1 << 30
NP6_MAX_FILE = 2 << 30


def log(message):
    print(message, flush=True)


def timed(command, env=None, cwd=None):
    """Runs `command` under /usr/bin/time -v: (wall seconds, peak RSS bytes, stdout). The peak RSS
    is time's; the wall is perf_counter's around it, as time's own comes in 10 ms steps, too coarse
    for a 0.1 s import. (wait4 from this process would not do for the RSS: Linux carries the
    forking process's peak, Python's 25 MiB, across exec into the child's.)"""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *map(str, command)], capture_output=True,
                            text=True, env=env, cwd=cwd, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(map(str, command))}\n{result.stdout[-2000:]}"
                 f"\n{result.stderr[-4000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    return wall, int(rss.group(1)) * 1024, result.stdout


def contact_line(i):
    """Data row `i` of the benchmarks' contacts files: a valid, unique e-mail."""
    return f"contact{i:010d}@example.com,Firstname{i % 9973},Lastname {i % 7919},Roubaix\n"


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
            line = contact_line(rows)
            block.append(line)
            written += len(line)
            rows += 1
            if len(block) == 10000:
                f.write("".join(block))
                block = []
        f.write("".join(block))
    rows_path.write_text(str(rows))
    return path, rows


def checked_report(vendor, stdout):
    """esp-imports' JSON report, once it is known that every value was checked: the files hold
    valid, unique contacts, so any warning (the field list not read, a value refused) means the
    run measured less than the whole workflow."""
    report = json.loads(stdout)
    if report.get("warnings_total"):
        sys.exit(f"FAIL: {vendor}'s import warned: {report.get('warnings', [])[:3]}")
    return report


class Sink:
    def __enter__(self):
        self.process = subprocess.Popen([SINK, "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.process.stdout.readline().strip()
        self.stats()
        return self

    def stats(self):
        with urllib.request.urlopen(self.url + "/_stats") as r:
            stats = json.load(r)
        if stats.get("unexpected"):
            sys.exit(f"the sink was sent {stats['unexpected']} request(s) it has no answer for "
                     "(printed above): what was measured is not the whole workflow")
        return stats

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
            wall, rss, stdout = timed(command["argv"], env=command.get("env"))
            if command.get("vendor"):
                checked_report(command["vendor"], stdout)
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
        f"  (walls: {' '.join(f'{s[0]:.3f}' for s in o)} / {' '.join(f'{s[0]:.3f}' for s in t)})")
    return result


def np6(sizes, runs):
    log("== NP6: esp-imports import mailperformance vs curl -T (same file, same endpoint)")
    results = []
    env = {**os.environ, "MAILPERFORMANCE_XKEY": "bench-key"}
    with Sink() as sink:
        for size in sizes:
            path, rows = csv_file(size)
            length = path.stat().st_size

            def check(side, length=length):
                stats = sink.stats()
                if stats["bytes"] != length or stats["uploads"] != 1:
                    sys.exit(f"FAIL: {side} sent {stats} for a file of {length} bytes")
                return stats["upload_seconds"]

            ours = {"argv": [BIN, "import", "mailperformance", "--base-url", sink.url, "--file", path,
                             "--key", "email", *map_args("mailperformance"), "--poll-interval", "0.01",
                             "--json"], "env": env, "vendor": "mailperformance"}
            theirs = {"label": "curl -T", "argv": [
                "curl", "-sS", "--fail", "-o", "/dev/null", "-T", path, "-H", "X-Key: bench-key",
                "-H", "Content-Type: application/octet-stream", f"{sink.url}/imports/42/source"]}
            result = compare(f"{size} MiB ({rows} rows)", ours, theirs, runs, check)
            results.append({**result, **sized(size, path, rows), "theirs_label": theirs["label"]})
    return results


def sized(size, path, rows):
    """The keys that place a result on the chart's x axis."""
    return {"size_mib": size, "bytes": path.stat().st_size, "rows": rows}


def venv_python(module, pin):
    """.venv's python (the venv made if missing), with `module` importable (`pin` installed if not)."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", ROOT / ".venv"], check=True)
    if subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", pin], check=True)
    return python


def eloqua(sizes, runs):
    log("== Eloqua: esp-imports import eloqua vs benches/eloqua_requests.py (Python requests)")
    python = venv_python("requests", REQUESTS)
    results = []
    env = {**os.environ, "ELOQUA_COMPANY": "Company", "ELOQUA_USERNAME": "user", "ELOQUA_PASSWORD": "password"}
    with Sink() as sink:
        for size in sizes:
            path, rows = csv_file(size)

            def check(side, rows=rows):
                stats = sink.stats()
                # Each chunk carries the header line: the data lines are the rest.
                if stats["lines"] - stats["uploads"] != rows:
                    sys.exit(f"FAIL: {side} staged {stats} for {rows} rows")
                return stats["upload_seconds"]

            ours = {"argv": [BIN, "import", "eloqua", "--base-url", sink.url, "--file", path, "--key", "email",
                             *map_args("eloqua"), "--poll-interval", "0.01", "--json"], "env": env,
                    "vendor": "eloqua"}
            theirs = {"label": "python requests", "argv": [python, ROOT / "benches" / "eloqua_requests.py",
                                                             sink.url, path, "email"]}
            result = compare(f"{size} MiB ({rows} rows)", ours, theirs, runs, check)
            results.append({**result, **sized(size, path, rows), "opponent": "typical",
                            "theirs_label": theirs["label"]})
            # The second opponent: the careful, streaming script (one chunk in memory at a time).
            streaming = {"label": "python requests, streaming",
                         "argv": [python, ROOT / "benches" / "eloqua_requests_streaming.py", sink.url, path,
                                  "email"]}
            result = compare(f"{size} MiB ({rows} rows), streaming opponent", ours, streaming, runs, check)
            results.append({**result, **sized(size, path, rows), "opponent": "streaming",
                            "theirs_label": streaming["label"]})
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


def demo(rows, runs, baseline=None):
    """`esp-imports demo --rows ROWS`, `runs` times; with `baseline` (a build of an earlier
    commit), that binary's demo as well, alternating run by run, and both must print the same
    table."""
    sides = [("ours", BIN)] + ([("baseline", baseline)] if baseline else [])
    log(f"== Demo at scale: esp-imports demo --rows {rows}" + (f", this tree vs {baseline}" if baseline else ""))
    samples = {side: [] for side, _ in sides}
    tables = {}
    for _ in range(runs):
        for side, binary in sides:
            wall, rss, stdout = timed([binary, "demo", "--rows", rows])
            samples[side].append((wall, rss, os.getloadavg()[0]))
            tables.setdefault(side, set()).add(stdout)
            log(f"  {side}: {wall:.1f} s, peak RSS {mib(rss)}")
    if len({t for side in tables.values() for t in side}) != 1:
        raise SystemExit("the demo printed different tables from run to run, or from the baseline's")
    stdout = tables["ours"].pop()
    log("\n".join("  " + line for line in stdout.strip().splitlines()))
    result = {"rows": rows, "runs": runs, "output": stdout}
    for side, s in samples.items():
        prefix = "" if side == "ours" else "baseline_"
        result.update({prefix + "wall": median(s, 0), prefix + "rss": median(s, 1),
                       prefix + "walls": [x[0] for x in s], prefix + "rsses": [x[1] for x in s],
                       prefix + "loads": [x[2] for x in s]})
        log(f"  {side}: median {median(s, 0):.1f} s, peak RSS {mib(median(s, 1))} "
            f"(walls {', '.join(f'{x[0]:.1f}' for x in s)}; RSS {', '.join(mib(x[1]) for x in s)})")
    return result


class SandboxProcess:
    """`esp-imports sandbox` in its own process, and each vendor's `esp-imports import` into it,
    so that a client's time and memory are measured apart from the emulators'."""

    def __enter__(self):
        banner = OUT / "sandbox.log"
        with open(banner, "w") as out:
            self.process = subprocess.Popen([BIN, "sandbox", "--listen", "127.0.0.1:0"], stdout=out,
                                            stderr=subprocess.STDOUT)
        try:
            for _ in range(300):
                text = banner.read_text()
                if "  eloqua " in text or self.process.poll() is not None:
                    break
                time.sleep(0.1)
            if "  eloqua " not in text:
                sys.exit(f"FAILED: esp-imports sandbox did not print its URLs:\n{text}")
        except BaseException:
            self.__exit__()
            raise
        self.url = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.startswith("  ")}
        self.env = dict(os.environ)
        self.env.update(re.findall(r"([A-Z_]+)=(\S+)", text))
        self.sftp = Path(re.search(r"SFTP directory: (.+)", text).group(1).strip())
        return self

    def import_file(self, vendor, path, rows, binary=None, extra=()):
        """Runs `esp-imports import <vendor>` of `path` (`rows` data rows) under /usr/bin/time:
        (wall seconds, peak RSS bytes, the JSON report), the report's row count checked.
        `binary`: another esp-imports than BIN; `extra`: more arguments."""
        if vendor == "mindbaz" and not (self.sftp / path.name).exists():
            # The sandbox runs no SSH server: the file is put straight into its SFTP directory
            # (linked when it can be, so that a large file is not copied).
            try:
                os.link(path, self.sftp / path.name)
            except OSError:
                shutil.copy(path, self.sftp / path.name)
        common = ["--file", path, "--key", "email", "--poll-interval", "0.1", "--timeout", "1800", "--json"]
        vendor_args = {
            "copernica": ["--database", "1"],
            "mindbaz": ["--site", "1", "--remote-file", path.name, "--notify", "bench@example.com"],
        }.get(vendor, [])
        wall, rss, stdout = timed([binary or BIN, "import", vendor, "--base-url", self.url[vendor], *common,
                                   *vendor_args, *map_args(vendor), *extra], env=self.env)
        report = checked_report(vendor, stdout)
        if report["rows_total"] != rows:
            sys.exit(f"FAIL: {vendor} reports {report['rows_total']} rows of {rows}")
        # The files hold valid, unique contacts: anything but a complete import (the CLI exits 0
        # on "completed with errors" too) is a wrong map or a broken emulator, not a point.
        if "--dry-run" not in extra and report["status"] != "completed":
            sys.exit(f"FAIL: {vendor}'s import ended {report['status']}: {stdout[:2000]}")
        return wall, rss, report

    def peak_rss(self):
        """The sandbox's own peak RSS so far, in bytes (its VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024

    def __exit__(self, *_):
        # SIGTERM: the sandbox removes its temporary directory (the SFTP one) as it stops.
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def clients_at_scale(rows):
    """Each vendor's CLI import of the same file into `esp-imports sandbox` run as its own
    process, so that each client's time and memory are measured apart from the emulators'."""
    log(f"== Each client alone at scale: esp-imports import <vendor> of {rows} rows into esp-imports sandbox")
    path = OUT / f"contacts-{rows}-rows.csv"
    with open(path, "w") as f:
        f.write("email,first_name,last_name,city\n")
        f.writelines(contact_line(i) for i in range(rows))
    results = {}
    with SandboxProcess() as sandbox:
        for vendor in VENDORS:
            wall, rss, report = sandbox.import_file(vendor, path, rows)
            results[vendor] = {"wall": wall, "rss": rss, "status": report["status"],
                               "imported": report["rows_imported"], "rejected": report["rows_rejected"]}
            log(f"  {vendor}: {wall:.1f} s, peak RSS {mib(rss)}, {report['status']}, "
                f"imported {report['rows_imported']}, rejected {report['rows_rejected']}")
    return results


def sandbox_cannot_take(vendor, length, rows):
    """Why `esp-imports sandbox` cannot take a file of `length` bytes and `rows` data rows for
    `vendor` (a short reason, for the log and the chart's footnote), or None. The emulators keep
    the uploads in memory, each under its own ceiling; the Copernica one holds about twice the
    file while it parses it (the JSON body and its decoded source)."""
    if vendor == "copernica":
        # The CSV travels inside a JSON string: each line break escaped as `\n`, one byte more.
        body = length + rows
        if body > COPERNICA_MAX_BODY:
            return (f"its JSON body (over {body / MIB:.0f} MiB) is larger than the {COPERNICA_MAX_BODY / MIB:.0f} MiB "
                    "the Copernica emulator reads (sandbox/src/copernica.rs MAX_BODY)")
    if vendor == "mailperformance" and length > NP6_MAX_FILE:
        return "the file is larger than the 2 GiB the NP6 emulator keeps (sandbox/src/mailperformance.rs MAX_FILE)"
    return None


def growth(sizes, runs):
    """Each vendor's `esp-imports import` of each size into a fresh `esp-imports sandbox` per
    run (vendors alternating run by run): medians of the client's wall time and peak RSS, and
    the sandbox's peak RSS, for the chart of how cost grows."""
    log(f"== Growth: esp-imports import <vendor> into esp-imports sandbox at {', '.join(f'{s} MiB' for s in sizes)}")
    files = {size: csv_file(size) for size in sizes}
    plan = {vendor: {"points": [], "skipped": {}} for vendor in VENDORS}
    for vendor in VENDORS:
        for size, (path, rows) in files.items():
            reason = sandbox_cannot_take(vendor, path.stat().st_size, rows)
            if reason:
                plan[vendor]["skipped"][str(size)] = reason
                log(f"  {vendor}: {size} MiB skipped: {reason}")
    for size, (path, rows) in files.items():
        samples = {vendor: [] for vendor in VENDORS if str(size) not in plan[vendor]["skipped"]}
        for _ in range(runs):
            for vendor, measured in samples.items():
                with SandboxProcess() as sandbox:
                    # import_file fails the run unless the import completed.
                    wall, rss, _report = sandbox.import_file(vendor, path, rows)
                    measured.append((wall, rss, sandbox.peak_rss()))
        for vendor, s in samples.items():
            point = {**sized(size, path, rows), "runs": runs, "wall": median(s, 0), "rss": median(s, 1),
                     "sandbox_rss": median(s, 2), "wall_samples": [x[0] for x in s], "rss_samples": [x[1] for x in s]}
            plan[vendor]["points"].append(point)
            log(f"  {vendor} {size} MiB ({rows} rows): {point['wall']:.2f} s, peak RSS {mib(point['rss'])}"
                f" (sandbox {mib(point['sandbox_rss'])})"
                f"  (walls: {' '.join(f'{w:.3f}' for w in point['wall_samples'])})")
    return {"runs": runs, "vendors": plan}


def checks(sizes, runs, baseline):
    """The client's own work before anything is created, for each vendor: `esp-imports import
    <vendor> --dry-run` (the file check, the field list, the value checks, the plan), this tree's
    binary against `baseline` (a build of an earlier commit), alternating run by run, one
    sandbox answering the field lists."""
    log(f"== Checks (--dry-run) of each vendor's import: this tree vs {baseline}")
    results = []
    with SandboxProcess() as sandbox:
        for size in sizes:
            path, rows = csv_file(size)
            for vendor in VENDORS:
                samples = {"ours": [], "baseline": []}
                for _ in range(runs):
                    for side, binary in (("ours", BIN), ("baseline", baseline)):
                        wall, rss, report = sandbox.import_file(vendor, path, rows, binary, ["--dry-run"])
                        if report["status"] != "dry_run":
                            sys.exit(f"FAIL: {vendor} --dry-run ended {report['status']}")
                        samples[side].append((wall, rss))
                o, b = samples["ours"], samples["baseline"]
                r = {**sized(size, path, rows), "vendor": vendor, "runs": runs,
                     "ours_wall": median(o, 0), "ours_rss": median(o, 1),
                     "baseline_wall": median(b, 0), "baseline_rss": median(b, 1)}
                r["wall_ratio"] = r["ours_wall"] / r["baseline_wall"]
                results.append(r)
                log(f"  {vendor} {size} MiB: {r['ours_wall']:.2f} s, {mib(r['ours_rss'])} | baseline "
                    f"{r['baseline_wall']:.2f} s, {mib(r['baseline_rss'])} | wall ratio {r['wall_ratio']:.2f}"
                    f"  (walls: {' '.join(f'{x[0]:.3f}' for x in o)} / {' '.join(f'{x[0]:.3f}' for x in b)})")
    return {"baseline": str(baseline), "points": results}


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


# The chart: a vendor is a colour and a marker shape; a side is a line style, its marker filled
# for esp-imports and hollow for the opponents.
CHART_VENDORS = {
    "mailperformance": ("NP6", "#0072B2", "o"),
    "copernica": ("Copernica", "#E69F00", "s"),
    "mindbaz": ("Mindbaz", "#009E73", "^"),
    "eloqua": ("Eloqua", "#D55E00", "D"),
}
CHART_SIDES = {
    "sink": ("esp-imports → sink", "-", True),
    "sandbox": ("esp-imports → sandbox", "-.", True),
    "curl": ("curl -T → sink", "--", False),
    "typical": ("typical requests script → sink", ":", False),
    "streaming": ("streaming requests script → sink", (0, (6, 2, 1, 2, 1, 2)), False),
}
GUIDE = {"color": "0.55", "linewidth": 1.2, "linestyle": (0, (1, 2.5))}


def growth_series(results):
    """The chart's lines from results.json: {(vendor, side): [(size MiB, wall s, peak RSS bytes)]},
    each sorted by size. Read: np6[] and eloqua[] (size_mib, ours_wall, ours_rss, theirs_wall,
    theirs_rss, opponent: the esp-imports line of Eloqua is the one measured beside the typical
    script) and growth.vendors.<vendor>.points[] (size_mib, wall, rss)."""
    series = {}

    def add(vendor, side, entry, prefix=""):
        size = entry.get("size_mib")
        if size is None:  # results written before size_mib was recorded: "10 MiB (159498 rows)"
            size = int(re.match(r"(\d+) MiB", entry["name"]).group(1))
        series.setdefault((vendor, side), []).append((size, entry[prefix + "wall"], entry[prefix + "rss"]))

    for entry in results.get("np6", []):
        add("mailperformance", "sink", entry, "ours_")
        add("mailperformance", "curl", entry, "theirs_")
    for entry in results.get("eloqua", []):
        if entry.get("opponent", "typical") == "typical":
            add("eloqua", "sink", entry, "ours_")
        add("eloqua", entry.get("opponent", "typical"), entry, "theirs_")
    for vendor, measured in results.get("growth", {}).get("vendors", {}).items():
        for point in measured["points"]:
            add(vendor, "sandbox", point)
    return {key: sorted(points) for key, points in series.items()}


def chart_style(vendor, side):
    """The look of a line (and of its legend entry): the vendor's colour and marker, the side's
    line style, the marker filled for esp-imports and hollow for the opponents."""
    _, colour, marker = CHART_VENDORS[vendor]
    _, line_style, filled = CHART_SIDES[side]
    return {"color": colour, "linestyle": line_style, "linewidth": 1.8, "marker": marker, "markersize": 7,
            "markeredgewidth": 1.5, "markerfacecolor": colour if filled else "white"}


def chart_panel(ax, series, sizes, title, label, value):
    """One panel of the chart: each series' `value(point)` against the file size, log-log."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for (vendor, side), points in sorted(series.items(), key=lambda item: (
            list(CHART_VENDORS).index(item[0][0]), list(CHART_SIDES).index(item[0][1]))):
        ax.plot([point[0] for point in points], [value(point) for point in points], **chart_style(vendor, side))
    low, high = ax.get_ylim()
    if high / low < 10:  # at least a decade, so that a level line does not look steep
        middle = (low * high) ** 0.5
        low, high = middle / 10 ** 0.5, middle * 10 ** 0.5
    # A guide: a line parallel to it is a cost proportional to the file; a level one is flat.
    ax.plot([sizes[0], sizes[-1]], [low * 1.6, low * 1.6 * sizes[-1] / sizes[0]], **GUIDE)
    ax.set_ylim(low, high)
    ax.set_xlim(sizes[0] / 1.3, sizes[-1] * 1.3)
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1024:g} GiB" if v >= 1024 else f"{v:g} MiB"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    number = FuncFormatter(lambda v, _: f"{v:g}" if v >= 1 else f"{v:.2g}")
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
    ax.yaxis.set_major_formatter(number)
    ax.yaxis.set_minor_formatter(number)
    ax.tick_params(axis="y", which="minor", labelsize=8, labelcolor="0.35")
    ax.grid(visible=True, which="major", color="0.85", linewidth=0.8)
    ax.grid(visible=True, which="minor", axis="y", color="0.93", linewidth=0.6)
    ax.set_title(title)
    ax.set_xlabel("file size (CSV, log scale)")
    ax.set_ylabel(label)


def draw_chart(results_path, svg_path):
    """Writes the chart of how cost grows (wall time and peak RSS against file size, log-log) from
    results.json to svg_path. Without matplotlib in this python, draws it with .venv's (the pinned
    matplotlib installed there if missing)."""
    try:
        import matplotlib
    except ImportError:
        if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
            sys.exit(f"FAILED: no matplotlib in .venv: {sys.executable} -m pip install {MATPLOTLIB}")
        python = venv_python("matplotlib", MATPLOTLIB)
        drawn = subprocess.run([python, __file__, "--chart-only", "--results", results_path, "--chart", svg_path],
                               check=False)
        if drawn.returncode != 0:
            sys.exit(drawn.returncode)
        return
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if matplotlib.__version__ != MATPLOTLIB.split("==")[1]:
        log(f"warning: matplotlib {matplotlib.__version__}, not the pinned {MATPLOTLIB}: the SVG may differ")
    results = json.loads(Path(results_path).read_text())
    series = growth_series(results)
    if not series:
        sys.exit(f"FAILED: {results_path} has no np6, eloqua or growth results to draw")
    sizes = sorted({size for points in series.values() for size, _, _ in points})
    runs = sorted({entry["runs"] for key in ("np6", "eloqua") for entry in results.get(key, [])}
                  | ({results["growth"]["runs"]} if "growth" in results else set()))
    skipped = [f"{CHART_VENDORS[vendor][0]} {size} MiB not run: {reason}"
               for vendor, measured in results.get("growth", {}).get("vendors", {}).items()
               for size, reason in measured.get("skipped", {}).items()]
    machine = results.get("machine", {})
    where = "".join(f", {part}" for part in (f"{machine['cpus']} CPUs" if "cpus" in machine else "",
                                             machine.get("uname", "")) if part)
    notes = [("sink: benches/support/sink.rs (counts what it receives, keeps nothing); sandbox: "
              "esp-imports sandbox in its own process (the wall time includes the wait for its emulator)"),
             *skipped]
    handles = [Line2D([], [], **chart_style(vendor, side),
                      label=f"{CHART_VENDORS[vendor][0]}: {CHART_SIDES[side][0]}")
               for vendor in CHART_VENDORS for side in CHART_SIDES if (vendor, side) in series]
    handles.append(Line2D([], [], **GUIDE, label="a cost proportional to the file (slope 1)"))

    style = {"svg.hashsalt": "esp-imports", "svg.fonttype": "path", "font.size": 10,
             "axes.titlesize": 11, "legend.fontsize": 9}
    with matplotlib.rc_context(style):
        fig = Figure(figsize=(12, 8.4), layout="constrained")
        grid = fig.add_gridspec(2, 2, height_ratios=(1, 0.21))
        chart_panel(fig.add_subplot(grid[0, 0]), series, sizes, "Wall time", "wall time (seconds, log scale)",
                    lambda point: point[1])
        chart_panel(fig.add_subplot(grid[0, 1]), series, sizes, "Peak RSS of the client",
                    "peak RSS (MiB, log scale)", lambda point: point[2] / MIB)
        below = fig.add_subplot(grid[1, :])
        below.axis("off")
        below.legend(handles=handles, loc="upper center", ncols=3, frameon=False, handlelength=4.5,
                     columnspacing=2.5)
        below.text(0.5, 0, "\n".join(notes), transform=below.transAxes, ha="center", va="bottom",
                   fontsize=8, color="0.3")
        fig.suptitle("How cost grows with the file: esp-imports and the alternatives, per vendor\n"
                     f"medians of {'–'.join(map(str, (runs[0], runs[-1]) if len(runs) > 1 else runs))} runs"
                     f"{where}; filled markers: esp-imports, hollow: the alternatives", fontsize=11)
        fig.savefig(svg_path, format="svg", metadata={"Date": None})
    log(f"chart: {svg_path}")


def main():
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--sizes", default="10,100,1024", help="CSV sizes in MiB")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--demo-rows", type=int, default=1_000_000)
    p.add_argument("--only", default="np6,eloqua,growth,per-call,demo,build")
    p.add_argument("--results", type=Path, default=OUT / "results.json",
                   help="the results file, read and (when measuring) written (default: target/bench/results.json)")
    p.add_argument("--chart", type=Path, default=CHART,
                   help="the SVG chart of how cost grows (default: BENCHMARKS-growth.svg)")
    p.add_argument("--chart-only", action="store_true",
                   help="measure nothing: draw the chart from the results file")
    p.add_argument("--baseline", type=Path,
                   help="for checks (needed) and demo (optional): the esp-imports binary compared against "
                        "(a build of an earlier commit)")
    p.add_argument("--bin", type=Path,
                   help="the esp-imports binary measured (default: the tree's release build), e.g. a "
                        "build of an earlier commit for a before/after; give it its own --results")
    args = p.parse_args()
    global BIN
    if args.bin:
        BIN = args.bin.resolve()
    if args.chart_only:
        draw_chart(args.results, args.chart)
        return
    only = set(args.only.split(","))
    unknown = only - {"np6", "eloqua", "growth", "checks", "per-call", "demo", "build"}
    if unknown:
        p.error(f"--only: unknown step(s) {', '.join(sorted(unknown))}")
    if "checks" in only and not args.baseline:
        p.error("--only checks needs --baseline")
    sizes = [int(s) for s in args.sizes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)

    uname = subprocess.run(["uname", "-srm"], capture_output=True, text=True, check=True).stdout.strip()
    log(f"machine: {os.cpu_count()} CPUs, {uname}, load average at start {os.getloadavg()[0]:.2f}")
    # Only what the steps run: the tree's CLI unless --bin replaces it, the sink for np6 and
    # eloqua, bench-calls for per-call.
    examples = sorted({{"np6": "bench-sink", "eloqua": "bench-sink", "per-call": "bench-calls"}[step]
                       for step in only & {"np6", "eloqua", "per-call"}})
    builds = ([] if args.bin else [["-p", "esp-imports-cli"]]) + \
        ([[arg for example in examples for arg in ("--example", example)]] if examples else [])
    for build_args in builds:
        log(f"building: cargo build --release {' '.join(build_args)}")
        subprocess.run(["cargo", "build", "--release", "--quiet", *build_args], cwd=ROOT, check=True)
    # Sections not run this time keep their last results; each is saved as soon as it is done.
    saved = args.results
    results = json.loads(saved.read_text()) if saved.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "uname": uname, "load_start": os.getloadavg()[0]}
    steps = (("np6", "np6", lambda: np6(sizes, args.runs)),
             ("eloqua", "eloqua", lambda: eloqua(sizes, args.runs)),
             ("growth", "growth", lambda: growth(sizes, args.runs)),
             ("checks", "checks", lambda: checks(sizes, args.runs, args.baseline.resolve())),
             ("per-call", "per_call", per_call),
             ("demo", "demo", lambda: demo(args.demo_rows, args.runs,
                                           args.baseline.resolve() if args.baseline else None)),
             ("demo", "clients_at_scale", lambda: clients_at_scale(args.demo_rows)),
             ("build", "build", build))
    for step, key, run in steps:
        if step in only:
            results[key] = run()
            saved.write_text(json.dumps(results, indent=2))
    results["machine"]["load_end"] = os.getloadavg()[0]
    log(f"load average at the end {results['machine']['load_end']:.2f}")
    saved.write_text(json.dumps(results, indent=2))
    log(f"results: {saved}")
    # Only a run that measured what the chart shows redraws it, and only from results that hold
    # all of it: a partial run into a results file of its own leaves the committed chart alone.
    charted = {"np6", "eloqua", "growth"}
    if charted & only:
        if charted <= results.keys():
            draw_chart(saved, args.chart)
        else:
            log(f"chart not redrawn: {saved} lacks {', '.join(sorted(charted - results.keys()))}")


if __name__ == "__main__":
    main()
