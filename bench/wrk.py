"""Closed-loop maximum throughput with wrk (Debian package `wrk`), every response checked.

Why wrk: on two shared cores the load generator competes with the server it measures. A
Python client costs about as much CPU per request as a small server answer, so it would cap
the ceiling endpoints long before they saturate and flatter every ratio against them; wrk's C
event loop costs a small fraction of that. Its Lua hooks give what the benchmark needs: a
different body and token per request (`request`), and a check of every response
(`response`: HTTP 200, no `"errors"`, the workload's marker in the body) whose failures fail
the run. wrk2's fixed-rate mode is not packaged, so latency at a stated rate comes from the
Python constant-rate driver (bench/driver.py), which is not CPU-bound at those rates.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson

from bench.driver import RunResult
from bench.workloads import Workload

LUA = r"""
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  marker = file:read("*l")
  requests = {}
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    local headers = {["Content-Type"] = "application/json",
                     ["Authorization"] = "Bearer " .. line:sub(1, tab - 1)}
    table.insert(requests, wrk.format("POST", args[2], headers, line:sub(tab + 1)))
  end
  file:close()
  counter = id * 7919
  failures = 0
  first = ""
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function response(status, headers, body)
  local reason = nil
  if status ~= 200 then
    reason = "HTTP " .. status
  elseif body:find('"errors"', 1, true) then
    reason = "errors: " .. body:sub(1, 160)
  elseif not body:find(marker, 1, true) then
    reason = "shape: no " .. marker .. " in " .. body:sub(1, 120)
  end
  if reason then
    failures = failures + 1
    if first == "" then first = reason end
  end
end

function done(summary, latency, requests)
  local failed, first_failure = 0, ""
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
    if first_failure == "" then first_failure = thread:get("first") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"failures":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"first_failure":"%s"}\n',
    summary.requests, summary.duration, failed,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    (first_failure:gsub('[%c"\\]', " "))))
end
"""


def wrk_path(install: bool = True) -> str:
    """The wrk binary; installed from Debian's packages when missing and allowed (root)."""
    found = shutil.which("wrk")
    if found is None and install and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is needed for closed-loop runs: apt-get install wrk (or --no-wrk)")
    return found


def request_lines(workload: Workload, tokens: Sequence[str], count: int, seed: int = 11) -> list[str]:
    """`count` distinct requests as `token<TAB>body` lines."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        body = {"query": workload.query, "variables": workload.variables(rng)}
        lines.append(f"{tokens[index % len(tokens)]}\t{orjson.dumps(body).decode()}")
    return lines


def closed_loop(
    base_url: str, path: str, lines: Sequence[str], marker: str, *, connections: int,
    duration_s: float, binary: str,
) -> RunResult:
    """wrk with one thread and `connections` connections; every response checked."""
    with tempfile.TemporaryDirectory(prefix="rg-wrk-") as folder:
        script, data = Path(folder) / "check.lua", Path(folder) / "requests.tsv"
        script.write_text(LUA)
        data.write_text(marker + "\n" + "\n".join(lines) + "\n")
        command = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
                   "--timeout", "30s", "-s", str(script), base_url, "--", str(data), path]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    match = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-400:]} {done.stderr[-400:]}")
    summary = json.loads(match.group(1))
    result = RunResult(
        requests=summary["requests"],
        failures=summary["failures"] + summary["socket_errors"],
        elapsed_s=summary["duration_us"] / 1e6,
        first_failure=summary["first_failure"] or (
            f"{summary['socket_errors']} socket errors" if summary["socket_errors"] else None),
    )
    result.latencies_ms = [summary["p50_us"] / 1000, summary["p99_us"] / 1000]
    return result
