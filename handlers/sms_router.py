"""The SMS port's one implementation: a notification composed from registered templates goes out through the
template provider (Aliyun), free text through Twilio; a call (channel "voice", 叫应) through Aliyun's IVR call with
the registered voice templates, or Twilio Voice reading the text. Which a notification is was decided by the paging domain
(contingency.roster.templates_for: the deployment's ERS_SMS_PROVIDER, or the person's own `sms_provider`)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from contingency.ids import extension_of
from contingency.sms_templates import TemplateSet
from handlers.sms_errors import PermanentSmsError, SentMessage
from handlers.sms_gateway import TwilioSms
from schemas.notifications import Notification

if TYPE_CHECKING:  # the Aliyun SDKs load only where an Aliyun account is configured (streams.bootstrap)
    from handlers.aliyun_sms import AliyunSms
    from handlers.aliyun_voice import AliyunVoice

# Messages a person answers about one incident: they carry its extension, so a bare "1" finds it.
REPLYABLE = frozenset({"page", "page_report", "notify", "acked", "ack_confirmation"})


class SmsRouter:
    def __init__(self, twilio: TwilioSms | None = None, aliyun: AliyunSms | None = None,
                 templates: TemplateSet | None = None, voice: AliyunVoice | None = None) -> None:
        if aliyun is not None and templates is None:
            raise ValueError("Aliyun sends registered templates only: the template file is required")
        self._twilio, self._aliyun, self._templates, self._voice = twilio, aliyun, templates, voice

    def send(self, notification: Notification, status_callback_url: str | None = None) -> SentMessage:
        if notification.channel == "voice":
            return self._call(notification)
        if notification.template is None:
            return self._twilio_for(notification).send(notification.to, notification.body, status_callback_url)
        aliyun, code = self._aliyun_for(notification)
        return aliyun.send(notification.to, code, notification.params, out_id=out_id(notification),
                           extend_code=extension(notification))

    def find_sent(self, notification: Notification, since: datetime,
                  taken: Callable[[str], bool] = lambda sid: False) -> SentMessage | None:
        """An earlier send of `notification`; `taken` says a provider id already belongs to another notification
        (Twilio's messages are found by number and text, which two notifications may share)."""
        if notification.channel == "voice":
            return None  # neither provider lists calls by our id: a crash after placing one may place it again
        if notification.template is None:
            return self._twilio_for(notification).find_sent(notification.to, notification.body, since, taken=taken)
        aliyun, _ = self._aliyun_for(notification)
        return aliyun.find_sent(notification.to, out_id(notification), since)

    def _call(self, notification: Notification) -> SentMessage:
        if notification.template is None:
            return self._twilio_for(notification).call(notification.to, notification.body, notification.language)
        if self._voice is None or self._templates is None or self._templates.voice is None:
            raise PermanentSmsError(None, f"call {notification.notification_id} is an Aliyun voice template, and no "
                                          "Aliyun voice account is configured (ERS_ALIYUN_* and voice: templates)")
        voice = self._templates.voice.templates
        code = notification.params.get("code", "")
        return self._voice.call(notification.to, voice[notification.template].code, notification.params,
                                voice["call_acked"].code, {"code": code}, out_id=notification.notification_id.hex)

    def _twilio_for(self, notification: Notification) -> TwilioSms:
        if self._twilio is None:
            raise PermanentSmsError(None, f"notification {notification.notification_id} is free text for Twilio, "
                                          "and no Twilio account is configured (ERS_TWILIO_*)")
        return self._twilio

    def _aliyun_for(self, notification: Notification) -> tuple[AliyunSms, str]:
        if self._aliyun is None or self._templates is None:
            raise PermanentSmsError(None, f"notification {notification.notification_id} is an Aliyun template, and "
                                          "no Aliyun account is configured (ERS_ALIYUN_*)")
        template = self._templates.templates.get(notification.template)
        if template is None:
            raise PermanentSmsError(None, f"no template for {notification.template!r} in the template file")
        return self._aliyun, template.code


def out_id(notification: Notification) -> str:
    """Aliyun's OutId: comes back in delivery reports and in QuerySendDetails."""
    return notification.notification_id.hex


def extension(notification: Notification) -> str | None:
    if notification.template not in REPLYABLE:
        return None
    return extension_of(notification.params.get("code", ""))
