"""The admin's user page: the department (StaffProfile) is set next to the roles."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from tests.auth import otp_login
from triage.models import Department

pytestmark = pytest.mark.django_db


def test_the_user_page_sets_role_and_department(demo_org: None) -> None:
    admin = get_user_model().objects.create_superuser("admin1", password="admin-password-123")
    user = get_user_model().objects.create_user("new-handler", password="x-password-123")
    client = otp_login(Client(), admin)
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert page.status_code == 200 and 'name="staff_profile-0-department"' in page.content.decode()
    form = page.context["adminform"].form
    assert "承办人" in dict((str(k), v) for k, v in form.fields["groups"].choices).values()  # role labels, not codes
    data = {k: v for k, v in form.initial.items() if k in form.fields and v is not None and k != "password"}
    data |= {"groups": [Group.objects.get(name="handler").pk], "date_joined_0": "2026-11-24", "date_joined_1": "09:00:00",
             "staff_profile-TOTAL_FORMS": "1", "staff_profile-INITIAL_FORMS": "0",
             "staff_profile-0-department": Department.objects.get(code="379901-jt").pk, "_save": "1"}
    data.pop("last_login", None)
    data.pop("user_permissions", None)
    data.pop("date_joined", None)
    response = client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.staff_profile.department.code == "379901-jt"
    listing = client.get("/admin/auth/user/").content.decode()
    assert "东城区交通运输局" in listing and "承办人" in listing
