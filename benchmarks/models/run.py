#!/usr/bin/python3
"""Whole-network comparison: crumb (low-bit) vs ONNX Runtime fp32 / int8 QDQ and XNNPACK f32 / qs8.
Called by benchmarks/models/run.sh (which finds onnxruntime-node and builds the binaries):

  run.py --build BUILD_DIR --ort-dir DIR [--threads 1,2] [--rounds 5] [--models resnet18,mobilenet_v2]
         [--runs 30] [--warmup 5] [--cache DIR] [-o results.json]

Every round runs every engine once on every model at every thread count (engines and models
interleaved, so drifting machine load hits all of them alike); each run is one fresh process doing
--warmup untimed and --runs timed inferences. The figure per run is the mean inference time of its
--runs inferences (crumb-bench's "Inference (avg)"; the same statistic from the peers), the table
shows the median over rounds of those per-run means, and min is the fastest single inference seen.
Ratios are peer time / crumb time (> 1: crumb is faster), of the medians and, in brackets, of the mins.
XNNPACK at 2+ threads runs with XNN_FLAG_YIELD_WORKERS unless --xnn-spin (on a shared, loaded
machine spin-waiting workers that lose their core stall every operator; see benchmarks/README.md).
"""
import argparse, json, os, platform, re, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = [("ort_fp32", "ORT fp32"), ("ort_int8", "ORT int8"), ("xnn_f32", "XNN f32"), ("xnn_qs8", "XNN qs8")]


def run(cmd, timeout=600):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def crumb(a, model, t):
    out = run([a.crumb_bench, f"--graph={model}", f"--num_threads={t}", f"--num_runs={a.runs}",
               f"--warmup_runs={a.warmup}"])
    avg = float(re.search(r"Inference \(avg\): ([0-9.e+]+)", out).group(1)) / 1000.0
    # The second "count=" line holds the regular runs (the first the warmup).
    mins = re.findall(r"count=\d+ first=\S+ curr=\S+ min=([0-9.]+)", out)
    isa = re.search(r"Instruction set: \[([^\]]*)\]", out)
    return {"mean_ms": avg, "min_ms": float(mins[-1]) / 1000.0, "isa": isa.group(1) if isa else ""}


def ort_run(a, model, t):
    out = run(["node", os.path.join(HERE, "ort_model.js"), "--ort-dir", a.ort_dir, "--model", model,
               "--threads", str(t), "--runs", str(a.runs), "--warmup", str(a.warmup)])
    j = json.loads(out.strip().splitlines()[-1])
    return {"mean_ms": j["mean_ms"], "min_ms": j["min_ms"], "median_ms": j["median_ms"],
            "ort_version": j.get("ort_version")}


def xnn(a, e, mode, t):
    out = run([a.xnn, "--desc", e["desc"], "--weights", e["weights"], "--mode", mode, "--threads", str(t),
               "--runs", str(a.runs), "--warmup", str(a.warmup)] +
              (["--yield-workers"] if t > 1 and not a.xnn_spin else []))
    d = dict(kv.split("=") for kv in out.split() if "=" in kv)
    return {"mean_ms": float(d["mean_ms"]), "min_ms": float(d["min_ms"]), "median_ms": float(d["median_ms"])}


def fmt(v):
    return "—" if v is None else (f"{v:.2f}" if v < 100 else f"{v:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--ort-dir", default=os.environ.get("ORT_DIR", "/opt/ort"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                    os.path.expanduser("~/.cache"), "crumb-models"))
    ap.add_argument("--engines", default="crumb,ort_fp32,ort_int8,xnn_f32,xnn_qs8")
    ap.add_argument("--xnn-spin", action="store_true",
                    help="XNNPACK's default pool workers (spin-wait between operators) at 2+ threads; "
                         "default: XNN_FLAG_YIELD_WORKERS, see README")
    ap.add_argument("-o", "--json", default="")
    a = ap.parse_args()
    a.crumb_bench = os.path.join(a.build, "tools", "crumb-bench")
    a.xnn = os.path.join(a.build, "benchmarks", "bench_xnnpack_model")
    engines = a.engines.split(",")
    if "xnn_f32" in engines or "xnn_qs8" in engines:
        if not os.access(a.xnn, os.X_OK):
            print(f"note: {a.xnn} missing (CRUMB_BUILD_BENCHMARKS / CRUMB_USE_XNNPACK off?): no XNNPACK",
                  file=sys.stderr)
            engines = [e for e in engines if not e.startswith("xnn")]
    threads = [int(t) for t in a.threads.split(",")]

    t_start = time.time()
    prep = subprocess.run([sys.executable, os.path.join(HERE, "prepare.py"), "--cache", a.cache, "--models",
                           a.models, "--crumb-convert", os.path.join(a.build, "tools", "crumb-convert")],
                          stdout=subprocess.PIPE, text=True)
    if prep.returncode != 0:
        sys.exit("model preparation failed")
    models = json.loads(prep.stdout)
    print(f"models ready in {time.time() - t_start:.0f} s (cache {a.cache})", file=sys.stderr)

    # One job = (net, engine key, threads); crumb keys are "crumb_<cfg>".
    jobs = []
    for t in threads:
        for net, e in models.items():
            if "crumb" in engines:
                for cfg, f in e["lowbit"].items():
                    if os.path.exists(f["crumb"]):
                        jobs.append((net, "crumb_" + cfg, t))
            for k, _ in PEERS:
                if k in engines:
                    jobs.append((net, k, t))
    res = {j: [] for j in jobs}
    errors = {}
    loads = [os.getloadavg()[0]]
    for r in range(a.rounds):
        t0 = time.time()
        for job in jobs:
            if job in errors:
                continue
            net, k, t = job
            e = models[net]
            try:
                if k.startswith("crumb_"):
                    m = crumb(a, e["lowbit"][k[6:]]["crumb"], t)
                elif k == "ort_fp32":
                    m = ort_run(a, e["fp32"], t)
                elif k == "ort_int8":
                    m = ort_run(a, e["int8"], t)
                else:
                    m = xnn(a, e, k[4:], t)
            except Exception as ex:  # noqa: keep going with the other engines
                errors[job] = str(ex)
                print(f"error: {net} {k} threads={t}: {ex}", file=sys.stderr)
                continue
            res[job].append(m)
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}/{a.rounds}: {time.time() - t0:.0f} s, load average {loads[-1]:.2f}",
              file=sys.stderr, flush=True)

    def med(job):
        v = [m["mean_ms"] for m in res.get(job, [])]
        return statistics.median(v) if v else None

    def mn(job):
        v = [m["min_ms"] for m in res.get(job, [])]
        return min(v) if v else None

    load = os.getloadavg()
    print(f"\nWhole models, batch 1, 224x224: median over {a.rounds} rounds of the mean of {a.runs} "
          f"inferences (after {a.warmup} warmup), ms; min = fastest single inference. "
          f"1-min load average at the start and after each round: {' '.join(f'{v:.1f}' for v in loads)} "
          f"({os.cpu_count()} CPUs).\n")
    summary = []
    for net, e in models.items():
        cfgs = list(e["lowbit"].keys())
        for t in threads:
            print(f"### {net}, {t} thread{'s' if t > 1 else ''}\n")
            print("| engine | median ms | min ms |")
            print("|---|---:|---:|")
            for k, name in PEERS:
                if (net, k, t) in res:
                    print(f"| {name} | {fmt(med((net, k, t)))} | {fmt(mn((net, k, t)))} |")
            for c in cfgs:
                if (net, "crumb_" + c, t) in res:
                    print(f"| crumb {c.upper()} | {fmt(med((net, 'crumb_' + c, t)))} | "
                          f"{fmt(mn((net, 'crumb_' + c, t)))} |")
            print()
            hdr = [name for k, name in PEERS if (net, k, t) in res]
            print("| crumb (ratio of medians, of mins) | " + " | ".join(f"vs {h}" for h in hdr) + " |")
            print("|---|" + "---:|" * len(hdr))
            for c in cfgs:
                cm = med((net, "crumb_" + c, t))
                row = {"model": net, "config": c, "threads": t, "crumb_ms": cm}
                cells = []
                for k, name in PEERS:
                    if (net, k, t) not in res:
                        continue
                    pm = med((net, k, t))
                    ratio = pm / cm if pm and cm else None
                    pmin, cmin = mn((net, k, t)), mn((net, "crumb_" + c, t))
                    rmin = pmin / cmin if pmin and cmin else None
                    row[k + "_ms"], row["vs_" + k] = pm, ratio
                    row[k + "_min_ms"], row["crumb_min_ms"], row["vs_" + k + "_min"] = pmin, cmin, rmin
                    cells.append("—" if ratio is None else f"{ratio:.2f}x ({rmin:.2f}x)")
                summary.append(row)
                print(f"| {c.upper()} | " + " | ".join(cells) + " |")
            print()
    if errors:
        print("Errors:")
        for (net, k, t), msg in errors.items():
            print(f"- {net} {k} threads={t}: {msg.splitlines()[0] if msg else ''}")
    print(f"total {time.time() - t_start:.0f} s")
    if a.json:
        out = {"command": " ".join(sys.argv), "machine": platform.uname()._asdict(), "loadavg_end": load, "loadavg_rounds": loads,
               "threads": threads, "rounds": a.rounds, "runs": a.runs, "warmup": a.warmup,
               "models": models, "summary": summary,
               "runs_raw": [{"model": n, "engine": k, "threads": t, "rounds": v} for (n, k, t), v in res.items()],
               "errors": {f"{n} {k} {t}": m for (n, k, t), m in errors.items()}}
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
