"""App configuration for notifications: follows triage's case events."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("通知")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import receivers
        from triage.signals import case_events_appended

        case_events_appended.connect(receivers.case_events_appended, dispatch_uid="notifications.case_events")
