"""A labelled retrieval set: 30 lessons from earlier tasks and, for each, a later task that needs it.

Written for the memory tests and `bench/memory.py`. Each query is a new task's prompt in other words
than its lesson (shared topic, few shared words), and several lessons share a domain (authentication,
the database, the dashboard, CI) so that retrieval must tell neighbours apart. `recall_at(k)` counts a
query as answered when its own lesson is among the top k of all 30.
"""

from __future__ import annotations

__all__ = ["LESSONS", "PAIRS", "QUERIES"]

PAIRS: tuple[tuple[str, str], ...] = (
    (
        "Task: add a login rate limit. Failed: the test suite hung because Redis was not started in CI. "
        "Fixed by starting redis-server in the CI script before pytest. Files: src/auth/limits.py, .ci/run",
        "Throttle repeated sign-in attempts per user; counters live in Redis",
    ),
    (
        "Task: hash passwords with argon2. Failed: verification rejected old bcrypt hashes. Fixed by "
        "checking the hash prefix and rehashing on successful login. Files: src/auth/passwords.py",
        "Migrate stored user credentials from bcrypt to a stronger password hashing scheme",
    ),
    (
        "Task: expire API tokens. Failed: tokens compared with naive datetimes raised TypeError. Fixed "
        "by storing UTC-aware timestamps. Files: src/auth/tokens.py, src/store/tables.py",
        "Make access keys stop working after thirty days",
    ),
    (
        "Task: add a column for the project's default branch. Failed: the migration broke on SQLite "
        "because ALTER COLUMN is unsupported. Fixed with batch_alter_table. Files: migrations/0012.py",
        "Schema change: rename a column in the projects table, must work on the embedded database too",
    ),
    (
        "Task: speed up the task listing. Failed: N+1 queries loading each task's events. Fixed with a "
        "single joined query and an index on (run_id, status). Files: src/store/tasks.py",
        "The runs page is slow with thousands of tasks; too many database round trips",
    ),
    (
        "Task: claim queued jobs from several workers. Failed: two workers took the same job. Fixed "
        "with SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL. Files: src/store/dialects.py",
        "Prevent duplicate processing when many consumers pull from the queue concurrently",
    ),
    (
        "Task: render the cost chart on the dashboard. Failed: the chart was blank because the canvas "
        "had zero height inside a hidden tab. Fixed by drawing when the tab is shown. Files: web/js/costs.js",
        "A graph on an inactive dashboard panel shows nothing until the window is resized",
    ),
    (
        "Task: dark mode for the web UI. Failed: contrast check failed for grey text on dark background. "
        "Fixed by using the palette's foreground-muted variable. Files: web/css/theme.css",
        "Add a night colour scheme to the interface and keep text readable",
    ),
    (
        "Task: live updates over WebSocket. Failed: the browser reconnect loop flooded the server after "
        "a restart. Fixed with exponential backoff and jitter. Files: web/js/live.js",
        "After the server restarts, clients hammer it with reconnections",
    ),
    (
        "Task: parse BMAD story files. Failed: acceptance criteria in nested lists were dropped. Fixed "
        "by walking list items recursively. Files: src/stories/bmad.py",
        "Story importer loses indented sub-bullets of the acceptance criteria",
    ),
    (
        "Task: import GitHub issues as stories. Failed: pagination stopped at 30 issues. Fixed by "
        "following the Link header's next URL. Files: src/stories/github.py",
        "Only the first page of tickets comes back when pulling from the forge",
    ),
    (
        "Task: send Slack notifications on failure. Failed: webhook returned 400 for messages over "
        "4000 characters. Fixed by truncating the text and linking the full log. Files: src/notify/slack.py",
        "Chat alerts are rejected when the error output is very long",
    ),
    (
        "Task: git worktree per task. Failed: branch names with spaces and slashes broke git. Fixed by "
        "sanitising ref names. Files: src/workspaces/worktrees.py",
        "Task titles containing odd characters produce invalid branch names",
    ),
    (
        "Task: merge finished branches in order. Failed: a conflict left the integration branch half "
        "merged. Fixed by aborting the merge and reporting the conflicting files. Files: workspaces/merge.py",
        "When landing work collides with another change, the target branch is left in a broken state",
    ),
    (
        "Task: clean up old worktrees. Failed: git refused to remove a worktree with untracked files. "
        "Fixed with git worktree remove --force after checking no process uses it. Files: workspaces/gc.py",
        "Garbage collection of stale checkouts fails when they contain leftover build output",
    ),
    (
        "Task: run agents in a sandbox. Failed: bubblewrap could not bind /tmp on the CI machine. Fixed "
        "by creating a private tmpfs instead. Files: src/sandbox/bwrap.py",
        "Confine agent processes so they cannot touch files outside their directory",
    ),
    (
        "Task: kill agents on timeout. Failed: grandchild processes survived and kept the port open. "
        "Fixed by starting a new process group and signalling the whole group. Files: runtimes/process.py",
        "Orphaned subprocesses linger after a step is cancelled",
    ),
    (
        "Task: record model costs. Failed: cached input tokens were billed at the full price. Fixed by "
        "reading cache_read_input_tokens and its lower rate. Files: src/runtimes/pricing.py",
        "Spend reports overcharge when prompt caching is used",
    ),
    (
        "Task: enforce a run budget. Failed: parallel tasks overspent because each checked the budget "
        "before any had settled. Fixed by reserving an estimate before the call. Files: domain/budget.py",
        "Concurrent agents blow through the spending limit",
    ),
    (
        "Task: retry flaky model calls. Failed: a 429 response was retried immediately and hit the limit "
        "again. Fixed by honouring the Retry-After header. Files: src/llm/ratelimit.py",
        "Respect the provider's back-off instructions when we are throttled",
    ),
    (
        "Task: stream agent transcripts. Failed: JSON lines split across reads raised decode errors. "
        "Fixed by buffering until a newline. Files: src/runtimes/agent_events.py",
        "Parsing the agent's output stream breaks when a record arrives in two chunks",
    ),
    (
        "Task: export metrics for Prometheus. Failed: a label per task id exploded the series count. "
        "Fixed by labelling only by role and model. Files: src/api/metrics.py",
        "Monitoring has too many time series; cardinality is unbounded",
    ),
    (
        "Task: JSON structured logging. Failed: an API key appeared in a logged request header. Fixed "
        "by redacting secrets in the log formatter. Files: src/observability/logs.py",
        "Credentials leak into log output",
    ),
    (
        "Task: paginate the REST API. Failed: offset pagination skipped rows when new tasks were "
        "inserted. Fixed with keyset cursors on (created_at, id). Files: src/api/pagination.py",
        "Listing endpoints miss or repeat items while data is being added",
    ),
    (
        "Task: organisation roles. Failed: a viewer could cancel runs through the API. Fixed by checking "
        "the role in the route dependency. Files: src/api/auth.py, src/api/routes/runs.py",
        "Read-only members must not be able to stop work; enforce permissions on endpoints",
    ),
    (
        "Task: CLI start-up time. Failed: quarterdeck --help took two seconds importing SQLAlchemy. "
        "Fixed with lazy imports in the command table. Files: src/cli/main.py",
        "The command-line tool is sluggish to print its usage text",
    ),
    (
        "Task: read settings from quarterdeck.toml. Failed: environment variables did not override the "
        "file. Fixed by ordering the settings sources. Files: src/settings.py",
        "Configuration precedence: env vars should win over the config file",
    ),
    (
        "Task: Docker image for the server. Failed: the image was 2 GB because build tools stayed in. "
        "Fixed with a multi-stage build copying only the wheel. Files: Dockerfile",
        "Shrink the container we ship",
    ),
    (
        "Task: PDF report of a run. Failed: non-ASCII task titles came out as boxes. Fixed by embedding "
        "a Unicode font. Files: src/reports/pdf.py",
        "Accented and CJK characters render incorrectly in exported documents",
    ),
    (
        "Task: schedule nightly runs. Failed: the cron job fired twice on the daylight-saving change. "
        "Fixed by scheduling in UTC. Files: src/engine/schedules.py",
        "Recurring jobs run twice or not at all when the clocks change",
    ),
)

LESSONS: tuple[str, ...] = tuple(lesson for lesson, _ in PAIRS)
QUERIES: tuple[str, ...] = tuple(query for _, query in PAIRS)
