"""Taskmaster ``tasks.json`` (tagged ``{"master": {"tasks": […]}}`` and legacy ``{"tasks": […]}``) as records."""

from __future__ import annotations

from typing import Any

from quarterdeck.domain import ids, plans
from quarterdeck.errors import Problem
from quarterdeck.stories import documents, records, statuses

__all__ = ["FORMAT", "looks_like_tasks", "parse", "tag_lists"]

FORMAT = "taskmaster"


def _is_task_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, dict) and "id" in t and "title" in t for t in value)
        and any("dependencies" in t or "status" in t or "subtasks" in t for t in value)
    )


def tag_lists(data: Any) -> dict[str, Any]:
    """The task lists by tag: ``{"": tasks}`` for the legacy layout, ``{tag: tasks}`` for the tagged one."""
    if not isinstance(data, dict):
        return {}
    if _is_task_list(data.get("tasks")):
        return {"": data["tasks"]}
    return {
        tag: body["tasks"] for tag, body in data.items() if isinstance(body, dict) and _is_task_list(body.get("tasks"))
    }


def looks_like_tasks(data: Any) -> bool:
    """True when parsed JSON holds Taskmaster tasks in either layout."""
    return bool(tag_lists(data))


def parse(text: str, path: str) -> records.Parsed:
    """One record per task; subtasks become its checklist, and a reference to ``3.1`` means task ``3``.

    With several tags, tasks outside ``master`` are named ``tag/3`` (plan id ``tag-3``).
    """
    loaded = documents.load_json(text, path)
    if loaded.problem is not None:
        return records.Parsed(problems=(loaded.problem,))
    lists = tag_lists(loaded.value)
    if not lists:
        return records.Parsed(skip="not a story: JSON without Taskmaster tasks")
    out: list[records.Record] = []
    problems: list[Problem] = []
    for tag, tasks in lists.items():
        prefix = "" if len(lists) == 1 or tag in ("", "master") else f"{tag}/"
        safe = "" if not prefix else ids.slug(tag, limit=40) + "-"
        for task in tasks:
            bad = _malformed(task)
            if bad:
                problems.append(Problem(path, _line(task), bad))
                continue
            out.append(_record(task, prefix, safe, path, problems, len(out)))
    return records.Parsed(records=tuple(out), problems=tuple(problems))


def _malformed(task: Any) -> str:
    """Why a task object cannot be read, or empty when it can."""
    tid = task.get("id")
    if isinstance(tid, bool) or not isinstance(tid, int | str) or not str(tid).strip():
        return f"task id {tid!r} must be a number or a string"
    if not isinstance(task.get("title"), str):
        return f"task {tid}: 'title' must be a string"
    for key in ("subtasks", "dependencies"):
        if task.get(key) is not None and not isinstance(task[key], list):
            return f"task {tid}: {key!r} must be a list"
    return ""


def _line(obj: Any) -> int:
    return int(getattr(obj, "line", 0))


def _status(obj: Any, what: str, path: str, problems: list[Problem]) -> str:
    raw = obj.get("status")
    if raw is None:
        return "ready"
    status = statuses.normalise(str(raw))
    if status is None:
        problems.append(Problem(path, _line(obj), f"unknown status {str(raw)!r} for {what} (see the status table)"))
        return "ready"
    return status


def _ref(value: Any) -> str | None:
    """A dependency value as a task id: ``3`` and ``"3.1"`` both mean task 3."""
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        return None
    text = str(value).strip()
    return text.split(".")[0] if text else None


def _record(task: Any, prefix: str, safe: str, path: str, problems: list[Problem], index: int) -> records.Record:
    tid = str(task.get("id"))
    what = f"task {prefix}{tid}"
    status = _status(task, what, path, problems)
    subtasks: list[records.SubTask] = []
    refs: list[records.DepRef] = []
    for sub in task.get("subtasks") or []:
        if not isinstance(sub, dict):
            continue
        sub_status = _status(sub, f"subtask {prefix}{tid}.{sub.get('id')}", path, problems)
        subtasks.append(records.SubTask(str(sub.get("title", "")), sub_status == "done", _line(sub)))
        for dep in sub.get("dependencies") or []:
            target = _ref(dep)
            if target and "." in str(dep) and target != tid:
                refs.append(records.DepRef(prefix + target, _line(sub)))
    for dep in task.get("dependencies") or []:
        target = _ref(dep)
        if target:
            refs.append(records.DepRef(prefix + target, _line(task)))
    statement = "\n\n".join(str(task[k]) for k in ("description", "details") if task.get(k))
    sections = tuple(
        records.Section(label, str(task[key]), _line(task))
        for key, label in (("testStrategy", "Test strategy"), ("priority", "Priority"))
        if task.get(key)
    )
    return records.Record(
        id=prefix + tid,
        task_id=safe + tid if safe else "",
        title=str(task.get("title") or what),
        format=FORMAT,
        source=plans.SourceRef(path, _line(task)),
        status=status,
        status_raw=str(task.get("status") or ""),
        status_line=_line(task),
        statement=statement,
        subtasks=tuple(subtasks),
        depends_on=tuple({r.ref: r for r in reversed(refs)}[ref] for ref in dict.fromkeys(r.ref for r in refs)),
        sections=sections,
        group=prefix,
        chain=path + "#" + prefix,
        order=((index, ""),),
    )
