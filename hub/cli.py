"""plugin-hub: run the hub, administer it, and start and register plugins from the shell.

This module imports only what the SDK installs: `plugin-hub init` works in an SDK-only
install, and the commands that need the hub say which extra to install instead of failing
with an import error. Their work is in hub/commands.py.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from ango_plugins_sdk.protocol import JobType

HUB_EXTRA_HINT = "pip install 'plugin-hub[hub]'"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.run
    return command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plugin-hub", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_hub_command("serve"))

    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade the database schema, then exit (`serve` also does it)",
        description="Apply the schema migrations to HUB_DATABASE_URL's database (or the data "
        "dir's SQLite file) and exit; safe to run again, and beside other hubs starting at "
        "once (on PostgreSQL they take turns on an advisory lock).",
    )
    migrate.set_defaults(run=_hub_command("migrate"))

    init = commands.add_parser(
        "init",
        help="write a working plugin of a type into a new folder",
        description="Write a plugin of TYPE into DIR: its manifest (plugin.toml), plugin.py, "
        "a test that runs the callback locally, requirements.txt, README.md, .env.example "
        "and a Dockerfile. Needs only the SDK.",
    )
    init.add_argument("type", metavar="TYPE", choices=[t.value for t in JobType])
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--name", help="the plugin's name (default: from DIR)")
    init.set_defaults(run=_init)

    admin = commands.add_parser("admin", help="users").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_admin = admin.add_parser("create", help="create an owner and print its first API key")
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--password", required=True)
    create_admin.add_argument("--org", required=True, help="organization name (created if new)")
    create_admin.set_defaults(run=_hub_command("create_admin", with_hub=True))

    plugin = commands.add_parser("plugin", help="plugins").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_plugin = plugin.add_parser("create", help="register a plugin; prints its id and secret")
    create_plugin.add_argument("--org", required=True, help="organization name")
    create_plugin.add_argument("--name", required=True)
    create_plugin.add_argument("--type", required=True, choices=[t.value for t in JobType])
    create_plugin.add_argument("--class-names", default="", help="comma-separated")
    create_plugin.add_argument("--default-config", default="{}", help="a JSON object")
    create_plugin.add_argument("--description", default="")
    create_plugin.set_defaults(run=_hub_command("create_plugin", with_hub=True))

    push = plugin.add_parser(
        "push",
        help="create or update a plugin from its manifest; prints its id (and new secret)",
        description="Register the plugin described by PATH's manifest (a folder with "
        "plugin.toml or a [tool.plugin-hub] table in pyproject.toml, or the file itself) in "
        "ORG, or update the plugin pushed before with the same key. Prints JSON with the id; "
        "the secret only when the plugin is created, or with --rotate. Safe to run again.",
    )
    push.add_argument("path", metavar="PATH")
    where = push.add_mutually_exclusive_group(required=True)
    where.add_argument("--org", help="organization name, on this machine's hub database")
    where.add_argument(
        "--hub",
        metavar="URL",
        help="or push over the REST API of the hub at URL, as the owner of HUB_API_KEY "
        "(needs only the SDK)",
    )
    push.add_argument(
        "--rotate", action="store_true", help="also issue a new secret (the old one stops working)"
    )
    push.set_defaults(run=_push)
    return parser


def _hub_command(name: str, *, with_hub: bool = False) -> Callable[[argparse.Namespace], int]:
    """A command that needs the hub's dependencies, loaded only when it runs."""

    def run(args: argparse.Namespace) -> int:
        try:
            commands: Any = importlib.import_module("hub.commands")
            from hub.settings import Settings, SettingsError
        except ModuleNotFoundError as exc:
            print(
                f"plugin-hub: this command needs the hub, whose dependencies are not installed "
                f"(no module named {exc.name!r}); install them with: {HUB_EXTRA_HINT}",
                file=sys.stderr,
            )
            return 2
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            print(f"plugin-hub: {exc}", file=sys.stderr)
            return 2
        action = getattr(commands, name)
        command = commands.with_hub(action) if with_hub else action
        result: int = command(args, settings)
        return result

    return run


def _push(args: argparse.Namespace) -> int:
    from ango_plugins_sdk.manifest import ManifestError, load_manifest

    try:  # before anything else: a bad manifest changes nothing anywhere
        args.manifest = load_manifest(args.path)
    except ManifestError as exc:
        print(f"plugin-hub: {exc}", file=sys.stderr)
        return 1
    if args.org is not None:
        return _hub_command("push_plugin", with_hub=True)(args)
    return _push_over_http(args)


def _push_over_http(args: argparse.Namespace) -> int:
    """`plugin push --hub URL`: the manifest read here, its files included, sent as JSON to
    `PUT /api/v1/plugins/by-key/{key}`; the answer printed as the local push prints it."""
    import json
    import os
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(args.hub)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        print(f"plugin-hub: --hub must be an http(s) URL, not {args.hub!r}", file=sys.stderr)
        return 2
    api_key = os.environ.get("HUB_API_KEY", "")
    if not api_key:
        print("plugin-hub: --hub needs an API key in HUB_API_KEY", file=sys.stderr)
        return 2
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"plugin-hub: warning: sending the API key to {parts.hostname} unencrypted (http)",
            file=sys.stderr,
        )
    manifest = args.manifest
    # Only what the manifest sets: a key it leaves out keeps the plugin's current value.
    body = manifest.model_dump(mode="json", exclude_unset=True)
    body["source"] = str(manifest.source)  # so that the hub's errors name this file
    url = f"{args.hub.rstrip('/')}/api/v1/plugins/by-key/{urllib.parse.quote(manifest.key)}"
    request = urllib.request.Request(  # noqa: S310 (an http(s) URL, checked above)
        url + ("?rotate=true" if args.rotate else ""),
        data=json.dumps(body).encode("utf-8"),
        method="PUT",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            answer = json.load(response)
    except ValueError:  # a 2xx that is not JSON: a proxy, or not a hub at that URL
        print(f"plugin-hub: {args.hub} did not answer as a hub does", file=sys.stderr)
        return 1
    except urllib.error.HTTPError as exc:
        print(f"plugin-hub: the hub answered {exc.code}: {_error_message(exc)}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"plugin-hub: cannot reach {args.hub}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0


def _error_message(error: Any) -> str:
    import json

    try:
        return str(json.load(error)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(error.reason)


def _init(args: argparse.Namespace) -> int:
    from ango_plugins_sdk.scaffold import ScaffoldError, write_plugin

    try:
        written = write_plugin(JobType(args.type), args.dir, name=args.name)
    except ScaffoldError as exc:
        print(f"plugin-hub: {exc}", file=sys.stderr)
        return 1
    print(f"wrote a {args.type} plugin in {args.dir}:")
    for path in written:
        print(f"  {path}")
    print(f"next: see {args.dir}/README.md (test it, push it, run it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
