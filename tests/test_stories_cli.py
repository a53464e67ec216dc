"""Stories as a user meets them: several local outlets publish one event in different words and
a distinct event between, ``ticker once`` delivers to webhook channels, and ``history
--stories``, ``history --leads``, ``check`` and ``story-test`` tell what happened and why.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from conftest import PageServer, run_ticker, write_config
from sinks import WebhookSink

# Real wordings of one event by three outlets, and a distinct one (English and Arabic).
EVENT = [
    "Israeli strike kills 5 in southern Lebanon",
    "5 killed in Israeli strike on southern Lebanon",
    "Southern Lebanon: Israeli strike kills 5",
]
DISTINCT = "Magnitude 6.1 earthquake strikes off the coast of Japan"
OLD = "Parliament opens its winter session"
AR_A = "غارة إسرائيلية على جنوب لبنان تقتل 5 أشخاص"
AR_B = "مقتل 5 أشخاص في غارة اسرائيلية على جنوب لبنان"


def page(*lines: str) -> str:
    items = "".join(f'<li class="ticker-item">{t}</li>' for t in lines)
    return f'<html><body><ul class="ticker">{items}</ul></body></html>'


def config(tmp_path: Path, ps: PageServer, sink: WebhookSink, outlets: list[str]) -> Path:
    sources = "".join(
        f'[[sources]]\nid = "{o}"\nurl = "{ps.url("/" + o)}"\nitems = "css:.ticker-item"\n'
        for o in outlets
    )
    return write_config(
        tmp_path,
        f'[service]\nstate = "{tmp_path / "state.db"}"\nstory_window = "30m"\n{sources}'
        f'[[channels]]\nid = "desk"\nurls = ["{sink.url("/desk")}"]\n'
        f'[[channels]]\nid = "wall"\nurls = ["{sink.url("/wall")}"]\n',
    )


async def once(cfg: Path, *sources: str) -> None:
    result = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg), *sources)
    assert result.returncode == 0, result.stderr


async def test_each_channel_gets_one_push_per_story(
    page_server: PageServer, tmp_path: Path
) -> None:
    outlets = ["alpha", "beta", "gamma"]
    with WebhookSink.in_thread() as sink:
        cfg = config(tmp_path, page_server, sink, outlets)
        for o in outlets:
            page_server.set("/" + o, page(OLD))
        await once(cfg)  # baselines
        page_server.set("/alpha", page(EVENT[0], OLD))
        await once(cfg, "alpha")
        page_server.set("/beta", page(DISTINCT, OLD))
        await once(cfg, "beta")
        page_server.set("/beta", page(EVENT[1], DISTINCT, OLD))
        page_server.set("/gamma", page(EVENT[2], OLD))
        await once(cfg, "beta")
        await once(cfg, "gamma")
        for channel in ("/desk", "/wall"):
            pushed = [h.message.splitlines()[0] for h in sink.delivered(channel)]
            assert pushed == [EVENT[0], DISTINCT], channel

    # Every line is recorded with its source and story; the story groups them.
    stories = run_ticker("history", "-c", str(cfg), "--stories", "--format", "jsonl")
    assert stories.returncode == 0, stories.stderr
    groups = [json.loads(x) for x in stories.stdout.splitlines()]
    assert [(g["first_source"], g["sources"]) for g in groups] == [
        ("alpha", ["alpha", "beta", "gamma"]),
        ("beta", ["beta"]),
    ]
    lines = groups[0]["lines"]
    assert [x["text"] for x in lines] == EVENT
    assert lines[0]["lag_s"] == 0
    assert all(x["lag_s"] > 0 for x in lines[1:])
    assert all(x["score"] >= 0.8 for x in lines[1:])
    assert lines[1]["matched"] == EVENT[0]

    table = run_ticker("history", "-c", str(cfg), "--stories")
    assert "3 source(s): alpha, beta, gamma" in table.stdout
    assert f"(matched: {EVENT[0]}, score" in table.stdout

    leads = run_ticker("history", "-c", str(cfg), "--leads", "--format", "jsonl")
    by_source = {r["source"]: r for r in map(json.loads, leads.stdout.splitlines())}
    assert by_source["alpha"]["first"] == 1
    assert by_source["beta"]["first"] == 0
    assert by_source["beta"]["later"] == 1
    assert by_source["beta"]["lag_median_s"] > 0

    plain = run_ticker("history", "-c", str(cfg), "--format", "csv")
    header = plain.stdout.splitlines()[0]
    assert header.split(",")[-1] == "story"


async def test_check_says_which_line_a_new_line_would_join(
    page_server: PageServer, tmp_path: Path
) -> None:
    with WebhookSink.in_thread() as sink:
        cfg = config(tmp_path, page_server, sink, ["alpha", "beta"])
        page_server.set("/alpha", page(OLD))
        page_server.set("/beta", page(OLD))
        await once(cfg)
        page_server.set("/alpha", page(AR_A, OLD))
        await once(cfg, "alpha")
        page_server.set("/beta", page(AR_B, OLD))
        result = await asyncio.to_thread(run_ticker, "check", "-c", str(cfg), "beta")
        assert result.returncode == 0, result.stderr
        assert f"story: joins story 3 (matched: {AR_A}, score" in result.stdout
        jsonl = await asyncio.to_thread(
            run_ticker, "check", "-c", str(cfg), "beta", "--format", "jsonl"
        )
        new = json.loads(jsonl.stdout.splitlines()[0])
        assert new["story"]["matched"] == AR_A
        assert new["story"]["score"] >= 0.8


def test_story_test_scores_two_lines_and_pairs_on_stdin(tmp_path: Path) -> None:
    same = run_ticker("story-test", EVENT[0], EVENT[1])
    assert same.returncode == 0
    assert "same story (threshold 0.80)" in same.stdout
    other = run_ticker("story-test", "7 killed in attacks in Iraq", "27 killed in attacks in Iraq")
    assert "not the same story" in other.stdout
    pairs = "\n".join(
        json.dumps({"a": a, "b": b}, ensure_ascii=False)
        for a, b in [(EVENT[0], EVENT[2]), (EVENT[0], DISTINCT), (AR_A, AR_B)]
    )
    piped = subprocess.run(
        [sys.executable, "-m", "ticker", "story-test"],
        input=pairs + "\nnot json\n",
        capture_output=True,
        text=True,
        check=False,
    )
    answers = [json.loads(x) for x in piped.stdout.splitlines()]
    assert [a["same"] for a in answers] == [True, False, True, None]
    assert all(0 <= a["score"] <= 1 for a in answers[:3])
    assert piped.returncode == 2  # the bad line is named on stderr, its answer kept in place
    assert "stdin line 4" in piped.stderr
    # The threshold comes from the configuration with -c.
    cfg = write_config(
        tmp_path,
        '[service]\nstory_threshold = 0.99\n[[sources]]\nid = "a"\nurl = "https://a.example/"\n'
        'items = "css:li"\n',
    )
    strict = run_ticker("story-test", "-c", str(cfg), EVENT[0], EVENT[2])
    assert "(threshold 0.99)" in strict.stdout
    one = run_ticker("story-test", EVENT[0])
    assert one.returncode == 2
