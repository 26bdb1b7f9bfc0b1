"""App configuration for intake."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = _("受理")
    default_auto_field = "django.db.models.BigAutoField"
