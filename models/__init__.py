"""Tortoise models and queries: the organisation, LINE accounts, templates, alerts,
deliveries, answers and the webhook inbox. Models hold data and queries; they never
talk to LINE. `models.sql` runs hand-written SQL for the hot paths."""

from models.admin_groups import AdminGroup, GroupBindCode, PendingCommand
from models.alert_templates import Template
from models.alerts import Alert, AlertRecipient
from models.answers import Answer, AnswerCount, AnswerRevision
from models.audit import AuditEntry
from models.board import BoardPost, BoardReply
from models.channel_tokens import ChannelToken
from models.console import ConsoleUser
from models.deliveries import AlertRound, Delivery, DeliveryBatch
from models.enums import (
    AnswerChannel,
    BatchStatus,
    ConsoleRole,
    DeliveryKind,
    DeliveryStatus,
    EmailMode,
    EmployeeRole,
    FamilyStatus,
    InboxStatus,
    Medium,
)
from models.family import FamilyAnswer, FamilyAnswerRevision, FamilyMember
from models.inbox import InboxEvent
from models.jma import JmaBulletin, JmaEvent, JmaEventState, JmaNotice, JmaRule, JmaRuleKind
from models.line_accounts import LineAccount
from models.organization import Department, Employee, EmployeeEmail
from models.rate_buckets import RateBucket
from models.registration import LinkNonce, LinkToken, RegistrationCode
from models.rich_menus import RichMenu
from models.throttle import Throttle
from models.usage import OrganizationSettings, UsageDay

__all__ = [
    "AdminGroup",
    "Alert",
    "AlertRecipient",
    "AlertRound",
    "Answer",
    "AnswerChannel",
    "AnswerCount",
    "AnswerRevision",
    "AuditEntry",
    "BatchStatus",
    "BoardPost",
    "BoardReply",
    "ChannelToken",
    "ConsoleRole",
    "ConsoleUser",
    "Delivery",
    "DeliveryBatch",
    "DeliveryKind",
    "DeliveryStatus",
    "Department",
    "EmailMode",
    "Employee",
    "EmployeeEmail",
    "EmployeeRole",
    "FamilyAnswer",
    "FamilyAnswerRevision",
    "FamilyMember",
    "FamilyStatus",
    "GroupBindCode",
    "InboxEvent",
    "InboxStatus",
    "JmaBulletin",
    "JmaEvent",
    "JmaEventState",
    "JmaNotice",
    "JmaRule",
    "JmaRuleKind",
    "LineAccount",
    "LinkNonce",
    "LinkToken",
    "Medium",
    "OrganizationSettings",
    "PendingCommand",
    "RateBucket",
    "RegistrationCode",
    "RichMenu",
    "Template",
    "Throttle",
    "UsageDay",
]
