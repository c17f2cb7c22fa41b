"""The label page says how long the item stays held for you in words no reader can misread:
the time with its zone, and how long from now."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from annotate.labeling.models import Annotation, AnnotationState
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db


def test_the_hold_names_its_time_zone_and_the_minutes_left(client, owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    client.force_login(annotator)
    task_url = client.get(f"/projects/{project.pk}/next/")["Location"]
    held = timezone.now().replace(microsecond=0) + timedelta(minutes=28, seconds=30)
    mine = Annotation.objects.filter(annotator=annotator, state=AnnotationState.HELD)
    assert mine.update(held_until=held) == 1
    page = client.get(task_url).content.decode()
    note = re.search(r'data-testid="held-until">(.*?)</span>', page, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", note)
    # TIME_ZONE is UTC: the time as a clock in UTC reads it, and 28 whole minutes to go.
    assert text == f"held for you until {held.astimezone(UTC):%H:%M} UTC, 28\xa0minutes from now"
