"""The filesystem broker: a message appears in the queue folder whole, or not at all
(kombu's own transport creates the file, then writes it: a consumer polling in between read
an empty message and the worker died)."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from kombu import Connection, Queue

import annotate.celery  # noqa: F401  (installs our filesystem transport)


def test_a_message_is_renamed_into_the_queue_only_once_written(tmp_path):
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
    }
    (tmp_path / "control").mkdir()
    seen_at_rename: list[tuple[list[str], int]] = []
    real_replace = os.replace

    def watch(src, dst):
        # At the rename, no *.msg exists yet, and the part file holds the whole message.
        seen_at_rename.append(
            (sorted(p.name for p in tmp_path.glob("*.msg")), Path(src).stat().st_size)
        )
        return real_replace(src, dst)

    queue = Queue("q", routing_key="q")
    with (
        Connection("filesystem://", transport_options=options) as conn,
        mock.patch("annotate.broker.os.replace", side_effect=watch),
    ):
        conn.Producer().publish({"pad": "x" * 5000}, routing_key="q", declare=[queue])
        message = conn.SimpleQueue(queue).get(timeout=2)
    assert message.payload == {"pad": "x" * 5000}
    [(messages_before, size)] = seen_at_rename
    assert messages_before == [] and size > 5000
    assert not list(tmp_path.glob("*.part"))
