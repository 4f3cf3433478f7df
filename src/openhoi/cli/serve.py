"""Serve a web page and a JSON API for your checkpoints on this machine.

Open the printed address, drop a photo on the page and see the detected pairs drawn and listed;
or POST images to /api/predict (the answer is `openhoi predict`'s JSON line). Without
--checkpoint the model of `openhoi demo` is served. Binds to 127.0.0.1 unless --host says
otherwise.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", action="append", default=[], metavar="CKPT",
                        help="checkpoint (.pt/.pth) or exported .safetensors to serve; repeat "
                             "for several (the first is the default); default: the model of "
                             "`openhoi demo` in --demo-dir")
    parser.add_argument("--demo-dir", default="openhoi-demo",
                        help="where `openhoi demo` wrote its run (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0,
                        help="largest request body in MiB (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=40_000_000,
                        help="largest image, width x height (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from openhoi.errors import OpenHOIError
    from openhoi.serve import ModelRegistry, ServeLimits, create_app, demo_checkpoint

    checkpoints = list(args.checkpoint)
    if not checkpoints:
        found = demo_checkpoint(args.demo_dir)
        if found is None:
            raise OpenHOIError(
                f"no --checkpoint given and no demo model in {args.demo_dir}/run/; "
                "train one with `openhoi demo` (a few minutes on CPU), or serve your own with "
                "`openhoi serve --checkpoint runs/NAME/checkpoints/best.pt`")
        checkpoints = [found]
    if not 0 <= args.port <= 65535:
        raise OpenHOIError(f"--port must be in 0..65535, got {args.port}")
    limits = ServeLimits(max_body_bytes=int(args.max_upload_mb * 2**20),
                         max_pixels=args.max_pixels)
    registry = ModelRegistry.from_checkpoints(checkpoints, args.device, limits)
    local = args.host in LOOPBACK
    if not local:
        log.warning("serving on %s: anyone who can reach this address can use the models",
                    args.host)
    app = create_app(registry, allowed_hosts=[*LOOPBACK, "[::1]"] if local else None)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"openhoi serve: {len(registry.models)} model(s) on http://{shown}:{args.port}/ "
          "(Ctrl+C to stop)", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        registry.close()
    return 0
