"""URL configuration."""

from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import bad_request
from config.health import healthz
from intake import api, auth_views, staff_views, views
from notifications import views as notification_views
from triage import audit_views, console_views, dashboard_views
from triage import views as triage_views

citizen = [
    path("", views.home, name="home"),
    path("report/", views.submit, name="submit"),
    path("status/", views.status_lookup, name="status"),
    path("status/message/", views.status_message, name="status-message"),
    path("status/feedback/", views.status_feedback, name="status-feedback"),
    path("status/review/", views.status_review, name="status-review"),
    path("status/attachment/", views.status_attachment, name="status-attachment"),
    path("public/", dashboard_views.public_page, name="public"),
    path("public/cases/<int:publication_id>/", dashboard_views.public_case, name="public-case"),
]

staff = [
    path("staff/login/", auth_views.StaffLoginView.as_view(), name="login"),
    path("staff/logout/", LogoutView.as_view(), name="logout"),
    path("staff/otp/", auth_views.otp_verify, name="otp-verify"),
    path("staff/otp/setup/", auth_views.otp_setup, name="otp-setup"),
    path("staff/", staff_views.staff_home, name="staff-home"),
    path("staff/intake/letter/", staff_views.log_letter, name="log-letter"),
    path("staff/intake/visit/", staff_views.log_visit, name="log-visit"),
    path("staff/intake/call/", staff_views.log_call, name="log-call"),
    path("staff/triage/", triage_views.queue, name="triage-queue"),
    path("staff/triage/accept/", triage_views.bulk_accept, name="triage-bulk-accept"),
    path("staff/triage/<int:case_id>/", triage_views.case_detail, name="triage-case"),
    path("staff/triage/<int:case_id>/action/", triage_views.case_action, name="triage-action"),
    path("staff/triage/<int:case_id>/split/", triage_views.case_split, name="triage-split"),
    path("staff/cases/", console_views.queue, name="console-queue"),
    path("staff/cases/<int:case_id>/", console_views.case_detail, name="console-case"),
    path("staff/cases/<int:case_id>/act/", console_views.case_act, name="console-act"),
    path("staff/cases/<int:case_id>/note/", console_views.case_note, name="console-note"),
    path("staff/cases/<int:case_id>/content/", console_views.case_content, name="console-content"),
    path("staff/cases/<int:case_id>/identity/", console_views.case_identity, name="console-identity"),
    path("staff/cases/<int:case_id>/attachment/", console_views.case_attachment, name="console-attachment"),
    path("staff/notifications/", notification_views.center, name="notifications"),
    path("staff/notifications/read/", notification_views.mark_read, name="notifications-read"),
    path("staff/notifications/<int:notification_id>/open/", notification_views.open_case, name="notifications-open"),
    path("staff/notifications/settings/", notification_views.preferences, name="notification-preferences"),
    path("staff/cases/<int:case_id>/publish/", dashboard_views.case_publish_page, name="case-publish"),
    path("staff/publications/<int:publication_id>/withdraw/", dashboard_views.publication_withdraw,
         name="publication-withdraw"),
    path("staff/dashboard/", dashboard_views.dashboard_page, name="dashboard"),
    path("staff/dashboard/export/<slug:table>.<slug:fmt>", dashboard_views.dashboard_export, name="dashboard-export"),
    path("staff/dashboard/report/", dashboard_views.monthly_report, name="dashboard-report"),
    path("staff/dashboard/alerts/", dashboard_views.alerts_page, name="dashboard-alerts"),
    path("staff/dashboard/alerts/<int:alert_id>/ack/", dashboard_views.alert_acknowledge, name="dashboard-alert-ack"),
    path("staff/audit/", audit_views.audit_page, name="audit"),
    path("staff/audit/verify/", audit_views.audit_verify_page, name="audit-verify"),
    path("staff/audit/changes/", audit_views.audit_changes_page, name="audit-changes"),
    path("staff/audit/access.<slug:fmt>", audit_views.audit_access_export, name="audit-access-export"),
    path("staff/audit/changes.<slug:fmt>", audit_views.audit_changes_export, name="audit-changes-export"),
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
    # The admin signs in through the staff login (throttled, second factor), not its own form.
    path("admin/login/", RedirectView.as_view(url="/staff/login/", query_string=True)),
    path("admin/", admin.site.urls),
]

handler400 = bad_request
