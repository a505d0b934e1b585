"""The viewer in a real browser: Debian's chromium, headless, loads report.html from disk (no server).

Skipped, saying why, when chromium is missing (`.ci/run` installs it as root). Each test prints the
path of the screenshot it keeps.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_view import runs  # noqa: F401  (the shared run dirs)

from econ.view.page import write
from econ.view.runs import page_data

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed: `apt-get install -y chromium` (.ci/run does it as root)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",  # the page inflates its data asynchronously: wait for it
    "--enable-logging=stderr",
    "--v=0",
]


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    profile.mkdir(parents=True, exist_ok=True)
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)


class Dom(HTMLParser):
    """What the tests look at in a dumped DOM: rows, elements by id, and the text of a few elements."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: list[str] = []
        self.ids: dict[str, dict[str, str]] = {}
        self.attrs: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {"errors": "", "count": "", "dialog-title": "", "dialog-reply": ""}
        self.method_rows: dict[str, str] = {}  # the results table's text, by method
        self._inside: list[str | None] = []
        self._method: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.attrs.append((tag, attrs))
        if tag == "tr" and "data-problem-id" in attrs:
            self.rows.append(attrs["data-problem-id"])
        if tag == "tr" and "data-method" in attrs:
            self._method = attrs["data-method"]
            self.method_rows[self._method] = ""
        if "id" in attrs:
            self.ids[attrs["id"]] = attrs
        if tag not in ("br", "input", "col", "meta", "img", "hr", "circle", "line", "path", "rect"):
            self._inside.append(attrs.get("id") if attrs.get("id") in self.text else None)

    def handle_endtag(self, tag):
        if tag == "tr":
            self._method = None
        if self._inside and tag not in ("br", "input", "col", "meta", "img", "hr", "circle", "line", "path", "rect"):
            self._inside.pop()

    def handle_data(self, data):
        if self._method is not None:
            self.method_rows[self._method] += data + " "
        for name in self.text:
            if name in self._inside:
                self.text[name] += data


def load(page: Path, fragment: str, tmp_path: Path, shot: str | None = None) -> Dom:
    """The DOM after the page's scripts ran; asserts the page finished and logged no error."""
    url = page.resolve().as_uri() + fragment
    done = chromium(url, tmp_path / "profile-dom", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # the page writes nothing to the console: any line is an error or a warning
    dom = Dom(done.stdout)
    assert dom.text["errors"].strip() == "" and "hidden" in dom.ids["errors"]
    assert dom.ids.get("app") is not None and any(t == "body" and a.get("data-ready") == "1" for t, a in dom.attrs)
    if shot:
        png = tmp_path / shot
        taken = chromium(url, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,1800")
        assert taken.returncode == 0 and png.stat().st_size > 10_000, taken.stderr[-2000:]
        print(f"screenshot: {png}")
    return dom


@pytest.fixture(scope="module")
def compare_page(runs, tmp_path_factory):  # noqa: F811
    return write(page_data(runs.compare), tmp_path_factory.mktemp("pages") / "compare.html")


def ids_of(runs, *behaviours: str) -> set[str]:  # noqa: F811
    data = page_data(runs.econ)
    questions = {runs.questions[b] for b in behaviours}
    return {item["id"] for item in data["eval"]["items"] if item["question"] in questions}


def test_rendered_page_lists_every_problem_and_logs_no_error(compare_page, runs, tmp_path):  # noqa: F811
    dom = load(compare_page, "", tmp_path, shot="compare.png")
    assert sorted(dom.rows) == sorted(item["id"] for item in page_data(runs.compare)["eval"]["items"])
    assert "results" in dom.ids and "plots" in dom.ids
    methods = {a["data-method"] for t, a in dom.attrs if t == "tr" and "data-method" in a}
    assert methods == {"econ_no_bne", "econ", "mad"}  # one results row per method
    assert sum(1 for t, _ in dom.attrs if t == "svg") == 4


def test_results_rows_read_alike_for_every_method(compare_page, tmp_path):
    rows = load(compare_page, "", tmp_path).method_rows
    # a baseline run wrote no vs_econ: the page computes the same paired statistics, in the same words
    assert "pp [" in rows["mad"] and "McNemar p=" in rows["mad"] and "pp [" in rows["econ_no_bne"]
    assert "T 0.70" in rows["mad"] and "p 0.10" in rows["mad"]  # sampling as T and p, not a dict dump
    assert not any("temperature" in text or "wins" in text for text in rows.values())


def test_hash_filter_wrong_shows_only_the_wrong_problems(compare_page, runs, tmp_path):  # noqa: F811
    dom = load(compare_page, "#filter=wrong&method=econ", tmp_path, shot="wrong.png")
    assert set(dom.rows) == ids_of(runs, "overrule")
    assert "of 1 (filtered from 4)" in dom.text["count"]
    dom = load(compare_page, "#filter=changed&method=econ", tmp_path)
    assert set(dom.rows) == ids_of(runs, "change", "unparsable")


def test_search_in_the_hash_filters_by_question_text(compare_page, runs, tmp_path):  # noqa: F811
    question = runs.questions["leak"]
    fragment = "#q=" + re.search(r"What is \d+", question).group(0).replace(" ", "%20")
    assert set(load(compare_page, fragment, tmp_path).rows) == ids_of(runs, "leak")


def test_an_opened_problem_shows_every_methods_rounds_side_by_side(compare_page, runs, tmp_path):  # noqa: F811
    (problem,) = ids_of(runs, "overrule")
    dom = load(compare_page, f"#open={problem}", tmp_path, shot="open.png")
    panels = [a["data-method"] for t, a in dom.attrs if t == "section" and "data-method" in a]
    assert panels == ["econ_no_bne", "econ", "mad"]
    rounds = [a["data-round"] for t, a in dom.attrs if t == "div" and "data-round" in a]
    assert rounds == ["0", "0", "1", "0", "1"]  # econ_no_bne: 1 round; econ and mad: 2
    chips = [a for t, a in dom.attrs if t == "button" and "data-agent" in a]
    assert len(chips) == 3 * 5  # three executors in each round


def test_a_call_in_the_hash_opens_its_full_prompt_and_reply(compare_page, runs, tmp_path):  # noqa: F811
    (problem,) = ids_of(runs, "change")
    econ = next(item for item in page_data(runs.compare)["eval"]["items"] if item["id"] == problem)["eps"]["econ"]
    index = econ["rounds"][0]["executors"][1]["call"]
    dom = load(compare_page, f"#open={problem}&call=econ:{index}", tmp_path, shot="call.png")
    assert "hidden" not in dom.ids["dialog"]
    assert dom.text["dialog-reply"] == econ["calls"][index]["text"]
    assert "executor #1 · round 0" in dom.text["dialog-title"]
    assert "hidden" in load(compare_page, f"#open={problem}", tmp_path).ids["dialog"]


def test_training_view_lists_episodes_and_draws_the_curves(runs, tmp_path):  # noqa: F811
    page = write(page_data(runs.econ), tmp_path / "train.html")
    dom = load(page, "#view=train", tmp_path, shot="train.png")
    assert dom.rows == ["episode 1", "episode 2", "episode 3"]
    assert "train-plots" in dom.ids
    assert any(t == "svg" and a.get("aria-label") == "α (reward weights)" for t, a in dom.attrs)


def test_fifteen_hundred_problems_render_one_page_at_a_time(runs, tmp_path):  # noqa: F811
    data = page_data(runs.compare)
    items = []
    for k in range(1500):
        item = copy.deepcopy(data["eval"]["items"][k % 4])
        item["id"] = f"many:{k:04d}"
        items.append(item)
    data["eval"]["items"] = items
    page = write(data, tmp_path / "many.html")
    dom = load(page, "", tmp_path, shot="many.png")
    assert dom.rows == [f"many:{k:04d}" for k in range(50)]
    assert "problems 1–50 of 1500" in dom.text["count"]
    assert load(page, "#page=30", tmp_path).rows == [f"many:{k:04d}" for k in range(1450, 1500)]
