"""StrictModel: the base of every config model (frozen, unknown keys refused with a suggestion)."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class StrictModel(BaseModel):
    """Frozen, no extra keys: an unknown key is an error that names the closest known key."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [info.alias or name for name, info in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    hint = did_you_mean(str(key), known) or f"; known keys: {', '.join(sorted(known))}"
                    raise PydanticCustomError(
                        "unknown_field", "unknown key '{key}'{hint}", {"key": str(key), "hint": hint}
                    )
        return data
