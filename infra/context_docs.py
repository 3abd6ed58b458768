"""docs/configuration.md, generated from the one table of context keys (infra.config.CONTEXT_KEYS), so the page
cannot drift from what the app reads. Regenerate from the repository root with:
.venv/bin/python -m infra.context_docs > docs/configuration.md"""

from __future__ import annotations

from typing import Any

from infra.config import CONTEXT_KEYS

REGENERATE = ".venv/bin/python -m infra.context_docs > docs/configuration.md"

_HEADER = f"""\
# Configuration: the context keys

<!-- Generated from infra/config.py (CONTEXT_KEYS) by `{REGENERATE}`; do not edit by hand. -->

Set each key with `-c key=value` on `make deploy ARGS="..."` (or `make synth`), or in `cdk.json`. Every key is
validated before anything is synthesized: a wrong value stops the synth with a message that names the key.

| key | default | meaning |
|---|---|---|
"""

_FOOTER = """
More on the keys that need more than a line: [deploying.md](deploying.md#context-keys-in-more-detail) (the trail, the
recorder, the Powertools layer, concurrency, the stack name), [policy.md](policy.md) (`policyFile`), and
[cost.md](cost.md) (what `createTrail`, `trailEncryption` and `memberAlarms` cost).
"""


def _default(value: Any) -> str:
    """A default as it is written on the command line; an empty string means the key is unset by default."""
    if value == "":
        return "none"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    rows = [f"| `{key}` | {_default(default)} | {_cell(meaning)} |" for key, (default, meaning) in CONTEXT_KEYS.items()]
    return _HEADER + "\n".join(rows) + "\n" + _FOOTER


if __name__ == "__main__":
    print(render(), end="")
