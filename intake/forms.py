"""Forms for citizens and intake staff. They check shape; the service checks the rest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from intake.models import MatterType, Rating
from intake.selectors import area_choices
from intake.services import UploadInput
from intake.validators import check_year, normalize_id_card, normalize_mobile, normalize_phone, normalize_receipt

# Django's own messages read as a programmer's ("确保该变量包含不超过 500 字符", "不允许是用空字符串"):
# the people on these forms get plain ones, in the words of the service's own checks.
TEXT_MESSAGES = {
    "required": _("请填写此项。"),
    "max_length": _("不能超过 %(limit_value)d 个字（现在 %(show_value)d 个字）。"),
    "null_characters_not_allowed": _("含有无效字符。"),
}
CHOICE_MESSAGES = {
    "required": _("请选择一项。"),
    "invalid_choice": _("所选的项已不存在，请重新选择。"),
}


def _messages(base: dict[str, Any], required_message: Any) -> dict[str, Any]:
    return {**base, "required": required_message} if required_message is not None else dict(base)


class TextField(forms.CharField):
    """A text field whose errors a citizen or clerk understands."""

    def __init__(self, *args: Any, required_message: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, error_messages=_messages(TEXT_MESSAGES, required_message), **kwargs)


class ChoiceField(forms.ChoiceField):
    def __init__(self, *args: Any, required_message: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, error_messages=_messages(CHOICE_MESSAGES, required_message), **kwargs)


class DayField(forms.DateField):
    """A date within the years anyone can mean (intake dates, filters)."""

    default_validators = [check_year]


class MomentField(forms.DateTimeField):
    """A date and time within the years anyone can mean."""

    default_validators = [check_year]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


def uploads_from(files: list[UploadedFile]) -> list[UploadInput]:
    return [UploadInput(name=f.name or "", data=f.read()) for f in files]


class AreaChoiceField(ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=self._choices_with_blank, required=False, **kwargs)
        self.error_messages["invalid_choice"] = _("所选地点已不存在，请重新选择。")

    @staticmethod
    def _choices_with_blank() -> list[tuple[str, str]]:
        return [("", str(_("（不选择）"))), *area_choices()]


class ReportContentForm(forms.Form):
    """The fields every channel shares."""

    matter_type = ChoiceField(
        label=_("反映类型"),
        choices=[("", _("不确定")), *MatterType.choices],
        required=False,
        widget=forms.RadioSelect,
    )
    area = AreaChoiceField(label=_("事发地点（区县、乡镇街道、村社区）"))
    place_detail = TextField(label=_("具体地点"), max_length=500, required=False)
    title = TextField(label=_("标题"), max_length=500, required=False)
    body = TextField(
        label=_("反映内容"),
        required_message=_("请填写反映内容。"),
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("请写清楚什么时间、什么地点、谁、做了什么，以及您的诉求。10～20000字。"),
        max_length=20000,
    )
    occurred = TextField(label=_("发生时间"), max_length=500, required=False, help_text=_("例如：2026年10月，或“近三个月”"))
    accused = TextField(label=_("被反映人或单位"), max_length=500, required=False)
    attachments = MultipleFileField(
        label=_("附件"),
        help_text=_("可上传图片、PDF、Office 文档或录音，最多5个，每个不超过10MB。我们会删除文件中的拍摄地点、作者等信息。"),
    )

    # Checked here as well as in the service, so that one submission names every problem
    # (the service runs only once the form is valid: a wrong number would otherwise show
    # up only after the missing text was filled in).
    NORMALIZERS = {"mobile": normalize_mobile, "id_number": normalize_id_card, "caller_number": normalize_phone}

    def clean_body(self) -> str:
        body: str = self.cleaned_data.get("body", "")
        if len(body) < settings.REPORT_BODY_MIN_CHARS:
            raise ValidationError(_("请把事情经过写清楚，至少 %(n)d 个字。") % {"n": settings.REPORT_BODY_MIN_CHARS})
        return body

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        for name, normalize in self.NORMALIZERS.items():
            value = data.get(name)
            if name in self.fields and value and value.strip():
                try:
                    normalize(value)
                except ValidationError as exc:
                    self.add_error(name, exc)
        return data


class CitizenReportForm(ReportContentForm):
    form_token = forms.CharField(widget=forms.HiddenInput)
    name = TextField(label=_("姓名"), max_length=50, required=False)
    mobile = TextField(label=_("手机号码"), max_length=20, required=False)
    id_number = TextField(label=_("居民身份证号"), max_length=20, required=False)
    sms_opt_in = forms.BooleanField(label=_("有办理进展时发短信提醒我（短信不含反映内容和查询码）"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("sms_opt_in") and not (data.get("mobile") or "").strip() and "mobile" not in self.errors:
            self.add_error("sms_opt_in", _("选择短信提醒需要填写手机号码。"))
        return data


class StaffReportForm(ReportContentForm):
    """What a clerk or operator fills in: their own facts of the channel come first (see
    `groups`), and the help speaks to the clerk, not to the citizen."""

    CHANNEL_FIELDS: tuple[str, ...] = ()
    CHANNEL_LEGEND: Any = ""
    PERSON_FIELDS: tuple[str, ...] = ("name", "mobile", "id_number")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].help_text = _("记录什么时间、什么地点、谁、做了什么，以及反映人的诉求。10～20000字。")

    def groups(self) -> list[tuple[Any, list[forms.BoundField]]]:
        """(legend, fields) in the order a clerk works: the channel, the matter, the person."""
        channel = [n for n in self.CHANNEL_FIELDS if n in self.fields]
        person = [n for n in self.PERSON_FIELDS if n in self.fields]
        matter = [n for n in self.fields if n not in channel and n not in person]
        return [
            (legend, [self[n] for n in names])
            for legend, names in (
                (self.CHANNEL_LEGEND, channel), (_("反映的事项"), matter), (_("反映人（可不填）"), person),
            )
            if names
        ]


class LetterForm(StaffReportForm):
    CHANNEL_FIELDS = ("received_on", "postmarked_on")
    CHANNEL_LEGEND = _("来信信息")

    received_on = DayField(label=_("收信日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    postmarked_on = DayField(label=_("邮戳日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    name = TextField(label=_("来信人姓名"), max_length=50, required=False)
    mobile = TextField(label=_("联系电话（手机）"), max_length=20, required=False)
    id_number = TextField(label=_("居民身份证号"), max_length=20, required=False)
    attachments = MultipleFileField(label=_("信件扫描件"), help_text=_("请上传信件扫描件（图片或PDF）。"))

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        # Only here: the view turns the day into a time no later than now, so the service,
        # which compares the postmark with it, never sees a day received in the future.
        received = data.get("received_on")
        if received and received > timezone.localdate():
            self.add_error("received_on", _("收信日期不能晚于今天。"))
        return data


class VisitForm(StaffReportForm):
    CHANNEL_FIELDS = ("visitor_count", "representatives")
    CHANNEL_LEGEND = _("来访信息")

    visitor_count = forms.IntegerField(
        label=_("来访人数"), min_value=1, max_value=10000, initial=1,
        error_messages={"required": _("请填写来访人数。"), "invalid": _("请填写一个整数。"),
                        "min_value": _("来访人数至少为1。"), "max_value": _("来访人数不合理。")},
    )
    representatives = TextField(
        label=_("代表姓名"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("集体访请登记代表姓名，每行一人，不超过5人。"),
    )
    name = TextField(label=_("来访人姓名"), max_length=50, required=False)
    mobile = TextField(label=_("联系电话（手机）"), max_length=20, required=False)
    id_number = TextField(label=_("居民身份证号"), max_length=20, required=False)

    def representative_list(self) -> list[str]:
        text = self.cleaned_data.get("representatives") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class CallForm(StaffReportForm):
    CHANNEL_FIELDS = ("caller_number", "call_started_at", "call_duration_seconds")
    CHANNEL_LEGEND = _("来电信息")
    PERSON_FIELDS = ("name",)

    caller_number = TextField(label=_("来电号码"), max_length=20, required=False)
    call_started_at = MomentField(
        label=_("来电时间"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    call_duration_seconds = forms.IntegerField(
        label=_("通话时长（秒）"), min_value=0, max_value=86400, required=False,
        error_messages={"invalid": _("请填写一个整数。"), "min_value": _("通话时长不能为负数。"),
                        "max_value": _("通话时长不合理。")},
    )
    name = TextField(label=_("来电人姓名"), max_length=50, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        started = data.get("call_started_at")
        if started and started > timezone.now() + timedelta(minutes=5):
            self.add_error("call_started_at", _("来电时间不能晚于现在。"))
        return data


class ReceiptLookupForm(forms.Form):
    form_token = forms.CharField(widget=forms.HiddenInput)
    receipt = TextField(
        label=_("查询码"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
        help_text=_("网上提交后页面显示的、或登记来信来访来电时回执上的16位数字。"),
    )

    def clean_receipt(self) -> str:
        # A malformed code is refused here, before the look-up limits count it: it costs no
        # hashing, and typing it wrong must not use up everyone's look-ups.
        return normalize_receipt(self.cleaned_data["receipt"])


class ReporterMessageForm(forms.Form):
    access = forms.CharField(widget=forms.HiddenInput)
    body = TextField(label=_("留言或补充材料"), widget=forms.Textarea(attrs={"rows": 5}), max_length=5000, required=False)
    attachments = MultipleFileField(
        label=_("附件"),
        help_text=_("可上传图片、PDF、Office 文档或录音，最多5个，每个不超过10MB。我们会删除文件中的拍摄地点、作者等信息。"),
    )


class FeedbackForm(forms.Form):
    access = forms.CharField(widget=forms.HiddenInput)
    rating = ChoiceField(label=_("您对办理结果的评价"), choices=Rating.choices, widget=forms.RadioSelect,
                         required_message=_("请选择满意、基本满意或不满意。"))
    comment = TextField(label=_("意见（可选）"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, required=False)


class ReviewRequestForm(forms.Form):
    access = forms.CharField(widget=forms.HiddenInput)
    reason = TextField(label=_("申请复查的理由"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000,
                       required_message=_("请写明申请复查的理由。"))
