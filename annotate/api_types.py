"""Types the REST API's routers share."""

from typing import Annotated

from pydantic import Field

# A primary key: bounded, so a huge number is a 422, not a database error.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
