"""Cassettes shared by several processes: every exchange recorded whole, and replayed in order per attempt."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from quarterdeck.llm.cassette import Cassette, CassetteMiss, read_exchanges
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.messages import Message, Request, Response, TextBlock, Usage
from quarterdeck.llm.router import Call

WRITERS = 4
EACH = 150


def _call(text: str) -> Call:
    response = Response(content=(TextBlock(text=text),), usage=Usage(input=10, output=2), model="m")
    return Call(response, Endpoint(model="m"), "anthropic", "m", "first choice", 1, 0.0, 0.0, "price-table")


def _record(path: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait(30)
    cassette = Cassette(Path(path), scope=f"t{writer}/1")
    for n in range(EACH):
        # a long answer makes a torn line likely if appends were not atomic
        cassette.record(Request(model="m", messages=(Message.user(f"{writer}-{n}"),)), _call("x" * 20_000 + str(n)))


def test_processes_recording_into_one_cassette_never_tear_a_line(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_record, args=(str(path), w, start)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(60)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    exchanges = read_exchanges(path)  # raises, naming the line, on a torn one
    assert len(exchanges) == WRITERS * EACH
    for writer in range(WRITERS):
        mine = [e["request"]["messages"][0]["content"][0]["text"] for e in exchanges if e["scope"] == f"t{writer}/1"]
        assert mine == [f"{writer}-{n}" for n in range(EACH)]  # each writer's exchanges in its own order


def test_a_replay_answers_each_attempt_what_it_was_answered(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl"
    same = Request(model="m", messages=(Message.user("same question"),))
    Cassette(path, scope="t1/1").record(same, _call("first attempt's answer"))
    Cassette(path, scope="t1/2").record(same, _call("second attempt's answer"))
    second = Cassette(path, mode="replay", scope="t1/2")
    assert second.play(same)[1].text() == "second attempt's answer"
    elsewhere = Cassette(path, mode="replay", scope="t9/1")  # an unknown scope: any recorded answer will do
    assert elsewhere.play(same)[1].text() == "first attempt's answer"
    with pytest.raises(CassetteMiss) as missed:
        second.play(Request(model="m", messages=(Message.user("another question"),)))
    assert missed.value.message.startswith(f"cassette {path} holds no answer for request ")
    assert "m after 1 message(s), last: 'another question'" in missed.value.message
