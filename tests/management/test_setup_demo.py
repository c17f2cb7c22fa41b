"""setup_demo's first words to someone trying the app: the admin's password, and no address
that may be wrong (run.sh serves on $ANNOTATE_PORT and prints the address itself)."""

from __future__ import annotations

import io

import pytest

from annotate.management.commands.setup_demo import Command

pytestmark = pytest.mark.django_db


def test_the_admin_password_is_given_without_a_guessed_address(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    Command(stdout=out)._admin()
    password = (tmp_path / "admin-password.txt").read_text().strip()
    said = out.getvalue()
    assert f"Log in as admin / {password}" in said
    assert "http://" not in said and ":8000" not in said
