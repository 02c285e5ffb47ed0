"""Save a screenshot of the dashboard over a storage folder (how docs/dashboard.png is made).

    python examples/digits.py --storage runs/digits --trials 12 --epochs 15
    python -m tests.dashboard.screenshot runs/digits docs/dashboard.png
"""

from __future__ import annotations

import argparse
import threading
import time

from torchsearch.dashboard import make_server

from ._browser import chrome, missing


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("storage")
    p.add_argument("out")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--select", type=int, default=None, help="open this trial's details")
    args = p.parse_args(argv)
    why = missing()
    if why:
        raise SystemExit(why)
    server = make_server(args.storage, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = chrome(args.width, 900)
    try:
        driver.get(server.url)
        deadline = time.monotonic() + 30
        while not driver.execute_script("return document.querySelectorAll('#trials tbody tr').length"):
            if time.monotonic() > deadline:
                raise SystemExit("the page showed no trial in 30 s")
            time.sleep(0.2)
        if args.select is not None:
            driver.execute_script(f"document.querySelector('#trials tbody tr[data-trial=\"{args.select}\"]').click()")
        time.sleep(1.0)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the whole page in one viewport
                               {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.8)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.save_screenshot(args.out)
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(f"saved {args.out} ({args.width}x{height}); console errors: {severe or 'none'}")
    finally:
        driver.quit()
        server.shutdown()


if __name__ == "__main__":
    main()
