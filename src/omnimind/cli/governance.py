"""`omnimind policy …`, `omnimind review …`, `omnimind decisions …`: the governance faces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from omnimind.cli.common import console, open_lab, print_json
from omnimind.errors import PolicyError
from omnimind.governance import Resource
from omnimind.lab.governance import export_decisions, lab_resource, principal

policy_app = typer.Typer(no_args_is_help=True, help="The Cedar policy set in force.")
review_app = typer.Typer(no_args_is_help=True, help="Actions waiting for human review.")
decisions_app = typer.Typer(no_args_is_help=True, help="Every governance decision, on the record.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _resource(lab: Any, text: str | None) -> Resource:
    if not text:
        return lab_resource(lab)
    kind, _, ident = text.partition("::")
    if not ident:
        raise PolicyError(f"resource {text!r} is not TYPE::ID", 'e.g. Run::3fa2c1d0e9b8 or Lab::default')
    return lab_resource(lab, kind, ident.strip('"'))


@policy_app.command("check")
def policy_check(action: Annotated[str, typer.Argument(help="e.g. run, restore, audit.erase")],
                 as_user: Annotated[str | None, typer.Option("--as", help="user to check for (default: you)")]
                 = None,
                 resource: Annotated[str | None, typer.Option(help="TYPE::ID (default: the lab)")] = None,
                 fact: Annotated[list[str] | None, typer.Option("--context", help="KEY=VALUE (true/false/int "
                                                                 "parsed)")] = None,
                 json_out: JsonOpt = False) -> None:
    """Dry run: what the gate would decide, and why. Changes nothing."""
    ctx: dict[str, Any] = {}
    for item in fact or []:
        key, _, value = item.partition("=")
        ctx[key] = {"true": True, "false": False}.get(value, int(value) if value.lstrip("-").isdigit() else value)
    with open_lab() as lab:
        decision = lab.gate.explain(action, principal(lab, as_user), _resource(lab, resource), ctx)
    if json_out:
        print_json({"outcome": decision.outcome, "action": decision.action,
                    "principal": decision.principal.to_json(), "resource": decision.resource.to_json(),
                    "context": dict(decision.context), "policies": list(decision.policy_ids),
                    "reasons": list(decision.reasons), "errors": list(decision.errors),
                    "required_reviewers": decision.required_reviewers, "policy_version": decision.policy_version})
    else:
        typer.echo(decision.explain())


@policy_app.command("show")
def policy_show(json_out: JsonOpt = False) -> None:
    """The policy set in force (version, digest, text)."""
    with open_lab() as lab:
        shown = lab.gate.show_policies()
    if json_out:
        print_json(shown.to_json())
    else:
        typer.echo(f"// policy set version {shown.version}, sha256 {shown.digest}, by {shown.author} "
                   f"at {shown.created_at}")
        typer.echo(shown.text, nl=False)


@policy_app.command("update")
def policy_update(file: Annotated[Path, typer.Argument(help="a .cedar file with the whole new policy set")],
                  note: Annotated[str, typer.Option(help="why (kept in the record)")] = "",
                  json_out: JsonOpt = False) -> None:
    """Replace the policy set (validated by Cedar; itself governed, logged and versioned)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {file}: {exc.strerror}", "check the path") from exc
    with open_lab() as lab:
        version = lab.gate.update_policies(text, principal(lab), note=note)
    out: dict[str, Any] = {"version": version.version, "digest": version.digest}
    if json_out:
        print_json(out)
    else:
        console.print(f"policy set version {out['version']} in force (sha256 {out['digest'][:16]}…)")


@review_app.command("list")
def review_list(status: Annotated[str | None, typer.Option(help="pending (default), approved, rejected, "
                                                           "expired, consumed; 'all' for every one")] = "pending",
                json_out: JsonOpt = False) -> None:
    """Review requests."""
    with open_lab() as lab:
        reqs = lab.gate.reviews.list(status=None if status == "all" else status)
    rows = [r.to_json() if hasattr(r, "to_json") else dict(r.__dict__) for r in reqs]
    if json_out:
        print_json(rows)
        return
    table = Table("id", "action", "requested by", "resource", "needs", "approvals", "status", "expires")
    for r in rows:
        table.add_row(str(r.get("id")), str(r.get("action")), str(r.get("principal")), str(r.get("resource")),
                      str(r.get("required")), str(len(r.get("approvals") or [])), str(r.get("status")),
                      str(r.get("expires_at")))
    console.print(table)


def _review(verb: str, request_id: str, reason: str, json_out: bool) -> None:
    with open_lab() as lab:
        fn = lab.gate.approve if verb == "approve" else lab.gate.reject
        req = fn(request_id, principal(lab), reason)
    data = req.to_json() if hasattr(req, "to_json") else dict(req.__dict__)
    if json_out:
        print_json(data)
    else:
        console.print(f"request {request_id}: {data.get('status')}")


@review_app.command("approve")
def review_approve(request_id: Annotated[str, typer.Argument()],
                   reason: Annotated[str, typer.Option("--reason", help="why (kept in the record)")],
                   json_out: JsonOpt = False) -> None:
    """Approve a request (you must be a reviewer or admin, and not its requester)."""
    _review("approve", request_id, reason, json_out)


@review_app.command("reject")
def review_reject(request_id: Annotated[str, typer.Argument()],
                  reason: Annotated[str, typer.Option("--reason", help="why (kept in the record)")],
                  json_out: JsonOpt = False) -> None:
    """Reject a request (one rejection ends it)."""
    _review("reject", request_id, reason, json_out)


@decisions_app.command("list")
def decisions_list(action: Annotated[str | None, typer.Option()] = None,
                   decision: Annotated[str | None, typer.Option(help="allow, deny or escalate")] = None,
                   user: Annotated[str | None, typer.Option("--principal")] = None,
                   since: Annotated[str | None, typer.Option()] = None,
                   until: Annotated[str | None, typer.Option()] = None,
                   limit: Annotated[int, typer.Option()] = 50,
                   json_out: JsonOpt = False) -> None:
    """Decisions, newest first, filtered."""
    filters: dict[str, Any] = {k: v for k, v in (("action", action), ("decision", decision), ("principal", user),
                                                 ("since", since), ("until", until)) if v is not None}
    with open_lab() as lab:
        rows = lab.gate.decisions.list(limit=limit, **filters)
    if json_out:
        print_json(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["id", "action", "decision"]))
    for r in rows:
        table.add_row(*(str(v)[:40] for v in r.values()))
    console.print(table)


@decisions_app.command("show")
def decisions_show(decision_id: Annotated[str, typer.Argument()],
                   proof: Annotated[bool, typer.Option("--proof", help="include the inclusion proof")] = False) -> None:
    """One decision record (JSON)."""
    with open_lab() as lab:
        print_json(lab.gate.decisions.show(decision_id, proof=proof))


@decisions_app.command("export")
def decisions_export(output: Annotated[Path, typer.Option("--output", "-o")],
                     fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or parquet")] = "jsonl",
                     action: Annotated[str | None, typer.Option()] = None,
                     decision: Annotated[str | None, typer.Option()] = None) -> None:
    """Export decisions, each with its inclusion proof."""
    filters = {k: v for k, v in (("action", action), ("decision", decision)) if v is not None}
    with open_lab() as lab:
        n = export_decisions(lab, fmt, output, **filters)
    console.print(f"wrote {n} decision(s) to {output}")


users_app = typer.Typer(no_args_is_help=True, help="Users and their roles in this lab (lab.toml [users]).")


@users_app.command("set")
def users_set(user: Annotated[str, typer.Argument()],
              role: Annotated[list[str] | None, typer.Option("--role", help="admin, researcher, reviewer, auditor "
                                                             "(repeatable; none removes the user)")] = None) -> None:
    """Set a user's roles."""
    with open_lab() as lab:
        lab.set_roles(user, list(role or []))
        console.print(f"{user}: {', '.join(lab.config.users.get(user, [])) or '(removed)'}")


@users_app.command("list")
def users_list(json_out: JsonOpt = False) -> None:
    """Users and roles."""
    with open_lab() as lab:
        users = dict(lab.config.users)
    if json_out:
        print_json(users)
    else:
        for name, roles in users.items():
            console.print(f"{name}: {', '.join(roles)}")


def register(app: typer.Typer) -> None:
    """Add policy, review, decisions and users to the root app."""
    app.add_typer(users_app, name="users")
    app.add_typer(policy_app, name="policy")
    app.add_typer(review_app, name="review")
    app.add_typer(decisions_app, name="decisions")
