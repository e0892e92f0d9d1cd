"""The agent-event parsers on real CLI output (tests/fixtures/agent_samples) and on what they must tolerate."""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.runtimes import agent_events as ev
from quarterdeck.runtimes.base import TokenUsage

SAMPLES = Path(__file__).parents[2] / "fixtures" / "agent_samples"


def _parse(
    parser: ev.ClaudeStreamParser | ev.CodexExecParser | ev.GeminiStreamParser, lines: list[str]
) -> list[ev.AgentEvent]:
    events: list[ev.AgentEvent] = []
    for line in lines:
        events += parser.feed(line)
    return events


def _sample(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def test_claude_sample_becomes_init_text_tool_calls_paired_results_and_a_costed_result() -> None:
    parser = ev.ClaudeStreamParser()
    events = _parse(parser, _sample("claude-stream-sample.jsonl"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Init", "Text", "ToolCall", "ToolResult", "ToolCall", "ToolResult", "Text", "Result"]
    init = events[0]
    assert isinstance(init, ev.Init)
    assert init.session_id == "664ea43f-cf88-4cac-a60f-333f77e5d10a"
    assert init.model == "claude-opus-5-5"
    assert init.version == "2.1.330"
    assert "Bash" in init.tools
    calls = [e for e in events if isinstance(e, ev.ToolCall)]
    results = [e for e in events if isinstance(e, ev.ToolResult)]
    assert [c.name for c in calls] == ["Write", "Bash"]
    assert [c.id for c in calls] == [r.id for r in results]
    assert results[1].output == "Hello from the fake model"
    assert not results[1].is_error
    result = events[-1]
    assert isinstance(result, ev.Result)
    assert result.ok
    assert result.text == "done"
    assert result.turns == 3
    assert result.cost_usd == 0.037896
    assert result.tokens == TokenUsage(input=8929, output=109)
    assert result.model == "claude-opus-5-5"
    assert result.session_id == init.session_id
    assert parser.result is result


def test_claude_resume_sample_keeps_the_session_and_reports_the_cumulative_cost() -> None:
    parser = ev.ClaudeStreamParser()
    events = _parse(parser, _sample("claude-stream-sample-resume.jsonl"))
    assert parser.result is not None
    assert parser.result.session_id == "664ea43f-cf88-4cac-a60f-333f77e5d10a"
    assert parser.result.turns == 2
    assert parser.result.text == "resumed ok"
    # usage is this invocation's, the cost is the session's so far (the runtime records the delta)
    assert parser.result.tokens.input == 6327
    assert parser.result.cost_usd == 0.06428400000000001
    assert sum(isinstance(e, ev.ToolCall) for e in events) == 1


def test_claude_error_results_are_judged_by_is_error_not_subtype() -> None:
    parser = ev.ClaudeStreamParser()
    lines = [
        json.dumps(
            {
                "type": "assistant",
                "is_api_error_message": True,
                "message": {"model": "<synthetic>", "content": [{"type": "text", "text": "API Error: 400 bad"}]},
            }
        ),
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": True,
                "api_error_status": 400,
                "result": "API Error: 400 bad",
                "session_id": "s1",
                "total_cost_usd": 0,
            }
        ),
    ]
    events = _parse(parser, lines)
    assert isinstance(events[0], ev.Notice)
    assert parser.result is not None
    assert not parser.result.ok
    assert parser.result.error == "API Error: 400 bad"
    assert parser.result.error_status == 400
    max_turns = json.dumps(
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "errors": ["Reached maximum number of turns (1)"],
            "num_turns": 2,
        }
    )
    assert isinstance(result := parser.feed(max_turns)[0], ev.Result)
    assert result.error == "Reached maximum number of turns (1)"
    assert result.subtype == "error_max_turns"


def test_claude_unknown_types_stderr_and_garbage_are_kept_and_never_fatal() -> None:
    parser = ev.ClaudeStreamParser()
    lines = [
        '{"type":"system","subtype":"ui_invalidate","event":"ui.render"}',
        '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"}}',
        '{"type":"quarterdeck_from_the_future","x":1}',
        '{"type":"stream_event","event":{"type":"message_start"}}',
        "",
        "Error: something on stderr",
        "[1, 2]",
        '{"type":"assistant","message":"not a dict"}',
        '{"type":"assistant","message":{"content":[{"type":"server_tool_use","id":"x"}]}}',
        '{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"a"},{"type":"image"}]}]}}',
        '{"type":"system","subtype":"api_retry","attempt":"one","error_status":529}',
        '{"truncated json',
    ]
    events = _parse(parser, lines)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Unknown", "Unknown", "Unknown", "Notice", "Unknown", "Unknown", "ToolResult", "Retry", "Notice"]
    assert isinstance(events[2], ev.Unknown)
    assert events[2].raw["x"] == 1
    assert isinstance(events[6], ev.ToolResult)
    assert events[6].output == "a"
    assert isinstance(events[7], ev.Retry)
    assert events[7].attempt is None
    assert events[7].status == 529
    assert parser.stderr == ["Error: something on stderr", '{"truncated json']
    assert parser.result is None


def test_claude_result_without_is_error_is_not_trusted_as_success() -> None:
    parser = ev.ClaudeStreamParser()
    (result,) = parser.feed('{"type":"result","subtype":"success","result":"hm"}')
    assert isinstance(result, ev.Result)
    assert not result.ok


def test_codex_sample_maps_items_onto_the_same_model() -> None:
    parser = ev.CodexExecParser()
    events = _parse(parser, _sample("codex-exec-json-sample.jsonl"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Init", "Text", "ToolCall", "ToolResult", "ToolCall", "ToolResult", "Text", "Usage"]
    assert parser.session_id == "01a20785-3de5-73c0-b8ad-f578c4e862b1"
    change, command = (e for e in events if isinstance(e, ev.ToolCall))
    assert change.name == "file_change"
    assert change.input["changes"][0]["kind"] == "add"
    assert command.name == "command"
    assert command.input == {"command": "/bin/bash -lc 'python3 hello.py'"}
    output = [e for e in events if isinstance(e, ev.ToolResult)][1]
    assert output.output == "Hello from the fake model\n"
    assert not output.is_error
    assert output.id == command.id
    assert parser.last_message == "done"
    assert parser.turns_completed == 1
    assert parser.tokens == TokenUsage(input=21295, output=217)


def test_codex_resume_sample_and_cached_tokens() -> None:
    parser = ev.CodexExecParser()
    _parse(parser, _sample("codex-exec-json-sample-resume.jsonl"))
    assert parser.last_message == "resumed ok"
    usage = '{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":400,"output_tokens":50}}'
    parser.feed(usage)
    assert parser.tokens == TokenUsage(input=36071 + 600, output=313 + 50, cache_read=400)


def test_codex_failures_reconnects_and_unknown_items() -> None:
    parser = ev.CodexExecParser()
    lines = [
        '{"type":"error","message":"Reconnecting... 1/5 (stream disconnected)"}',
        '{"type":"error","message":"Reconnecting... 2/5"}',
        '{"type":"item.completed","item":{"id":"item_9","type":"todo_list","items":[]}}',
        '{"type":"item.completed","item":{"id":"item_8","type":"error","message":"Model metadata not found"}}',
        '{"type":"item.completed","item":{"id":"i","type":"command_execution","command":"false","exit_code":1}}',
        '{"type":"turn.failed","error":{"message":"unexpected status 400 Bad Request"}}',
        '{"type":"thread.forked"}',
        "not json",
    ]
    events = _parse(parser, lines)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Notice", "Notice", "Unknown", "Notice", "ToolCall", "ToolResult", "Notice", "Unknown", "Notice"]
    assert parser.reconnects == 2
    assert parser.failure == "unexpected status 400 Bad Request"
    assert isinstance(events[5], ev.ToolResult)
    assert events[5].is_error


GEMINI = [
    '{"type":"init","timestamp":"2026-01-01T00:00:00Z","session_id":"g-1","model":"gemini-2.5-pro"}',
    '{"type":"message","role":"user","content":"make hello.py"}',
    '{"type":"message","role":"assistant","content":"I will ","delta":true}',
    '{"type":"message","role":"assistant","content":"write it.","delta":true}',
    '{"type":"tool_use","tool_name":"write_file","tool_id":"w1","parameters":{"file_path":"hello.py","content":"x"}}',
    '{"type":"tool_result","tool_id":"w1","status":"success","output":"Created hello.py"}',
    '{"type":"tool_use","tool_name":"run_shell_command","tool_id":"r1","parameters":{"command":"python3 hello.py"}}',
    '{"type":"tool_result","tool_id":"r1","status":"error","error":{"type":"EXEC","message":"exit 1"}}',
    '{"type":"error","severity":"warning","message":"Loop detected, stopping execution"}',
    '{"type":"message","role":"assistant","content":"done","delta":true}',
    '{"type":"result","status":"success","stats":{"total_tokens":1500,"input_tokens":1200,"output_tokens":300,'
    '"cached":200,"input":1000,"duration_ms":10,"tool_calls":2,"models":{"gemini-2.5-pro":{}}}}',
]


def test_gemini_stream_json_joins_deltas_and_maps_tools_and_tokens() -> None:
    parser = ev.GeminiStreamParser()
    events = _parse(parser, GEMINI)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Init", "Text", "ToolCall", "ToolResult", "ToolCall", "ToolResult", "Notice", "Text", "Result"]
    assert isinstance(events[1], ev.Text)
    assert events[1].text == "I will write it."
    assert isinstance(events[5], ev.ToolResult)
    assert events[5].is_error
    assert events[5].output == "exit 1"
    result = events[-1]
    assert isinstance(result, ev.Result)
    assert result.ok
    assert result.session_id == "g-1"
    assert result.model == "gemini-2.5-pro"
    assert result.tokens == TokenUsage(input=1000, output=300, cache_read=200)
    assert result.text == "I will write it.done"


def test_gemini_errors_and_older_stats_without_uncached_input() -> None:
    parser = ev.GeminiStreamParser()
    events = _parse(
        parser,
        [
            '{"type":"mystery","a":1}',
            '{"type":"result","status":"error","error":{"type":"FatalTurnLimitedError","message":"turn limit"},'
            '"stats":{"input_tokens":500,"cached":100,"output_tokens":5}}',
        ],
    )
    assert isinstance(events[0], ev.Unknown)
    result = events[1]
    assert isinstance(result, ev.Result)
    assert not result.ok
    assert result.error == "turn limit"
    assert result.tokens == TokenUsage(input=400, output=5, cache_read=100)


def test_sink_events_are_small_and_typed() -> None:
    assert ev.sink_event(ev.Text("  ")) is None
    assert ev.sink_event(ev.Text("hi", thinking=True)) is None
    kind, payload = ev.sink_event(ev.ToolResult("t", "x" * 10_000)) or ("", {})
    assert kind == "agent.output"
    assert len(payload["text"]) < 4100
    assert payload["text"].endswith("[6000 more]")
    kind, payload = ev.sink_event(ev.Unknown({"type": "new", "blob": "y" * 10_000})) or ("", {})
    assert kind == "agent.unknown"
    assert payload["type"] == "new"
    assert isinstance(payload["raw"], str)
    assert ev.sink_event(ev.Retry(1, 10, 500.0, 529, "overloaded")) == (
        "agent.retry",
        {"attempt": 1, "max_retries": 10, "status": 529, "delay_ms": 500.0, "error": "overloaded"},
    )
