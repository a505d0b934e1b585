"""Write the page: the template with its CSS and JS inlined and the run's data embedded, gzipped.

One file that opens offline: nothing is fetched. The data is JSON, gzipped and base64-encoded in a
<script type="application/octet-stream"> (base64 cannot close the tag); the page inflates it with the
browser's DecompressionStream. `read_embedded` is the inverse, for tests and scripts.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

ASSETS = files("econ.view") / "assets"
SCRIPTS = ("dom.js", "plots.js", "results.js", "problem.js", "view.js")  # one script, in this order
_DATA = re.compile(r'<script type="application/octet-stream" id="econ-data"[^>]*>([^<]*)</script>')


def _asset(name: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    if name != "page.html" and re.search(r"</(script|style)", text, re.IGNORECASE):  # it would end its inline tag
        raise ValueError(f"econ/view/assets/{name} must not contain a closing script or style tag")
    return text


def encode_data(data: dict[str, Any]) -> str:
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def render(data: dict[str, Any]) -> str:
    """The whole page as one HTML string."""
    page = _asset("page.html")
    parts = {
        "{{TITLE}}": html.escape(str(data.get("title", "econ run"))),
        "{{CSS}}": _asset("view.css"),
        "{{JS}}": "\n".join(_asset(name) for name in SCRIPTS),
        "{{DATA}}": encode_data(data),
    }
    # one pass, so a placeholder spelled inside a run's text can never be substituted
    return re.sub("|".join(map(re.escape, parts)), lambda m: parts[m.group(0)], page)


def write(data: dict[str, Any], out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(out)  # a browser reloading mid-write never sees half a page
    return out


def read_embedded(page: str) -> dict[str, Any]:
    """The data object embedded in a page written by `render`."""
    found = _DATA.search(page)
    if found is None:
        raise ValueError("no embedded econ data in this page")
    return json.loads(gzip.decompress(base64.b64decode(found.group(1))))
