"""`python -m econ.view RUN_DIR|COMPARE_DIR [--out FILE] [--serve]`: write (and optionally serve) report.html."""

from __future__ import annotations

import argparse
import http.server
import sys
from pathlib import Path

from econ.errors import ConfigError
from econ.run.interrupt import Interrupted
from econ.run.job import run_or_exit
from econ.run.writable import probe_dir
from econ.view.page import write
from econ.view.runs import page_data


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m econ.view", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument(
        "path",
        type=Path,
        metavar="RUN_DIR|COMPARE_DIR",
        help="a run dir (results.json, traces.jsonl), a compare_methods.py --out dir, or a sweep dir",
    )
    parser.add_argument("--out", type=Path, default=None, help="the HTML file to write (default: <dir>/report.html)")
    parser.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1 until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (0 = any free port)")
    return parser.parse_args(argv)


def page_handler(page: Path) -> type[http.server.BaseHTTPRequestHandler]:
    """Answers GET / and GET /<page name> with the page (read anew, so a rebuilt page shows on reload), else 404.

    Only the page: the run dir beside it (traces, config, checkpoints) is not served.
    """

    class OnePage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/", f"/{page.name}"):
                self.send_error(404)
                return
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass  # a browser's requests are not news

    return OnePage


def serve(page: Path, port: int) -> None:
    """Serve the page on 127.0.0.1 only; print its URL."""
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), page_handler(page))
    except OSError as error:
        message = f"--port={port}: cannot listen on 127.0.0.1 ({error.strerror}); pass another --port"
        raise ConfigError(message) from error
    with server:
        print(f"serving http://127.0.0.1:{server.server_address[1]}/{page.name} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except (KeyboardInterrupt, Interrupted):  # Ctrl-C is how serving ends: not an interrupted run
            pass


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)

    def job() -> Path:
        if not 0 <= args.port <= 65535:
            raise ConfigError(f"--port={args.port}: use a port in 0..65535")
        data = page_data(args.path)
        out = args.out or args.path / "report.html"
        probe_dir(out.parent, "--out", "give --out a file in a writable directory")
        out = write(data, out)
        print(out.resolve(), flush=True)
        if args.serve:
            serve(out.resolve(), args.port)
        return out

    return run_or_exit(job)


if __name__ == "__main__":
    main(sys.argv[1:])
