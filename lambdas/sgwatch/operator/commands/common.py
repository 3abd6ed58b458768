"""What the commands share: exit statuses, the `--format` option, policy loading, classifying a stream of inputs
with a summary of it, progress on a terminal, and the check for a command's optional dependencies."""

from __future__ import annotations

import argparse
import importlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TextIO, TypeAlias

from sgwatch.core.classify import DEFAULT_SETTINGS, Classification, classify
from sgwatch.core.envelopes import Item
from sgwatch.core.policy import Policy, apply_policy, read_policy
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import GUESSED_BY_NAME, OwnResources
from sgwatch.core.text import clean

EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE = 0, 1, 2
EXIT_FOUND = 1  # scan: something at or above the threshold is open

#: What `add_subparsers()` returns, which each command module registers itself with.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

JSON, TEXT, OCSF, ASFF = "json", "text", "ocsf", "asff"
#: The name audit and history gave the text form before --format was shared; scripts that pass it keep working.
_FORMAT_ALIASES = {"table": TEXT}


def stack_option() -> argparse.ArgumentParser:
    """The parent parser of the commands that judge tamper calls: which resources are sgwatch's."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--stack-name",
        default=GUESSED_BY_NAME.stack_name,
        metavar="NAME",
        help="sgwatch's stack name: rules, functions, queues, topics and stacks whose names start with it are taken"
        f" for sgwatch's own when a call could blind the monitor (default {GUESSED_BY_NAME.stack_name})",
    )
    return parent


def own_resources(args: argparse.Namespace) -> OwnResources:
    return OwnResources(stack_name=args.stack_name)


def output_options(default: str, extra: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The parent parser of every command that prints results: `--format` has one meaning (json: one document per
    result, for programs; text: for reading). The default is each command's own: classify feeds programs (json),
    audit and history are read by a person at a terminal (text). `table` is accepted as another name for text."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--format",
        type=lambda value: _FORMAT_ALIASES.get(value, value),
        choices=(JSON, TEXT, *extra),
        default=default,
        help=f"output form (default {default})",
    )
    return parent


class MissingDependency(Exception):
    """A command needs an optional dependency that is not installed; the message names the extra that brings it."""


def require(command: str, extra: str, *modules: str) -> None:
    """Import each module, or raise MissingDependency saying what to install (`main` prints it, exit status 2)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise MissingDependency(f"sgwatch {command} needs {module}: pip install 'sgwatch[{extra}]'") from error


def load_policy(path: str | None) -> Policy | None:
    """The policy at path, validated; PolicyError names the line and field."""
    if not path:
        return None
    return read_policy(path)


def classified(
    items: Iterable[Item],
    counts: Counter[str],
    policy: Policy | None = None,
    notes: Callable[[str], object] | None = None,
    own: OwnResources = GUESSED_BY_NAME,
) -> Iterable[Classification]:
    """Each item classified, in order; errors become results with `error`; notes (inputs passed over) go to notes.
    `own` says which resources are sgwatch's (from --stack-name: a guess by name)."""
    settings = replace(policy.settings if policy else DEFAULT_SETTINGS, own=own)
    for item in items:
        if item.skipped:
            counts["skipped"] += item.skipped
            continue
        if item.note:
            counts["not regular"] += 1
            if notes is not None:
                notes(item.note)
            continue
        if item.error:
            counts["unreadable"] += 1
            yield Classification(error=item.error, location=item.location)
            continue
        try:
            result = classify(
                item.record, location=item.location, account=item.account, region=item.region, settings=settings
            )
        except Exception as error:  # classify() does not raise by contract; one record must not end the run if it does
            problem = "nested too deeply" if isinstance(error, RecursionError) else f"{type(error).__name__}: {error}"
            result = Classification(
                error=f"{item.location}: could not be classified ({problem})", location=item.location
            )
        if policy is not None:
            result = apply_policy(result, policy)
        if result.error:
            counts["unreadable"] += 1
        elif not result.watched:
            counts["skipped"] += 1
        else:
            counts[result.severity.name] += 1
            counts["tamper"] += result.tamper is not None
        yield result


def notes_to(err: TextIO, command: str) -> Callable[[str], object]:
    return lambda note: err.write(f"sgwatch {command}: {clean(note, 2000)}\n")


def summary(counts: Counter[str]) -> str:
    changes = sum(counts[severity.name] for severity in Severity)
    by_severity = ", ".join(
        f"{counts[severity.name]} {severity.name}"
        for severity in sorted(Severity, reverse=True)
        if counts[severity.name]
    )
    detail = f" ({by_severity})" if by_severity else ""
    not_regular = f"; {counts['not regular']} inputs skipped (not regular files)" if counts["not regular"] else ""
    records = f"{changes} security-group records"
    if counts["tamper"]:
        records = f"{changes - counts['tamper']} security-group records and {counts['tamper']} tamper records"
    return (
        f"sgwatch: {records}{detail}; {counts['skipped']} other records skipped;"
        f" {counts['unreadable']} unreadable{not_regular}"
    )


def progress(err: TextIO, label: str, total: int) -> Callable[..., None] | None:
    """A progress line on stderr when it is a terminal (per region done, or records so far in one region)."""
    if not err.isatty():
        return None
    done: list[str] = []

    def report(region: str, records: int | None = None) -> None:
        if records is None:
            done.append(region)
            err.write(f"\r{label}: {len(done)}/{total} regions")
        else:
            err.write(f"\r{label}: {region}, {records} records so far   ")
        err.flush()

    return report
