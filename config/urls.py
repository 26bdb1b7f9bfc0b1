"""URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz
from intake import api, staff_views, views
from notifications import views as notification_views
from triage import views as triage_views

citizen = [
    path("", views.home, name="home"),
    path("report/", views.submit, name="submit"),
    path("status/", views.status_lookup, name="status"),
    path("status/message/", views.status_message, name="status-message"),
    path("status/feedback/", views.status_feedback, name="status-feedback"),
    path("status/review/", views.status_review, name="status-review"),
    path("status/attachment/", views.status_attachment, name="status-attachment"),
]

staff = [
    path("staff/login/", auth_views.LoginView.as_view(template_name="intake/staff/login.html"), name="login"),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/", staff_views.staff_home, name="staff-home"),
    path("staff/intake/letter/", staff_views.log_letter, name="log-letter"),
    path("staff/intake/visit/", staff_views.log_visit, name="log-visit"),
    path("staff/intake/call/", staff_views.log_call, name="log-call"),
    path("staff/triage/", triage_views.queue, name="triage-queue"),
    path("staff/triage/accept/", triage_views.bulk_accept, name="triage-bulk-accept"),
    path("staff/triage/<int:case_id>/", triage_views.case_detail, name="triage-case"),
    path("staff/triage/<int:case_id>/action/", triage_views.case_action, name="triage-action"),
    path("staff/triage/<int:case_id>/split/", triage_views.case_split, name="triage-split"),
    path("staff/notifications/", notification_views.center, name="notifications"),
    path("staff/notifications/read/", notification_views.mark_read, name="notifications-read"),
    path("staff/notifications/settings/", notification_views.preferences, name="notification-preferences"),
]

api_v1 = [
    path("reports/", api.AnonymousReportView.as_view(), name="api-report"),
    path("status/", api.StatusView.as_view(), name="api-status"),
    path("messages/", api.ReporterMessageView.as_view(), name="api-message"),
    path("staff/reports/", api.StaffReportView.as_view(), name="api-staff-report"),
]

urlpatterns = [
    *citizen,
    *staff,
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Switching language changes nothing but a cookie; exempt so citizen pages, which
    # send no Referer and hold no CSRF cookie, can offer it without JavaScript.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
