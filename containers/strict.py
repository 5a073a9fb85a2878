"""StrictModel: the base of every config model (frozen, unknown keys refused with a suggestion)."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

MAX_INTEGER = 2**53  # beyond this a number no longer fits numpy's int64 and float64 exactly


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class StrictModel(BaseModel):
    """Frozen, no extra keys: an unknown key is an error that names the closest known key."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [info.alias or name for name, info in cls.model_fields.items()]
            for key, value in data.items():
                if key not in known:
                    hint = did_you_mean(str(key), known) or f"; known keys: {', '.join(sorted(known))}"
                    raise PydanticCustomError(
                        "unknown_field", "unknown key '{key}'{hint}", {"key": str(key), "hint": hint}
                    )
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
                    raise PydanticCustomError(
                        "too_large", "{key}: the {digits}-digit integer is too large; at most {limit}",
                        {"key": str(key), "digits": len(str(abs(value))), "limit": f"{MAX_INTEGER:,}"})
        return data
