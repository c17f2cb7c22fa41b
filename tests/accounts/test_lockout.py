"""Sign-in throttling: failures cool down one user name from one address, never the account."""

from __future__ import annotations

import base64

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
ALICE_HOME = "198.51.100.4"
PROXY = "10.0.0.2"
COOLED_DOWN = (
    "Too many failed sign-ins for this user name from your address: try again in 15 minutes."
)


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()


def sign_in_page(client, password: str, **meta):
    return client.post("/accounts/login/", {"username": "alice", "password": password}, **meta)


def sign_in_api(password: str, **meta):
    # A client of its own: no session from an earlier sign-in on the page can answer for it.
    return Client().get("/api/projects", HTTP_AUTHORIZATION=basic(password), **meta)


def fail_ten_times(client, **meta) -> None:
    # Half through the page, half through Basic auth: both count towards one limit.
    for _ in range(5):
        sign_in_page(client, "wrong", **meta)
        sign_in_api("wrong", **meta)


def test_a_stranger_cannot_lock_alice_out_from_her_own_address(client, alice):
    fail_ten_times(client, REMOTE_ADDR=ATTACKER)

    assert sign_in_page(client, "pw-alice-123", REMOTE_ADDR=ALICE_HOME).status_code == 302
    assert sign_in_api("pw-alice-123", REMOTE_ADDR=ALICE_HOME).status_code == 200


def test_the_failing_address_is_cooled_down_with_a_clear_message(client, alice):
    fail_ten_times(client, REMOTE_ADDR=ATTACKER)

    page = sign_in_page(client, "pw-alice-123", REMOTE_ADDR=ATTACKER)
    assert page.status_code == 429 and COOLED_DOWN in page.content.decode()
    assert "_auth_user_id" not in client.session
    api = sign_in_api("pw-alice-123", REMOTE_ADDR=ATTACKER)
    assert api.status_code == 429 and api.json() == {"detail": COOLED_DOWN}


def test_the_limit_is_reached_only_at_the_tenth_failure(client, alice):
    for _ in range(9):
        assert sign_in_page(client, "wrong", REMOTE_ADDR=ATTACKER).status_code == 200

    assert sign_in_page(client, "pw-alice-123", REMOTE_ADDR=ATTACKER).status_code == 302


def test_clients_behind_the_proxy_do_not_block_each_other(client, alice, settings):
    settings.BEHIND_TLS_PROXY = True
    # The attacker forges X-Forwarded-For; our proxy appends the address it really saw.
    for forged in range(10):
        sign_in_page(
            client,
            "wrong",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"{ALICE_HOME}, 192.0.2.{forged}, {ATTACKER}",
        )

    at_home = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": ALICE_HOME}
    assert sign_in_page(client, "pw-alice-123", **at_home).status_code == 302
    assert sign_in_api("pw-alice-123", **at_home).status_code == 200
    from_attacker = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"192.0.2.99, {ATTACKER}"}
    assert sign_in_page(client, "pw-alice-123", **from_attacker).status_code == 429
    assert sign_in_api("pw-alice-123", **from_attacker).status_code == 429


def test_a_forged_forwarded_for_is_ignored_without_the_proxy(client, alice, settings):
    settings.BEHIND_TLS_PROXY = False
    # A new forged address on every try must not buy the attacker fresh attempts.
    for forged in range(10):
        sign_in_api("wrong", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{forged}")

    spoofed = {"REMOTE_ADDR": ATTACKER, "HTTP_X_FORWARDED_FOR": ALICE_HOME}
    assert sign_in_page(client, "pw-alice-123", **spoofed).status_code == 429
    assert sign_in_api("pw-alice-123", **spoofed).status_code == 429
    assert sign_in_page(client, "pw-alice-123", REMOTE_ADDR=ALICE_HOME).status_code == 302


def test_a_mistyped_password_is_never_stored(client, alice):
    sign_in_page(client, "pw-alice-124", REMOTE_ADDR=ATTACKER)
    sign_in_api("pw-alice-125", REMOTE_ADDR=ATTACKER)

    attempt = AccessAttempt.objects.get(username="alice", ip_address=ATTACKER)
    assert attempt.failures_since_start == 2
    assert "pw-alice" not in f"{attempt.post_data} {attempt.get_data}"
