"""Frames per second that a browser actually receives from `worldmodel demo`, and a screenshot.

    python scripts/demo_browser.py --checkpoint doom --seconds 20 --json docs/bench/demo_browser_cpu.json \
        --screenshot docs/img/demo.png

Starts `worldmodel demo` as a user would (a separate process), opens the page in headless
Chromium (Debian's package, driven by Playwright), holds a key of the world, and counts the new
frames arriving in the page (a MutationObserver on the frame, timestamped in the browser) over
--seconds. Reports the median of the per-second counts, twice: at the world's own frame rate (the
default) and with "as fast as it generates" ticked. Browser, server and model share this machine's
cores, as they do when you run the demo locally.
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OBSERVE = """() => {
  window.wmTimes = [];
  const box = document.querySelector('#wm-frame');
  new MutationObserver(() => {
    const img = box.querySelector('img');
    const s = img && img.dataset.step;
    if (s && s !== window.wmLast) { window.wmLast = s; window.wmTimes.push(performance.now()); }
  }).observe(box, {subtree: true, childList: true, attributes: true});
}"""


def per_second(times_ms: list[float]) -> list[int]:
    t = np.asarray(times_ms) / 1000.0
    if len(t) < 2:
        return []
    edges = np.arange(t[0], t[-1], 1.0)
    return [int(((t >= a) & (t < a + 1.0)).sum()) for a in edges[:-1]] or [len(t)]


def measure(page, key: str, seconds: float) -> dict:
    page.evaluate(OBSERVE)
    page.keyboard.down(key)
    time.sleep(seconds)
    times = page.evaluate("window.wmTimes")
    status = page.inner_text("#wm-frame .wm-status")
    page.keyboard.up(key)
    counts = per_second(times)
    return {"frames": len(times), "seconds": seconds, "fps_median": float(np.median(counts)) if counts else 0.0,
            "fps_per_second": counts, "server_status": status}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="world to serve (default: the default world)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per measurement (default 20)")
    p.add_argument("--key", default=None, help="KeyboardEvent.code to hold (default: the world's first key)")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--screenshot", default=None, help="save a screenshot of the page here (PNG)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "worldmodel"
    cmd = [str(exe), "demo", "--port", str(port)] + (["--checkpoint", args.checkpoint] if args.checkpoint else [])
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the demo did not start:\n{server.stdout.read()}")
                time.sleep(0.2)
        import torch
        from worldmodel.bench import machine
        info = machine(torch.device("cpu"))
        info["torch_threads"] = 1                # the demo's default --threads
        result = {"checkpoint": args.checkpoint or "default", "command": " ".join(["worldmodel"] + cmd[1:]),
                  "machine": info}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("#wm-frame img", timeout=120_000)
            key = args.key or next(c for c in ("KeyW", "ArrowRight", "ArrowUp", "Space")
                                   if page.is_visible(f"#wm-key-{c}"))
            result["browser"] = browser.version
            result["held_key"] = key
            time.sleep(2.0)                          # warm-up
            result["world_rate"] = measure(page, key, args.seconds)
            if args.screenshot:
                Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.screenshot)
            page.get_by_label("As fast as it generates").check()
            time.sleep(2.0)
            result["uncapped"] = measure(page, key, args.seconds)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    for mode in ("world_rate", "uncapped"):
        r = result[mode]
        print(f"{mode}: {r['fps_median']:.1f} frames/s in the browser (median of {len(r['fps_per_second'])} "
              f"seconds, {r['frames']} frames); server line: {r['server_status']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
