"""Console users (supervisors, senders, maintainers) and their department scopes."""

from tortoise import fields
from tortoise.models import Model

from models.enums import ConsoleRole
from models.organization import Department


class ConsoleUser(Model):
    """Someone who signs in to the web console. A supervisor sees only `departments` (and
    everything nested below them), while senders and maintainers see the whole organisation."""

    id = fields.IntField(primary_key=True)
    login = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=100)
    password_hash = fields.CharField(max_length=200)
    role = fields.CharEnumField(ConsoleRole, max_length=16)
    active = fields.BooleanField(default=True)
    departments: fields.ManyToManyRelation[Department] = fields.ManyToManyField(
        "models.Department", related_name="console_users", through="console_user_department"
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)
    # Raised by sign-out, a password change, disabling or a role change: older sessions end.
    session_generation = fields.IntField(default=0)
    # The console's language for this user (domain.i18n.LANGUAGES), chosen on their account page.
    language = fields.CharField(max_length=8, default="ja")

    class Meta:
        table = "console_user"

    def __str__(self) -> str:
        return self.login
