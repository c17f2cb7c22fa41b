"""Types the REST API's routers share."""

from typing import Annotated, Any

from ninja import Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import ConfigDict, Field, model_validator

# A primary key: bounded, so a huge number is a 422, not a database error.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class In(Schema):
    """A request body: unknown fields refused, and no NUL character anywhere (no database
    text field can hold one)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("Text cannot contain NUL characters.")
        return data


class Pages(LimitOffsetPagination):
    """Ninja's limit/offset pages with the offset bounded too: an offset past what a
    database index can hold is a 422, not a database error."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=1000)
        offset: int = Field(0, ge=0, le=10**9)
