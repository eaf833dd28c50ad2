"""The ``dtf`` command: up, submit, status (and the analytics commands as they land)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from coordinator import cli_more, tokens
from coordinator.client import ApiClient, ApiError
from coordinator.console import print_summary, table, wait_for

DEFAULT_URL = "http://127.0.0.1:8080"


def _client(args: argparse.Namespace) -> ApiClient:
    url, token = resolve_endpoint(args)
    return ApiClient(url, token)


def resolve_endpoint(args: argparse.Namespace) -> tuple[str, str | None]:
    """The coordinator's URL and API token: flags, then DTF_URL / DTF_API_TOKEN, then what
    ``dtf up`` left in the data dir, then http://127.0.0.1:8080 with no token."""
    data_dir = Path(args.data_dir)
    url = args.url or tokens.read_address(data_dir) or DEFAULT_URL
    token = args.api_token
    if token is None and (data_dir / tokens.API_TOKEN_FILE).exists():
        try:
            token = tokens.read(data_dir / tokens.API_TOKEN_FILE)
        except tokens.TokenFileError as exc:
            raise ApiError(str(exc)) from None
    return url, token


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("DTF_URL"),
                   help=f"coordinator base URL (env DTF_URL; default: the one `dtf up` recorded in the data "
                        f"dir, else {DEFAULT_URL})")
    p.add_argument("--api-token", default=os.environ.get("DTF_API_TOKEN"),
                   help="API token (env DTF_API_TOKEN; default: the data dir's api_token file)")
    p.add_argument("--data-dir", default=os.environ.get("DTF_DATA_DIR", "./.dtf"),
                   help="where `dtf up` keeps its state, token and address (env DTF_DATA_DIR; default ./.dtf)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dtf", description="dtf: distributed testing with built-in error handling")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run a coordinator and N local workers in one command")
    up.add_argument("--workers", type=int, default=2, help="local workers to start (default 2)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--data-dir", default=os.environ.get("DTF_DATA_DIR", "./.dtf"),
                    help="where the SQLite and DuckDB files, logs and tokens live (env DTF_DATA_DIR)")
    up.add_argument("--concurrency", type=int, default=0,
                    help="tasks each worker runs at once (default: the machine's cores shared among the workers)")
    up.add_argument("--demo", action="store_true", help="submit the demonstration suite (with injected faults)")
    up.add_argument("--exit-after-demo", action="store_true", help="stop everything once the demo has finished")
    up.add_argument("--log-level", default="WARNING", help="log level of the started processes")

    s = sub.add_parser("submit", help="submit tasks (a JSON/JSONL file, or one task from flags)")
    _common(s)
    s.add_argument("--file", help="JSON task, JSON list of tasks, {'tasks': [...]} or JSONL; '-' for stdin")
    s.add_argument("--type", help="task type for a single task (command, pytest, python, benchmark, chaos)")
    s.add_argument("--config", help="task config as JSON")
    s.add_argument("--command", dest="shell", help="shortcut: a command task running this shell line")
    s.add_argument("--priority", type=int)
    s.add_argument("--timeout", type=float, help="timeout_seconds")
    s.add_argument("--max-retries", type=int)
    s.add_argument("--count", type=int, default=1, help="submit the single task this many times")
    s.add_argument("--wait", action="store_true", help="show progress until all finish, then a summary")

    st = sub.add_parser("status", help="task counts, queue depth and workers")
    _common(st)
    st.add_argument("--json", action="store_true", help="print raw JSON")

    sub.add_parser("test", add_help=False, help="run a pytest suite over the fleet (dtf test --help)")
    tok = sub.add_parser("token", help="print the API token `dtf up` (or the compose coordinator) generated")
    tok.add_argument("--data-dir", default=os.environ.get("DTF_DATA_DIR", "./.dtf"),
                     help="the data dir holding api_token (env DTF_DATA_DIR; default ./.dtf)")

    cli_more.add_commands(sub, _common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["test"]:  # its own parser: every argument it does not know goes to pytest
        # Imported when used, here and below: a client command loads none of the others' modules.
        from coordinator.testrun.command import main as test_main
        return test_main(argv[1:], resolve_endpoint)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "up":
            from coordinator.local import run_up  # start-up speed, as above
            return run_up(args)
        if args.command == "submit":
            return cmd_submit(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "token":
            return cmd_token(args)
        return cli_more.run(args, _client(args))
    except ApiError as exc:
        print(f"dtf: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def cmd_token(args: argparse.Namespace) -> int:
    try:
        print(tokens.read(Path(args.data_dir) / tokens.API_TOKEN_FILE))
    except tokens.TokenFileError as exc:
        print(f"dtf: {exc}; start the coordinator with `dtf up --data-dir {args.data_dir}` (or with "
              "--api-token-file) first", file=sys.stderr)
        return 1
    return 0


def _load_tasks(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.file:
        try:
            raw = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
        except OSError as exc:
            raise ApiError(f"--file {args.file}: {exc.strerror or exc}") from None
        raw = raw.strip()
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = []
            for n, line in enumerate(raw.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ApiError(f"--file {args.file}: line {n} is not JSON (nor is the whole file): {exc}") \
                        from None
        if isinstance(data, dict):
            data = data["tasks"] if "tasks" in data and "type" not in data else [data]
        if not isinstance(data, list):
            raise ApiError(f"--file {args.file}: expected a task object, a list of tasks or {{'tasks': [...]}}")
        return data
    if args.shell:
        task: dict[str, Any] = {"type": "command", "config": {"command": args.shell}}
    elif args.type:
        try:
            config = json.loads(args.config) if args.config else {}
        except json.JSONDecodeError as exc:
            raise ApiError(f"--config: not JSON: {exc}") from None
        task = {"type": args.type, "config": config}
    else:
        raise ApiError("give --file, --command or --type (with --config)")
    for key, value in (("priority", args.priority), ("timeout_seconds", args.timeout),
                       ("max_retries", args.max_retries)):
        if value is not None:
            task[key] = value
    return [task] * max(1, args.count)


def cmd_submit(args: argparse.Namespace) -> int:
    client = _client(args)
    tasks = _load_tasks(args)
    ids: list[str] = []
    for i in range(0, len(tasks), 5000):
        ids += client.post("/api/v1/tasks", {"tasks": tasks[i:i + 5000]})["task_ids"]
    if not args.wait:
        for tid in ids:
            print(tid)
        return 0
    summary = wait_for(client, ids, show_progress=True)
    print_summary(summary)
    return 0 if set(summary["counts"]) <= {"completed"} else 1


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    st = client.get("/api/v1/status")
    workers = client.get("/api/v1/workers")["items"]
    if args.json:
        print(json.dumps({"status": st, "workers": workers}, indent=2))
        return 0
    print(f"uptime {st['uptime_seconds']:.0f}s, queue depth {st['queue_depth']}")
    print(table([[k, v] for k, v in sorted(st["tasks"].items())], ["task status", "count"]))
    print()
    rows = [[w["worker_id"], w["state"], ",".join(w["hardware"].get("types", [])), len(w["running_tasks"]),
             w.get("completed", 0), sum(w["error_counts"].values())] for w in workers]
    print(table(rows, ["worker", "state", "hardware", "running", "completed", "errors"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
