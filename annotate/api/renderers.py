"""The API's JSON, written by orjson: the same document as ninja's json.dumps renderer
(datetimes as Django writes them), several times faster on a page of rows."""

from __future__ import annotations

import orjson
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"
    # Datetimes, Decimal, UUID and the like as ninja's encoder writes them (Django's format).
    default = staticmethod(NinjaJSONEncoder().default)

    def render(self, request, data, *, response_status: int) -> bytes:
        return orjson.dumps(data, default=self.default, option=OPTIONS)
