"""kombu's filesystem transport, with messages that appear whole.

Its `_put` creates the message file and only then writes it; a consumer polling at that
moment reads an empty file, fails to parse it and the worker dies (celery/kombu#1551, seen
here when a worker's watchdog rang a run as the worker polled). Writing to a `.part` name and
renaming it into place makes each message appear complete or not at all.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        part = f"{final}.part"  # not *.msg: consumers skip it until it is renamed
        try:
            with open(part, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(part, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
