"""One error hierarchy: every error sgwatch raises on purpose is an SgwatchError, and says what to fix."""

from __future__ import annotations


class SgwatchError(Exception):
    """Base of sgwatch's own errors."""


class ConfigError(SgwatchError, ValueError):
    """Configuration is wrong (CDK context, the function's environment, a policy file); the message names the key,
    variable or line and what it accepts."""


class PolicyError(ConfigError):
    """The policy file is wrong; the message names the file, the line and the field."""


class RecordError(SgwatchError, ValueError):
    """A record that cannot be understood. `field` is the dotted path of the offending value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


def error_code(error: BaseException) -> str:
    """The AWS error code of a failed call ("AccessDenied"), or "" for errors that never reached AWS. Reads botocore's
    ClientError.response without importing botocore."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
