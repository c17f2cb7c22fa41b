"""A project's people without Django's admin (issue 16): add by user name or e-mail, a role
changed in place, a new account with a one-time set-password link, an account deactivated.
Each action is tried through its domain function, the page and the API, and refused to the
owner of another project, an annotator and an outsider."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.accounts import actions as accounts
from annotate.accounts.models import ApiToken
from annotate.labeling import actions
from annotate.labeling.models import ProjectMember
from inference.errors import Invalid
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long new passphrase 42"


@pytest.fixture
def project(owner, mlx_config):
    return make_project(owner, mlx_config, n=2)


@pytest.fixture
def other_owner(django_user_model, owner):
    """Owns another project and has the manager permission, but is not in this one."""
    user = django_user_model.objects.create_user("otto", password="pw-otto-123")
    user.groups.set(owner.groups.all())
    return user


def _refusers(project, annotator, outsider, other_owner):
    join(project, annotator)
    return (other_owner, annotator, outsider)


def _link_path(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


# --- add by user name or e-mail ---------------------------------------------------------


def test_it_adds_a_person_by_e_mail_in_any_letter_case(owner, project, django_user_model):
    person = django_user_model.objects.create_user("dora", email="Dora@Example.com")
    member = actions.add_member(owner, project.pk, "dora@example.COM", "reviewer")
    assert (member.user, member.role) == (person, "reviewer")


def test_an_unknown_person_is_offered_an_account_on_the_page(owner_client, project):
    response = owner_client.post(
        f"/projects/{project.pk}/members/", {"who": "new@example.com", "role": "annotator"}
    )
    assert response.status_code == 302
    page = owner_client.get(response["Location"])
    html = page.content.decode()
    assert "No account with the e-mail &#x27;new@example.com&#x27;." in html
    assert 'value="new@example.com"' in html  # the new-account form, filled in
    assert not ProjectMember.objects.filter(project=project).exists()


def test_the_api_adds_by_e_mail_and_answers_404_for_an_unknown_one(
    owner_client, project, django_user_model
):
    django_user_model.objects.create_user("dora", email="dora@example.com")
    url = f"/api/projects/{project.pk}/members"
    ok = owner_client.post(url, {"email": "dora@example.com"}, content_type="application/json")
    unknown = owner_client.post(url, {"email": "x@example.com"}, content_type="application/json")
    both = owner_client.post(
        url, {"email": "a@b.c", "username": "dora"}, content_type="application/json"
    )
    assert ok.status_code == 201 and ok.json() == {"username": "dora", "role": "annotator"}
    assert unknown.status_code == 404 and "x@example.com" in unknown.json()["detail"]
    assert both.status_code == 422


def test_a_deactivated_account_is_not_added(owner, project, django_user_model):
    django_user_model.objects.create_user("gone", is_active=False)
    with pytest.raises(Invalid, match="deactivated"):
        actions.add_member(owner, project.pk, "gone", "annotator")


# --- a role in place ----------------------------------------------------------------------


def test_an_owner_changes_a_role_by_the_page_and_the_api(owner_client, project, annotator):
    join(project, annotator)
    member = ProjectMember.objects.get(project=project, user=annotator)
    page = owner_client.post(
        f"/projects/{project.pk}/members/{member.pk}/role/", {"role": "reviewer"}
    )
    assert page.status_code == 302
    assert ProjectMember.objects.get(pk=member.pk).role == "reviewer"
    api = owner_client.patch(
        f"/api/projects/{project.pk}/members/annie",
        json.dumps({"role": "owner"}),
        content_type="application/json",
    )
    assert api.status_code == 200 and api.json()["role"] == "owner"
    assert ProjectMember.objects.get(pk=member.pk).role == "owner"
    bad = owner_client.patch(
        f"/api/projects/{project.pk}/members/annie",
        json.dumps({"role": "king"}),
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert ProjectMember.objects.get(pk=member.pk).role == "owner"


def test_the_page_says_what_someone_now_is_in_plain_words(owner_client, project, annotator):
    added = owner_client.post(
        f"/projects/{project.pk}/members/", {"who": "annie", "role": "annotator"}, follow=True
    )
    assert "annie is now an annotator." in added.content.decode()
    member = ProjectMember.objects.get(project=project, user=annotator)
    url = f"/projects/{project.pk}/members/{member.pk}/role/"
    changed = owner_client.post(url, {"role": "reviewer"}, follow=True)
    assert "annie is now a reviewer." in changed.content.decode()
    changed = owner_client.post(url, {"role": "owner"}, follow=True)
    assert "annie is now an owner." in changed.content.decode()


def test_only_the_projects_owners_change_roles(project, annotator, outsider, other_owner):
    for who in _refusers(project, annotator, outsider, other_owner):
        with pytest.raises((PermissionDenied, Http404)):
            actions.set_member_role(who, project.pk, "annie", "owner")
    assert ProjectMember.objects.get(project=project, user=annotator).role == "annotator"


def test_the_people_section_has_a_role_select_per_member(owner_client, project, annotator):
    join(project, annotator, "reviewer")
    html = owner_client.get(f"/projects/{project.pk}/").content.decode()
    select = re.search(r'<select name="role" aria-label="Role of annie".*?</select>', html, re.S)
    assert select and re.search(r'value="reviewer" selected', select.group(0))


# --- a new account with a one-time set-password link -------------------------------------


def test_a_new_account_gets_a_link_that_works_once(client, owner, project, settings):
    settings.EMAIL_HOST = ""  # no e-mail: the owner passes the link on
    invitation = actions.invite_person(
        owner, project.pk, "nora", "nora@example.com", "annotator", "http://testserver/"
    )
    nora = get_user_model().objects.get(username="nora")
    assert not nora.has_usable_password() and not invitation.emailed and not mail.outbox
    assert ProjectMember.objects.filter(project=project, user=nora, role="annotator").exists()

    form = client.get(_link_path(invitation.link), follow=True)
    assert "Set your password" in form.content.decode() and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302 and done["Location"] == f"/projects/{project.pk}/"
    assert client.get(f"/projects/{project.pk}/").status_code == 200  # signed in, in it
    nora.refresh_from_db()
    assert nora.check_password(NEW_PASSWORD)

    client.logout()
    again = client.get(_link_path(invitation.link), follow=True)
    assert not again.context["validlink"]
    assert "no longer works" in again.content.decode()


def test_the_link_expires(client, owner, project, settings):
    invitation = actions.invite_person(
        owner, project.pk, "nora", "nora@example.com", "annotator", "http://testserver/"
    )
    settings.PASSWORD_RESET_TIMEOUT = -1  # every link is past its time
    response = client.get(_link_path(invitation.link), follow=True)
    assert not response.context["validlink"]


def test_the_link_is_e_mailed_when_the_site_sends_e_mail(owner_client, project, settings):
    settings.EMAIL_HOST = "smtp.example.com"  # tests send through the locmem backend
    response = owner_client.post(
        f"/projects/{project.pk}/people/new/",
        {"username": "nora", "email": "nora@example.com", "role": "reviewer"},
        follow=True,
    )
    assert response.status_code == 200
    shown = re.search(r'value="(http[^"]+)" id="invite-link"', response.content.decode()).group(1)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nora@example.com"]
    assert shown in mail.outbox[0].body
    assert "also e-mailed to nora@example.com" in response.content.decode()


def test_the_api_creates_an_account_and_refuses_a_taken_name(owner_client, project, annotator):
    url = f"/api/projects/{project.pk}/people"
    body = {"username": "nora", "email": "nora@example.com", "role": "annotator"}
    made = owner_client.post(url, body, content_type="application/json")
    assert made.status_code == 201
    assert made.json()["set_password_link"].startswith("http://testserver/accounts/welcome/")
    taken = owner_client.post(
        url,
        {**body, "username": "ANNIE", "email": "a@example.com"},
        content_type="application/json",
    )
    bad = owner_client.post(
        url, {**body, "username": "x y", "email": "b@example.com"}, content_type="application/json"
    )
    assert taken.status_code == 422 and "taken" in taken.json()["detail"]
    assert bad.status_code == 422
    assert get_user_model().objects.filter(username__in=["x y"]).count() == 0


def test_making_accounts_takes_an_owner_who_is_a_manager(
    project, annotator, outsider, other_owner, django_user_model
):
    plain_owner = django_user_model.objects.create_user("polly")
    join(project, plain_owner, "owner")  # owns the project, no manager permission
    for who in (*_refusers(project, annotator, outsider, other_owner), plain_owner):
        with pytest.raises((PermissionDenied, Http404)):
            actions.invite_person(
                who, project.pk, "nora", "n@example.com", "annotator", "http://x/"
            )
    assert not get_user_model().objects.filter(username="nora").exists()


# --- deactivating -------------------------------------------------------------------------


def test_a_deactivated_account_cannot_sign_in_or_use_its_token(client, owner, project, annotator):
    join(project, annotator)
    _, token = ApiToken.issue(annotator, "script")
    assert client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    accounts.deactivate_account(owner, "annie")
    assert client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    signed_in = client.post("/accounts/login/", {"username": "annie", "password": "pw-annie-123"})
    assert signed_in.status_code == 200 and "did not match" in signed_in.content.decode()
    basic = client.get("/api/projects", HTTP_AUTHORIZATION="Basic YW5uaWU6cHctYW5uaWUtMTIz")
    assert basic.status_code == 401


def test_deactivating_from_the_page_and_the_api(owner_client, project, annotator, annotator2):
    join(project, annotator)
    member = ProjectMember.objects.get(project=project, user=annotator)
    page = owner_client.post(f"/projects/{project.pk}/members/{member.pk}/deactivate/")
    assert page.status_code == 302
    annotator.refresh_from_db()
    assert not annotator.is_active
    api = owner_client.post("/api/accounts/bert/deactivate")
    assert api.status_code == 200 and api.json() == {"username": "bert", "active": False}


def test_deactivating_is_for_managers_and_not_of_those_above_them(
    owner, project, annotator, outsider, other_owner, django_user_model
):
    join(project, annotator)
    for who in (annotator, outsider):
        with pytest.raises(PermissionDenied):
            accounts.deactivate_account(who, "otto")
    with pytest.raises(PermissionDenied):  # another manager: a superuser's call
        accounts.deactivate_account(owner, "otto")
    with pytest.raises(PermissionDenied):
        accounts.deactivate_account(owner, "owner")
    boss = django_user_model.objects.create_superuser("boss", password="pw-boss-123")
    with pytest.raises(PermissionDenied):
        accounts.deactivate_account(owner, "boss")
    assert get_user_model().objects.filter(is_active=False).count() == 0
    accounts.deactivate_account(boss, "otto")
    other_owner.refresh_from_db()
    assert not other_owner.is_active


def test_a_link_of_an_account_deactivated_since_does_not_work(client, owner, project):
    invitation = actions.invite_person(
        owner, project.pk, "nora", "nora@example.com", "annotator", "http://testserver/"
    )
    accounts.deactivate_account(owner, "nora")
    assert not client.get(_link_path(invitation.link), follow=True).context["validlink"]


# --- blind note and secrets ---------------------------------------------------------------


def test_a_blind_project_warns_that_annotators_see_its_name(owner_client, owner, mlx_config):
    blind = make_project(owner, mlx_config, n=1, blind=True)
    seen = make_project(owner, mlx_config, n=1, blind=False)
    note = "annotators see the project's name and description"
    assert note in owner_client.get(f"/projects/{blind.pk}/").content.decode()
    assert note not in owner_client.get(f"/projects/{seen.pk}/").content.decode()
    form = owner_client.get(f"/projects/{blind.pk}/edit/").content.decode()
    assert "They still see the project's name and description." in form


def test_no_password_or_link_reaches_the_logs(client, owner_client, project, caplog, settings):
    settings.DEBUG = True
    settings.EMAIL_HOST = "smtp.example.com"
    caplog.set_level(logging.DEBUG)
    made = owner_client.post(
        f"/api/projects/{project.pk}/people",
        {"username": "nora", "email": "nora@example.com"},
        content_type="application/json",
    )
    link = made.json()["set_password_link"]
    token = link.rstrip("/").rsplit("/", 1)[-1]
    form = client.get(_link_path(link), follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": "x"})
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    client.get(_link_path(link))  # used: refused
    client.get(_link_path(link).replace(token, token[:-2] + "zz"))
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args}" for r in caplog.records)
    assert caplog.records
    for secret in (link, token, NEW_PASSWORD):
        assert secret not in logged


def test_the_development_servers_request_lines_leave_the_link_out(owner, project):
    invitation = actions.invite_person(
        owner, project.pk, "nora", "nora@example.com", "annotator", "http://testserver/"
    )
    path = _link_path(invitation.link)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    server = logging.getLogger("django.server")
    server.addHandler(handler)
    try:
        server.info('"%s" %s %s', f"GET {path} HTTP/1.1", 302, 0)
    finally:
        server.removeHandler(handler)
    token = path.rstrip("/").rsplit("/", 1)[-1]
    assert seen == ['"GET /accounts/welcome/…/ HTTP/1.1" 302 0'] and token not in seen[0]


def test_creating_an_account_redirects_and_shows_its_link_once_outside_the_address(
    owner_client, project
):
    made = owner_client.post(
        f"/projects/{project.pk}/people/new/",
        {"username": "nora", "email": "nora@example.com", "role": "annotator"},
    )
    # A reload of the page after it posts nothing again: the POST answered with a redirect,
    # whose address holds no part of the link.
    assert made.status_code == 302
    assert made["Location"] == f"/projects/{project.pk}/#people"
    page = owner_client.get(made["Location"])
    shown = re.search(r'value="(http[^"]+)" id="invite-link"', page.content.decode()).group(1)
    assert _link_path(shown).startswith("/accounts/welcome/")
    assert "no-store" in page["Cache-Control"]
    # Shown once: the same page again no longer has it, and the link works as it did.
    again = owner_client.get(made["Location"]).content.decode()
    assert "invite-link" not in again and shown not in again
    assert get_user_model().objects.filter(username="nora").count() == 1


def test_a_refused_account_keeps_the_form_and_makes_nothing(owner_client, project, annotator):
    refused = owner_client.post(
        f"/projects/{project.pk}/people/new/",
        {"username": annotator.username, "email": "other@example.com", "role": "annotator"},
    )
    assert refused.status_code == 400
    assert "taken" in refused.content.decode()
    assert 'id="invite-link"' not in refused.content.decode()
